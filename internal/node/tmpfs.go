package node

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// resizeTmp sets the size of a running zone's /tmp, a tmpfs in the
// zone's mount namespace, from the host: its superblock is picked through
// the zone's root in /proc and reconfigured (fspick + fsconfig), so no
// process in the zone ever holds more than the zone's own capabilities
// (one given CAP_SYS_ADMIN for the remount could be traced and used by
// the zone's root).
func resizeTmp(pid int, mib int64) error {
	p := fmt.Sprintf("/proc/%d/root/tmp", pid)
	at, err := unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("resize /tmp: %w", err)
	}
	defer unix.Close(at)
	var st unix.Statfs_t
	if err := unix.Fstatfs(at, &st); err != nil {
		return fmt.Errorf("resize /tmp: %w", err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		return fmt.Errorf("resize /tmp: the zone's /tmp is not a tmpfs")
	}
	fc, err := unix.Fspick(at, "", unix.FSPICK_EMPTY_PATH|unix.FSPICK_CLOEXEC|unix.FSPICK_NO_AUTOMOUNT)
	if err != nil {
		return fmt.Errorf("resize /tmp: pick its mount: %w", err)
	}
	defer unix.Close(fc)
	if err := unix.FsconfigSetString(fc, "size", fmt.Sprintf("%dm", mib)); err != nil {
		return fmt.Errorf("resize /tmp: size %dm: %w", mib, err)
	}
	if err := unix.FsconfigReconfigure(fc); err != nil {
		return fmt.Errorf("resize /tmp to %dm: %w", mib, err)
	}
	return nil
}
