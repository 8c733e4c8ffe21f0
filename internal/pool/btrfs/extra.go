package btrfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"hull/internal/pool"
)

// Compression maps a SmartOS zfs_root_compression value to the btrfs
// compression property: "" for off. lz4, lzjb and zle (fast, light)
// become lzo, btrfs's fast one; gzip and gzip-N become zlib; on and zstd
// become zstd.
func Compression(zfs string) (string, error) {
	switch {
	case zfs == "" || zfs == "off":
		return "", nil
	case zfs == "lz4" || zfs == "lzjb" || zfs == "zle":
		return "lzo", nil
	case zfs == "gzip" || strings.HasPrefix(zfs, "gzip-") && len(zfs) == 6 && zfs[5] >= '1' && zfs[5] <= '9':
		return "zlib", nil
	case zfs == "on" || zfs == "zstd":
		return "zstd", nil
	}
	return "", fmt.Errorf("unknown compression %q (off, on, lz4, lzjb, zle, gzip, gzip-1..9, zstd)", zfs)
}

// SetCompression sets the compression of data written from now on to the
// dataset (SmartOS's zfs_root_compression value, see Compression).
func (d *Driver) SetCompression(full, zfs string) error {
	alg, err := Compression(zfs)
	if err != nil {
		return fmt.Errorf("set compression on %s: %w", full, err)
	}
	name, snap, err := d.parse(full, "")
	if err != nil {
		return fmt.Errorf("set compression: %w", err)
	}
	if snap != "" {
		return fmt.Errorf("set compression on %s: %w", full, pool.ErrSnapshotNotRO)
	}
	p := d.dataPath(name)
	if !exists(p) {
		return fmt.Errorf("set compression: %w", pool.NotFound(full))
	}
	if alg == "" {
		err = unix.Lremovexattr(p, xattrCompress)
		if errors.Is(err, unix.ENODATA) {
			err = nil
		}
	} else {
		err = unix.Lsetxattr(p, xattrCompress, []byte(alg), 0)
	}
	if err != nil {
		return fmt.Errorf("set compression on %s: %w", full, err)
	}
	return nil
}

// VolumeFile is the raw disk file inside a volume dataset.
const VolumeFile = "disk.raw"

// CreateVolume makes zones/<uuid>-disk<N> style volumes: a dataset
// holding one raw file of size bytes, a reflink copy (FICLONE: blocks
// shared, nothing copied) of from when from is not "" (grown to size if
// smaller). It returns the raw file's path. The dataset is published
// whole or not at all.
func (d *Driver) CreateVolume(full string, size int64, from string) (string, error) {
	fill := func(data string) error {
		dst, err := os.OpenFile(filepath.Join(data, VolumeFile), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		defer dst.Close()
		if from != "" {
			src, err := os.Open(from)
			if err != nil {
				return err
			}
			defer src.Close()
			if err := unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())); err != nil {
				return fmt.Errorf("reflink %s: %w", from, err)
			}
		}
		st, err := dst.Stat()
		if err != nil {
			return err
		}
		if st.Size() < size {
			return dst.Truncate(size)
		}
		return nil
	}
	ds, err := d.make(full, "", fill)
	if err != nil {
		return "", fmt.Errorf("volume: %w", err)
	}
	return filepath.Join(ds.Mountpoint, VolumeFile), nil
}

// Status describes the pool as a whole.
type Status struct {
	Name        string
	Store       string
	Device      string // block device holding the filesystem
	BackingFile string // the file behind a loop device, "" for a real device
	Size        int64  // bytes
	Alloc       int64
	Free        int64
	Datasets    int
	Snapshots   int
	QuotaOK     bool // qgroup accounting on and consistent
}

// Status reports the pool's size and use.
func (d *Driver) Status() (*Status, error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(d.store, &sfs); err != nil {
		return nil, fmt.Errorf("pool status: %w", err)
	}
	s := &Status{
		Name: d.pool, Store: d.store, Device: d.device, BackingFile: d.backingFile,
		Size:  int64(sfs.Blocks) * sfs.Bsize,
		Free:  int64(sfs.Bavail) * sfs.Bsize,
		Alloc: int64(sfs.Blocks-sfs.Bfree) * sfs.Bsize,
	}
	all, err := d.scan()
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		s.Datasets++
		s.Snapshots += len(e.Snaps)
	}
	err = d.withStore(func(fd int) error {
		_, ok, err := qgroups(fd)
		s.QuotaOK = ok
		return err
	})
	return s, err
}

// ScrubResult is what a scrub of the pool found.
type ScrubResult struct {
	Started, Finished time.Time
	DataBytes         int64 // data and metadata read and verified
	TreeBytes         int64
	CsumErrors        int64
	ReadErrors        int64
	VerifyErrors      int64
	Corrected         int64
	Uncorrectable     int64
}

// Errors is the number of problems found.
func (r *ScrubResult) Errors() int64 {
	return r.CsumErrors + r.ReadErrors + r.VerifyErrors + r.Uncorrectable
}

// Scrub reads every block of every device of the pool and verifies its
// checksum, repairing from a good copy where one exists (metadata is
// kept twice); it returns when done.
func (d *Driver) Scrub() (*ScrubResult, error) {
	r := &ScrubResult{Started: time.Now()}
	err := d.withStore(func(fd int) error {
		var fi fsInfoArgs
		if err := ioctl(fd, iocFSInfo, unsafe.Pointer(&fi)); err != nil {
			return fmt.Errorf("fs info: %w", err)
		}
		for id := uint64(1); id <= fi.MaxID; id++ {
			a := scrubArgs{DevID: id, End: ^uint64(0)}
			err := ioctl(fd, iocScrub, unsafe.Pointer(&a))
			if errors.Is(err, unix.ENODEV) {
				continue // no device with this id
			}
			if err != nil {
				return fmt.Errorf("scrub device %d: %w", id, err)
			}
			p := a.Progress
			r.DataBytes += int64(p.DataBytesScrubbed)
			r.TreeBytes += int64(p.TreeBytesScrubbed)
			r.CsumErrors += int64(p.CsumErrors)
			r.ReadErrors += int64(p.ReadErrors)
			r.VerifyErrors += int64(p.VerifyErrors)
			r.Corrected += int64(p.Corrected)
			r.Uncorrectable += int64(p.Uncorrectable)
		}
		return nil
	})
	r.Finished = time.Now()
	if err != nil {
		return nil, fmt.Errorf("scrub %s: %w", d.pool, err)
	}
	return r, nil
}
