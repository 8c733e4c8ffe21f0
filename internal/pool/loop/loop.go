// Package loop attaches regular files to loop block devices, the way a
// file-backed pool gets a device to hold its filesystem. Devices are
// attached with autoclear: the kernel frees one as soon as nothing (no
// mount, no open file) uses it any more, so unmounting a pool's
// filesystem is all it takes to give its loop device back.
package loop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Attach attaches file to a free loop device with autoclear and returns
// the device, open: autoclear frees the device when its last user goes,
// so the caller keeps it open until something else (a mount) uses it.
// If file is already attached, that device is returned.
func Attach(file string) (*os.File, error) {
	file, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	if dev, ok := Find(file); ok {
		if d, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
			if _, still := Find(file); still {
				return d, nil
			}
			d.Close()
		}
	}
	f, err := os.OpenFile(file, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", file, err)
	}
	defer f.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", file, err)
	}
	defer ctl.Close()
	// Another process may take the free device between GET_FREE and
	// CONFIGURE (EBUSY): ask again.
	for range 64 {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("attach %s: get free loop device: %w", file, err)
		}
		dev := "/dev/loop" + strconv.Itoa(n)
		d, err := openDev(dev)
		if err != nil {
			return nil, fmt.Errorf("attach %s: %w", file, err)
		}
		err = configure(d, f, file)
		if err != nil {
			d.Close()
		}
		if errors.Is(err, unix.EBUSY) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("attach %s to %s: %w", file, dev, err)
		}
		return d, nil
	}
	return nil, fmt.Errorf("attach %s: no loop device stayed free", file)
}

// blockSize is the devices' logical block size: a page, which every
// filesystem a pool lives on can take direct I/O in.
const blockSize = 4096

// configure attaches f to the free device d with direct I/O: the
// device's writes go to the file's blocks without a second copy in the
// file's page cache (the filesystem above has its own), so a sync of
// the pool no longer waits for that copy to be written back too.
// Where the file's filesystem cannot take direct I/O, the device is
// attached without it.
func configure(d, f *os.File, file string) error {
	cfg := &unix.LoopConfig{Fd: uint32(f.Fd()), Size: blockSize}
	cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR | unix.LO_FLAGS_DIRECT_IO
	copy(cfg.Info.File_name[:], file)
	err := unix.IoctlLoopConfigure(int(d.Fd()), cfg)
	if errors.Is(err, unix.EINVAL) {
		cfg.Size, cfg.Info.Flags = 0, unix.LO_FLAGS_AUTOCLEAR
		err = unix.IoctlLoopConfigure(int(d.Fd()), cfg)
	}
	return err
}

// DirectIO tells whether dev does its I/O to its file directly.
func DirectIO(dev string) bool {
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "loop", "dio"))
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// openDev opens a loop device node, waiting briefly for udev-less hosts
// where the node appears a moment after LOOP_CTL_GET_FREE made it.
func openDev(dev string) (*os.File, error) {
	for i := 0; ; i++ {
		d, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
		if err == nil || !errors.Is(err, os.ErrNotExist) || i == 50 {
			return d, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Find returns the loop device file is attached to, if any.
func Find(file string) (string, bool) {
	file, err := filepath.Abs(file)
	if err != nil {
		return "", false
	}
	var want unix.Stat_t
	if unix.Stat(file, &want) != nil {
		return "", false
	}
	ents, _ := os.ReadDir("/sys/block")
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "loop") {
			continue
		}
		dev := "/dev/" + e.Name()
		d, err := os.Open(dev)
		if err != nil {
			continue
		}
		info, err := unix.IoctlLoopGetStatus64(int(d.Fd()))
		d.Close()
		if err != nil {
			continue // not attached
		}
		if info.Device == want.Dev && info.Inode == want.Ino {
			return dev, true
		}
	}
	return "", false
}

// BackingFile is the file a loop device is attached to ("" if dev is
// not a loop device or is free).
func BackingFile(dev string) string {
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "loop", "backing_file"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Detach detaches dev now, or as soon as it is no longer in use (it
// keeps autoclear). Detaching a free device is not an error.
func Detach(dev string) error {
	d, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("detach %s: %w", dev, err)
	}
	defer d.Close()
	err = unix.IoctlSetInt(int(d.Fd()), unix.LOOP_CLR_FD, 0)
	if err == nil || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.EBUSY) {
		return nil // freed, already free, or freed by autoclear once unused
	}
	return fmt.Errorf("detach %s: %w", dev, err)
}
