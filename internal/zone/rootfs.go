package zone

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// hostEtc are the host's /etc entries a sparse zone needs to run the
// host's programs: the dynamic linker's cache and config, alternatives
// (Debian's /usr/bin/awk and friends point there), name service and shell
// defaults. Copied, not shared: the zone's /etc is its own.
var hostEtc = []string{
	"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "nsswitch.conf",
	"profile", "profile.d", "bash.bashrc", "localtime", "timezone", "os-release",
	"debian_version", "environment", "inputrc", "terminfo", "skel", "shells", "login.defs",
}

// Skeleton writes a sparse zone's own trees under root: /etc (minimal,
// with the host's linker and shell config), /var, /root, /home, /tmp, and
// the mount points (or, on a merged-/usr host, the symlinks) for the host
// directories the zone shares read-only.
func Skeleton(root string) error {
	for _, d := range []string{"etc", "var/tmp", "var/log", "var/run", "root", "home", "tmp", "dev", "proc", "sys", "opt", "run", "mnt", "etc/rc.d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("skeleton: %w", err)
		}
	}
	for _, d := range []string{"tmp", "var/tmp"} {
		os.Chmod(filepath.Join(root, d), 0o1777)
	}
	os.Chmod(filepath.Join(root, "root"), 0o700)
	for _, d := range SparseHostDirs {
		st, err := os.Lstat(d)
		if err != nil {
			continue
		}
		dst := filepath.Join(root, d)
		if st.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(d)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, dst); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("skeleton: %w", err)
			}
			continue
		}
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("skeleton: %w", err)
		}
	}
	for _, e := range hostEtc {
		if err := CopyTree(filepath.Join("/etc", e), filepath.Join(root, "etc", e)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("skeleton: %w", err)
		}
	}
	files := map[string]string{
		"etc/passwd":      "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"etc/group":       "root:x:0:\ndaemon:x:1:\ntty:x:5:\nstaff:x:50:\nnogroup:x:65534:\n",
		"etc/shadow":      "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
		"etc/fstab":       "",
		"etc/motd":        "",
		"root/.profile":   "[ -f /etc/profile ] && . /etc/profile\n",
		"etc/rc.d/README": "Executable S* scripts here run at zone boot with \"start\", K* at halt with \"stop\".\n",
	}
	if _, err := os.Stat("/bin/bash"); err != nil {
		files["etc/passwd"] = strings.ReplaceAll(files["etc/passwd"], "/bin/bash", "/bin/sh")
	}
	for p, c := range files {
		if err := os.WriteFile(filepath.Join(root, p), []byte(c), 0o644); err != nil {
			return fmt.Errorf("skeleton: %w", err)
		}
	}
	os.Chmod(filepath.Join(root, "etc/shadow"), 0o640)
	return nil
}

// IdentityFiles are the zone's hostname, hosts and resolver files (names
// under /etc, with their contents), as SmartOS writes them when it
// installs a zone.
func IdentityFiles(hostname, domain string, resolvers []string) map[string]string {
	fqdn := hostname
	if domain != "" && domain != "local" {
		fqdn = hostname + "." + domain
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s %s\n", fqdn, hostname)
	var rc strings.Builder
	if domain != "" && domain != "local" {
		fmt.Fprintf(&rc, "search %s\n", domain)
	}
	for _, r := range resolvers {
		fmt.Fprintf(&rc, "nameserver %s\n", r)
	}
	return map[string]string{
		"hostname":    hostname + "\n",
		"hosts":       hosts,
		"resolv.conf": rc.String(),
	}
}

// CopyTree copies a file, symlink or directory tree, keeping modes.
func CopyTree(src, dst string) error {
	st, err := os.Lstat(src)
	if err != nil {
		return err
	}
	switch {
	case st.Mode()&os.ModeSymlink != 0:
		t, err := os.Readlink(src)
		if err != nil {
			return err
		}
		os.Remove(dst)
		return os.Symlink(t, dst)
	case st.IsDir():
		if err := os.MkdirAll(dst, st.Mode().Perm()); err != nil {
			return err
		}
		ents, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := CopyTree(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
		}
		return nil
	case st.Mode().IsRegular():
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, st.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}
	return nil // devices, sockets: not part of a skeleton
}
