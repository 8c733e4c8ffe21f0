package dir

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
	"hull/internal/pool"
)

// idmapSuffix names the work directory of a dataset's idmapped view.
const idmapSuffix = ".idmap"

// MountIDMapped mounts a view of the dataset at target in which owners are
// shifted through the user namespace usernsFD, as an idmapped mount would.
//
// It exists because overlayfs cannot be idmapped: mainline kernels (6.18
// included) do not mark it FS_ALLOW_IDMAP, so mount_setattr with
// MOUNT_ATTR_IDMAP on any overlay, whatever its options, fails with EINVAL.
// What overlayfs does take (kernel >= 5.19) is idmapped layers, so this
// view is a second overlay of the dataset's layers, reached through one
// idmapped mount of the store. It has its own work directory. While it is
// mounted, write to the dataset through it only (two overlays writing one
// upper see each other's changes late); it also counts as a use of the
// dataset, so Snapshot copies instead of freezing. Remove it with
// unix.Unmount(target, 0) before destroying or rolling back the dataset.
func (d *Driver) MountIDMapped(full, target string, usernsFD int) (err error) {
	name, _, err := d.parse(full, "dataset")
	if err != nil {
		return fmt.Errorf("idmapped mount: %w", err)
	}
	rs, done, err := d.begin()
	if err != nil {
		return fmt.Errorf("idmapped mount of %s: %w", full, err)
	}
	defer func() { done(err != nil) }()
	r := rs.byName(name)
	if r == nil {
		return fmt.Errorf("idmapped mount: %w", pool.NotFound(full))
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, d.store, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("idmapped mount of %s: open_tree: %w", full, err)
	}
	defer unix.Close(tree)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(usernsFD)}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, attr); err != nil {
		return fmt.Errorf("idmapped mount of %s: idmap the store: %w", full, err)
	}
	// Paths through the detached, idmapped store mount.
	via := "/proc/self/fd/" + strconv.Itoa(tree) + "/"
	lowers := []string{via + "empty"}
	if len(r.Layers) > 0 {
		lowers = lowers[:0]
		for _, l := range r.Layers {
			lowers = append(lowers, via+"layers/"+l)
		}
	}
	work := r.Upper + idmapSuffix
	if err := os.MkdirAll(d.workPath(work), 0o700); err != nil {
		return fmt.Errorf("idmapped mount of %s: %w", full, err)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("idmapped mount of %s: %w", full, err)
	}
	// Overlay works on its layers with its mounter's credentials, and
	// host root has no uid in the idmapped store (EOVERFLOW): mount as the
	// uid that the store's root directory shows through the mapping.
	var st unix.Stat_t
	if err := unix.Stat(via+"layers", &st); err != nil {
		return fmt.Errorf("idmapped mount of %s: %w", full, err)
	}
	err = withFSCreds(int(st.Uid), int(st.Gid), func() error {
		return mountOverlay(target, lowers, via+"layers/"+r.Upper, via+"work/"+work)
	})
	if err != nil {
		return fmt.Errorf("idmapped mount of %s: %w", full, err)
	}
	return nil
}

// withFSCreds runs fn on a thread of its own whose filesystem uid and gid
// are uid and gid, with its capabilities kept (setfsuid away from 0 drops
// the filesystem ones from the effective set; they come back from the
// permitted set). The thread is never handed back to the scheduler: it
// exits with its changed credentials.
func withFSCreds(uid, gid int, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		unix.Setfsgid(gid)
		unix.Setfsuid(uid)
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var caps [2]unix.CapUserData
		if err := unix.Capget(&hdr, &caps[0]); err != nil {
			ch <- fmt.Errorf("capget: %w", err)
			return
		}
		caps[0].Effective, caps[1].Effective = caps[0].Permitted, caps[1].Permitted
		if err := unix.Capset(&hdr, &caps[0]); err != nil {
			ch <- fmt.Errorf("capset: %w", err)
			return
		}
		ch <- fn()
	}()
	return <-ch
}
