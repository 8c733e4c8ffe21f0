package btrfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Extended attributes on a dataset's directory (datasets/<name>), outside
// any subvolume a zone sees. They are metadata, so each one lands in the
// same btrfs transaction as the rename that publishes the dataset.
const (
	xattrOrigin    = "trusted.hull.origin"    // uuid of the snapshot a clone came from
	xattrCreated   = "trusted.hull.created"   // unix seconds
	xattrUnmounted = "trusted.hull.unmounted" // present: keep unmounted
	xattrCompress  = "btrfs.compression"      // on the data subvolume's root
)

func getXattr(path, name string) (string, bool) {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(path, name, buf)
	if err != nil {
		return "", false
	}
	return string(buf[:n]), true
}

func openDir(p string) (int, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return fd, nil
}

// infoAt returns the subvolume info of the subvolume at p.
func infoAt(p string) (*subvolInfo, error) {
	fd, err := openDir(p)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	si, err := getSubvolInfo(fd)
	if err != nil {
		return nil, fmt.Errorf("subvolume info of %s: %w", p, err)
	}
	return si, nil
}

// isSubvolume tells whether p is the root of a subvolume (inode 256).
func isSubvolume(p string) bool {
	var st unix.Stat_t
	return unix.Lstat(p, &st) == nil && st.Ino == firstFreeObjectID && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// destroySubvolume deletes the subvolume at p, and first any subvolume
// nested in it (a zone may have made some: they hold it non-empty).
func destroySubvolume(p string) error {
	dfd, err := openDir(filepath.Dir(p))
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	// A read-only snapshot refuses the removal of nested subvolumes'
	// directory entries; clear the flag first (it goes anyway).
	err = snapDestroy(dfd, filepath.Base(p))
	if errors.Is(err, unix.ENOTEMPTY) {
		if fd, err := openDir(p); err == nil {
			if f, err := subvolFlags(fd); err == nil && f&subvolRdonly != 0 {
				setSubvolFlags(fd, f&^subvolRdonly)
			}
			unix.Close(fd)
		}
		for _, n := range nestedSubvolumes(p) {
			if err := destroySubvolume(n); err != nil {
				return err
			}
		}
		err = snapDestroy(dfd, filepath.Base(p))
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete subvolume %s: %w", p, err)
	}
	return nil
}

// nestedSubvolumes lists the subvolume roots below p (not below those).
func nestedSubvolumes(p string) []string {
	var out []string
	filepath.WalkDir(p, func(q string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || q == p {
			return nil
		}
		if isSubvolume(q) {
			out = append(out, q)
			return filepath.SkipDir
		}
		return nil
	})
	return out
}

// purge removes p whatever it holds: subvolumes are deleted, directories
// emptied and removed.
func purge(p string) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if isSubvolume(p) {
		return destroySubvolume(p)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		ents, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := purge(filepath.Join(p, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// renameNoReplace renames old to new, failing with EEXIST if new exists.
func renameNoReplace(oldPath, newPath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldPath, unix.AT_FDCWD, newPath, unix.RENAME_NOREPLACE)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldPath, New: newPath, Err: err}
	}
	return nil
}
