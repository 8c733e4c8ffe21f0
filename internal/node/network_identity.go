package node

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"hull/internal/vm"
	"hull/internal/zone"
)

// The zone's name-service files follow its NICs as on SmartOS: /etc/hosts
// names the hostname at the primary NIC's address ("the hostname attached
// with the primary IP"), and with maintain_resolvers the nameservers of
// /etc/resolv.conf follow the VM's resolvers when they change.

// loopbackHost is the address zone.IdentityFiles give the hostname, the
// Debian way, for a zone without a static primary address.
const loopbackHost = "127.0.1.1"

// primaryIP is the first static address of the VM's primary NIC, "" for
// none (no NICs, or DHCP).
func primaryIP(v *vm.VM) string {
	for _, nic := range v.Nics {
		if !nic.Primary {
			continue
		}
		for _, s := range nic.IPs {
			if p, err := netip.ParsePrefix(s); err == nil {
				return p.Addr().String()
			}
		}
	}
	return ""
}

// hostsAt moves the hostname's line of a hosts file from the loopback
// address to ip; other lines stay as they are.
func hostsAt(hosts []byte, ip string) []byte {
	lines := strings.SplitAfter(string(hosts), "\n")
	for i, l := range lines {
		if rest, ok := strings.CutPrefix(l, loopbackHost+"\t"); ok {
			lines[i] = ip + "\t" + rest
		}
	}
	return []byte(strings.Join(lines, ""))
}

// withResolvers replaces the nameserver lines of a resolv.conf with one
// per resolver, where the first of them was (else at the top); search,
// options and comments stay.
func withResolvers(conf []byte, resolvers []string) []byte {
	var ns strings.Builder
	for _, r := range resolvers {
		fmt.Fprintf(&ns, "nameserver %s\n", r)
	}
	var out strings.Builder
	placed := false
	for _, l := range strings.SplitAfter(string(conf), "\n") {
		if l == "" {
			continue
		}
		if f := strings.Fields(l); len(f) > 0 && f[0] == "nameserver" {
			if !placed {
				out.WriteString(ns.String())
				placed = true
			}
			continue
		}
		out.WriteString(l)
		if !strings.HasSuffix(l, "\n") {
			out.WriteByte('\n')
		}
	}
	if !placed {
		return append([]byte(ns.String()), out.String()...)
	}
	return []byte(out.String())
}

// writeHostsAddress names the hostname at the primary NIC's address in
// the new zone's /etc/hosts (create, after the dataset is made).
func (n *Node) writeHostsAddress(v *vm.VM) error {
	ip := primaryIP(v)
	if ip == "" || zone.IsDocker(v) {
		return nil
	}
	return editZoneFile(filepath.Join(n.Zonepath(v.UUID), "root"), "etc/hosts", func(b []byte) []byte { return hostsAt(b, ip) })
}

// maintainResolvers rewrites the zone's nameservers from the VM's
// resolvers when maintain_resolvers is set (update; a running zone sees
// the change at once).
func (n *Node) maintainResolvers(v *vm.VM, changed []string) error {
	if !vm.Bool(v.MaintainResolvers, false) || zone.IsDocker(v) || !slices.ContainsFunc(changed, func(p string) bool {
		return p == "resolvers" || p == "maintain_resolvers"
	}) {
		return nil
	}
	err := editZoneFile(filepath.Join(n.Zonepath(v.UUID), "root"), "etc/resolv.conf", func(b []byte) []byte { return withResolvers(b, v.Resolvers) })
	if err != nil {
		return fmt.Errorf("maintain_resolvers: %w", err)
	}
	return nil
}

// openZoneDir opens dir, a directory in a zone's root, O_PATH, resolved
// inside the root (a zone may have made any part of it a symlink: none
// leads out). With missingOK, a dir that does not exist is fd -1 and no
// error.
func openZoneDir(root, dir string, missingOK bool) (int, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("zone root %s: %w", root, err)
	}
	defer unix.Close(rfd)
	dfd, err := unix.Openat2(rfd, dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if missingOK && errors.Is(err, unix.ENOENT) {
		return -1, nil
	}
	if err != nil {
		return -1, fmt.Errorf("zone's /%s: %w", strings.TrimPrefix(dir, "/"), err)
	}
	return dfd, nil
}

// editZoneFile replaces the file rel under a zone's root with what edit
// makes of its contents, keeping its owner and mode. The path is resolved
// inside the root (a zone may have made any part of it a symlink: none
// leads out), and the file is replaced by a rename, never written
// through; a symlink in its place is replaced by a file.
func editZoneFile(root, rel string, edit func([]byte) []byte) error {
	dir, base := filepath.Split(rel)
	dfd, err := openZoneDir(root, dir, false)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	var old []byte
	mode, uid, gid := uint32(0o644), -1, -1
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err == nil {
		uid, gid = int(st.Uid), int(st.Gid)
	}
	old, s, err := readRegularAt(dfd, base)
	switch {
	case err == nil:
		mode, uid, gid = s.Mode&0o7777, int(s.Uid), int(s.Gid)
	case errors.Is(err, errNotRegular), errors.Is(err, unix.ENOENT), errors.Is(err, unix.ELOOP):
		old = nil // replaced by a file
	default:
		return fmt.Errorf("zone's /%s: %w", rel, err)
	}
	next := edit(old)
	if bytes.Equal(next, old) {
		return nil
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	tmp := "." + base + ".hull-" + hex.EncodeToString(suffix)
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return fmt.Errorf("zone's /%s: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(next)
	if err == nil {
		err = f.Chmod(os.FileMode(mode))
	}
	if err == nil && uid >= 0 {
		err = f.Chown(uid, gid)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, base)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("zone's /%s: %w", rel, err)
	}
	return nil
}

// errNotRegular: a zone file is not a regular file.
var errNotRegular = errors.New("not a regular file")

// readRegularAt reads name in the directory dfd, with its stat, when it
// is a regular file (a symlink is not followed, a FIFO not waited on).
func readRegularAt(dfd int, name string) ([]byte, *unix.Stat_t, error) {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, nil, errNotRegular
	}
	b, err := readAll(f)
	return b, &st, err
}

// readAll reads a zone file, at most 1 MiB of it: a name-service file
// larger than that is not one to edit.
func readAll(f *os.File) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if len(b) > 1<<20 {
		return nil, errors.New("larger than 1 MiB")
	}
	return b, err
}
