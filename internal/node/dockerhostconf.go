package node

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"hull/internal/vm"
	"hull/internal/zone"
)

// hostConfDir holds a docker zone's name-service files on the host.
func (n *Node) hostConfDir(uuid string) string { return filepath.Join(n.Zonepath(uuid), "config") }

// writeHostConf writes a docker zone's hosts, hostname and resolv.conf
// (zone.DockerHostConf) into its config/. Each is rewritten in place: a
// running zone has them bind-mounted, and a new file would not reach it.
// They belong to the zone's root, who may write them as in docker. With
// targets, their places in the zone are readied too, as SmartOS does at
// create: a symlink there (an image's /etc/resolv.conf into /run, say)
// is replaced by an empty file, for a mount must not follow it out.
func (n *Node) writeHostConf(v *vm.VM, targets bool) error {
	files, err := zone.DockerHostConf(v)
	if err != nil {
		return err
	}
	rng, err := n.IDs.Allocate(v.UUID)
	if err != nil {
		return err
	}
	dir := n.hostConfDir(v.UUID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range files {
		if err := writeInPlace(filepath.Join(dir, f.Name), f.Contents, int(rng.HostID)); err != nil {
			return fmt.Errorf("docker %s: %w", f.Name, err)
		}
		if targets {
			if err := mountTarget(filepath.Join(n.Zonepath(v.UUID), "root"), f.Target); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeInPlace replaces the contents of the file p (made if missing),
// keeping its inode, and gives it to uid.
func writeInPlace(p, contents string, uid int) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(contents)
	if err == nil {
		err = f.Chown(uid, uid)
	}
	return errors.Join(err, f.Close())
}

// mountTarget readies target, a file's place in the zone's root, for a
// bind mount: a symlink becomes an empty file, a missing file is made
// when its directory exists (else the runtime makes both). Paths are
// resolved inside the root.
func mountTarget(root, target string) error {
	dir, base := path.Split(path.Clean(target))
	dfd, err := openZoneDir(root, dir, true)
	if err != nil || dfd < 0 {
		return err
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	err = unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG:
		return nil
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
		if err := unix.Unlinkat(dfd, base, 0); err != nil {
			return fmt.Errorf("zone's %s: %w", target, err)
		}
	case err == nil:
		return fmt.Errorf("%s is not a file", target)
	case !errors.Is(err, unix.ENOENT):
		return fmt.Errorf("zone's %s: %w", target, err)
	}
	fd, err := unix.Openat(dfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("zone's %s: %w", target, err)
	}
	return unix.Close(fd)
}

// rewriteHostConf writes the docker VM's name-service files again from
// v, its dataset mounted first (a stopped zone's may not be).
func (n *Node) rewriteHostConf(v *vm.VM) error {
	if _, err := n.Pool.Mount(dataset(v.UUID)); err != nil {
		return err
	}
	return n.writeHostConf(v, false)
}

// hostConfChanged reports whether an update changes what a docker zone's
// name-service files say.
func hostConfChanged(cur, next *vm.VM, changed []string) bool {
	if !zone.IsDocker(next) {
		return false
	}
	if slices.ContainsFunc(changed, func(p string) bool {
		return p == "nics" || p == "hostname" || p == "resolvers" || p == "dns_domain" || p == "docker"
	}) {
		return true
	}
	for _, k := range []string{"docker:extraHosts", "docker:linkHosts", "docker:dnssearch"} {
		if cur.InternalMetadata[k] != next.InternalMetadata[k] {
			return true
		}
	}
	return false
}
