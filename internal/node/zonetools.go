package node

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"hull/internal/vm"
	"hull/internal/zone"
	"hull/internal/zoneinit"
)

// linkShutdownTools puts SmartOS's halt, poweroff, reboot and shutdown in
// a new joyent or joyent-minimal zone's /usr/sbin: symlinks to the hull
// binary the zone has at zone.HullBin, in its own filesystem as a
// SmartOS zone has them (and at no cost to its boots, unlike mounts).
// What the image had under those names (systemd's links to systemctl,
// say, which cannot work under hull's init) is replaced. Sparse zones
// see them in the tool links laid over the host's /usr/sbin; lx and
// docker zones keep their own.
func linkShutdownTools(v *vm.VM, root string) error {
	if v.Brand == "lx" || v.Brand == "sparse" || zone.IsDocker(v) {
		return nil
	}
	dfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("zone root %s: %w", root, err)
	}
	// /usr/sbin is made if missing; a symlink on the way is the image's
	// business (merged-/usr images link /sbin, not these): no tools then.
	for _, d := range []string{"usr", "sbin"} {
		if err := unix.Mkdirat(dfd, d, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(dfd)
			return fmt.Errorf("zone's /usr/sbin: %w", err)
		}
		next, err := unix.Openat2(dfd, d, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
		})
		unix.Close(dfd)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("zone's /usr/sbin: %w", err)
		}
		dfd = next
	}
	defer unix.Close(dfd)
	for _, t := range zoneinit.ShutdownTools {
		if err := unix.Unlinkat(dfd, t, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("zone's /usr/sbin/%s: %w", t, err)
		}
		if err := unix.Symlinkat(zone.HullBin, dfd, t); err != nil {
			return fmt.Errorf("zone's /usr/sbin/%s: %w", t, err)
		}
	}
	return nil
}
