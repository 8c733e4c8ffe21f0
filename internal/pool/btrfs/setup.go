package btrfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"hull/internal/pool/loop"
	"hull/internal/pool/mounts"
	"hull/internal/pool/storedir"
)

// Options say where a pool's filesystem lives and where to mount it.
type Options struct {
	Store     string // where the filesystem's top level is mounted
	MountRoot string // datasets are bind-mounted at MountRoot/<name>
	Pool      string // "zones"
	// Device is a block device holding (or to receive) the filesystem.
	// Without one, File is a sparse file of Size bytes, made on first
	// use and attached to a loop device: a pool for trying hull out.
	Device string
	File   string
	Size   int64
}

// superblock magic, at 64 KiB + 64.
const (
	sbOffset    = 64<<10 + 64
	sbMagic     = "_BHRfS_M"
	probeLength = 1 << 20
)

// Open mounts the pool's filesystem at Store if it is not mounted yet
// (attaching the file to a loop device, and making the filesystem when
// the device or file is new), then opens the pool on it (New).
func Open(o Options) (*Driver, error) {
	if err := os.MkdirAll(o.Store, 0o700); err != nil {
		return nil, fmt.Errorf("open btrfs pool: %w", err)
	}
	store, err := storedir.Resolve(o.Store)
	if err != nil {
		return nil, fmt.Errorf("open btrfs pool: %w", err)
	}
	table, err := mounts.Read()
	if err != nil {
		return nil, err
	}
	top := mounts.TopAt(table, store)
	if top == nil || top.FSType != "btrfs" {
		if err := mountFS(o, store); err != nil {
			return nil, fmt.Errorf("open btrfs pool: %w", err)
		}
		if table, err = mounts.Read(); err != nil {
			return nil, err
		}
		top = mounts.TopAt(table, store)
	}
	d, err := New(store, o.MountRoot, o.Pool)
	if err != nil {
		return nil, err
	}
	if top != nil {
		d.device = top.Source
		d.backingFile = loop.BackingFile(top.Source)
	}
	return d, nil
}

func mountFS(o Options, store string) error {
	dev := o.Device
	owned := false // a file we made ourselves may be formatted at will
	if dev == "" {
		if o.File == "" {
			return errors.New("no device and no file for the pool")
		}
		made, err := makeSparse(o.File, o.Size)
		if err != nil {
			return err
		}
		owned = made
		// The loop device stays open (so autoclear cannot free it) until
		// the filesystem is mounted on it.
		hold, err := loop.Attach(o.File)
		if err != nil {
			return err
		}
		defer hold.Close()
		dev = hold.Name()
		if !owned {
			owned = isOurFile(o.File)
		}
	}
	isBtrfs, empty, err := probe(dev)
	if err != nil {
		return err
	}
	if !isBtrfs {
		if !empty && !owned {
			return fmt.Errorf("%s holds data that is not a btrfs filesystem; hull does not format it (wipe it first if it may go)", dev)
		}
		if err := mkfs(dev, "hull-"+o.Pool, owned); err != nil {
			return err
		}
	}
	if err := unix.Mount(dev, store, "btrfs", unix.MS_NOATIME, "subvolid=5"); err != nil {
		return fmt.Errorf("mount %s at %s: %w", dev, store, err)
	}
	return nil
}

// makeSparse creates file with size bytes (none allocated) unless it
// exists; it reports whether it made it.
func makeSparse(file string, size int64) (bool, error) {
	if _, err := os.Stat(file); err == nil {
		return false, nil
	}
	if size <= 0 {
		return false, fmt.Errorf("pool file %s: no size", file)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return false, err
	}
	tmp := file + ".new"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return false, err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Marks it as hull's own, formattable if found unformatted.
		err = unix.Setxattr(tmp, "user.hull.pool", []byte("1"), 0)
		if errors.Is(err, unix.ENOTSUP) {
			err = nil
		}
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("make pool file %s: %w", file, err)
	}
	return true, nil
}

func isOurFile(file string) bool {
	buf := make([]byte, 4)
	_, err := unix.Getxattr(file, "user.hull.pool", buf)
	return err == nil
}

// probe reads the start of dev: is it btrfs, and is it all zeros (no
// filesystem or partition table of any kind)?
func probe(dev string) (isBtrfs, empty bool, err error) {
	f, err := os.Open(dev)
	if err != nil {
		return false, false, err
	}
	defer f.Close()
	buf := make([]byte, probeLength)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return false, false, fmt.Errorf("read %s: %w", dev, err)
	}
	buf = buf[:n]
	if n >= sbOffset+len(sbMagic) && string(buf[sbOffset:sbOffset+len(sbMagic)]) == sbMagic {
		return true, false, nil
	}
	return false, bytes.Count(buf, []byte{0}) == n, nil
}

// mkfs makes a btrfs filesystem on dev (mkfs.btrfs is a one-off setup
// tool; everything after it is ioctls). Without force, mkfs.btrfs itself
// also refuses a device that holds a filesystem.
func mkfs(dev, label string, force bool) error {
	args := []string{"-q", "-L", label}
	if force {
		args = append(args, "-f")
	}
	out, err := exec.Command("mkfs.btrfs", append(args, dev)...).CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("mkfs.btrfs not found (install btrfs-progs): %w", err)
	}
	if err != nil {
		return fmt.Errorf("mkfs.btrfs %s: %v: %s", dev, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Export unmounts every dataset and the pool's filesystem; a file-backed
// pool's loop device is freed with the last mount. Mounts still in use
// are detached lazily (the device is freed when their users let go).
// The Driver must not be used afterwards; Open brings the pool back.
func (d *Driver) Export() error {
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	err = unmountDatasets(d.mountRoot)
	unlock() // the lock file is on the filesystem going away
	return errors.Join(err, mounts.Unmount(d.store, true))
}

// Export exports the pool mounted at store (datasets under mountRoot)
// without opening it; a store that is not a mounted btrfs is left alone.
func Export(store, mountRoot string) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(store, &sfs); err != nil || sfs.Type != unix.BTRFS_SUPER_MAGIC || !isSubvolume(store) {
		return nil
	}
	store, err := storedir.Resolve(store)
	if err != nil {
		return fmt.Errorf("open btrfs pool: %w", err)
	}
	mroot, err := storedir.Resolve(mountRoot)
	if err != nil {
		return fmt.Errorf("open btrfs pool: %w", err)
	}
	return errors.Join(unmountDatasets(mroot), mounts.Unmount(store, true))
}

func unmountDatasets(mountRoot string) error {
	table, err := mounts.Read()
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range table {
		if filepath.Dir(m.Target) == mountRoot && m.FSType == "btrfs" && strings.HasPrefix(m.Root, "/datasets/") {
			errs = append(errs, mounts.Unmount(m.Target, true))
		}
	}
	return errors.Join(errs...)
}
