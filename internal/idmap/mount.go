package idmap

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNotSupported is wrapped by errors from MountIDMapped and Supported
// when the filesystem cannot be idmapped, so callers can fall back to
// Shift.
var ErrNotSupported = errors.New("idmapped mounts not supported")

// MountIDMapped bind-mounts directory src (and the mounts below it) at dst,
// creating dst if needed, with r as the mount's idmapping: a file owned by
// host id n < r.Size under src appears owned by r.HostID+n at dst, which is
// how the zone's user namespace (0 → r.HostID) needs to see its root.
//
// overlayfs itself cannot be idmapped (mount_setattr fails with EINVAL, on
// 6.18 too): an overlay root is built instead on idmapped lower layers,
// each mapped with MountIDMapped, and an upper layer whose files are in the
// zone's host range (an idmapped upper does not work: overlayfs creates its
// work directory as host root, which has no id in the mapping).
func MountIDMapped(src, dst string, r Range) error {
	if r.Size == 0 {
		return fmt.Errorf("idmap: mount %s: empty range", src)
	}
	userns, err := UsernsFD(r)
	if err != nil {
		return fmt.Errorf("idmap: mount %s at %s: %w", src, dst, err)
	}
	defer userns.Close()
	return MountWithUserns(src, dst, userns)
}

// MountWithUserns is MountIDMapped with the idmapping of an open user
// namespace (from UsernsFD), for callers that make it ahead of time.
func MountWithUserns(src, dst string, userns *os.File) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("idmap: mount %s at %s: %w", src, dst, err)
	}
	fd, err := idmappedTree(src, int(userns.Fd()), true)
	if err != nil {
		return fmt.Errorf("idmap: mount %s at %s: %w", src, dst, err)
	}
	defer unix.Close(fd)
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("idmap: mount %s at %s: move_mount: %w", src, dst, err)
	}
	return nil
}

// idmappedTree clones the mount tree at src into a detached tree and sets
// the user namespace's mapping as its idmapping. Closing the returned fd
// without attaching it frees the tree.
func idmappedTree(src string, userns int, recursive bool) (int, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	setFlags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
		setFlags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, flags)
	if errors.Is(err, unix.ENOSYS) {
		return -1, fmt.Errorf("open_tree: %w (%w)", ErrNotSupported, err)
	}
	if err != nil {
		return -1, fmt.Errorf("open_tree: %w", err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns)}
	if err := unix.MountSetattr(fd, "", setFlags, &attr); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			return -1, fmt.Errorf("mount_setattr idmap: %w (%w)", ErrNotSupported, err)
		}
		return -1, fmt.Errorf("mount_setattr idmap: %w", err)
	}
	return fd, nil
}

// Unmount detaches whatever is mounted at dst (stacked mounts included).
// It is idempotent: a dst that is missing or not a mount point is fine.
func Unmount(dst string) error {
	for n := 0; n < 64; n++ {
		err := unix.Unmount(dst, unix.MNT_DETACH)
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		default:
			return fmt.Errorf("idmap: unmount %s: %w", dst, err)
		}
	}
	return fmt.Errorf("idmap: unmount %s: still mounted after 64 unmounts", dst)
}

// Supported reports (nil) whether the filesystem at path, a directory,
// accepts idmapped mounts, so callers can fall back to Shift. The test
// idmaps a detached clone of path, which is never attached anywhere.
func Supported(path string) error {
	userns, err := UsernsFD(SlotRange(0))
	if err != nil {
		return fmt.Errorf("idmap: %s: %w", path, err)
	}
	defer userns.Close()
	fd, err := idmappedTree(path, int(userns.Fd()), false)
	if err != nil {
		return fmt.Errorf("idmap: %s: %w", path, err)
	}
	unix.Close(fd)
	return nil
}
