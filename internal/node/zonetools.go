package node

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"hull/internal/vm"
	"hull/internal/zone"
	"hull/internal/zoneinit"
)

// linkZoneTools puts SmartOS's halt, poweroff, reboot and shutdown in a
// new joyent or joyent-minimal zone's /usr/sbin, and svcs, svcadm and
// svccfg where SmartOS has them: symlinks to the hull binary the zone has
// at zone.HullBin, in its own filesystem as a SmartOS zone has them (and
// at no cost to its boots, unlike mounts). What the image had under
// those names (systemd's links to systemctl, say, which cannot work under
// hull's init) is replaced. Sparse zones see them in the tool links laid
// over the host's /usr/sbin; lx and docker zones keep their own.
func linkZoneTools(v *vm.VM, root string) error {
	if v.Brand == "lx" || v.Brand == "sparse" || zone.IsDocker(v) {
		return nil
	}
	tools := make([]struct{ Dir, Name string }, 0, len(zoneinit.ShutdownTools)+len(zone.SMFTools))
	for _, t := range zoneinit.ShutdownTools {
		tools = append(tools, struct{ Dir, Name string }{"usr/sbin", t})
	}
	tools = append(tools, zone.SMFTools...)
	dirs := map[string]int{}
	defer func() {
		for _, fd := range dirs {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
	for _, t := range tools {
		fd, ok := dirs[t.Dir]
		if !ok {
			var err error
			if fd, err = zoneToolDir(root, t.Dir); err != nil {
				return err
			}
			dirs[t.Dir] = fd
		}
		if fd < 0 {
			continue
		}
		if err := unix.Unlinkat(fd, t.Name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("zone's /%s/%s: %w", t.Dir, t.Name, err)
		}
		if err := unix.Symlinkat(zone.HullBin, fd, t.Name); err != nil {
			return fmt.Errorf("zone's /%s/%s: %w", t.Dir, t.Name, err)
		}
	}
	return nil
}

// zoneToolDir opens (making it if missing) dir under a zone's root, -1
// when a symlink is on the way: that is the image's business
// (merged-/usr images link /sbin and /bin, not these), and then the zone
// goes without the tools there.
func zoneToolDir(root, dir string) (int, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("zone root %s: %w", root, err)
	}
	for _, d := range strings.Split(dir, "/") {
		if err := unix.Mkdirat(fd, d, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(fd)
			return -1, fmt.Errorf("zone's /%s: %w", dir, err)
		}
		next, err := unix.Openat2(fd, d, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
		})
		unix.Close(fd)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, nil
		}
		if err != nil {
			return -1, fmt.Errorf("zone's /%s: %w", dir, err)
		}
		fd = next
	}
	return fd, nil
}
