package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"hull/internal/image/imagetest"
	"hull/internal/testenv"
)

// The busybox test image builds, validates, installs with owners and
// modes intact, and runs: its static shell works chrooted into the root.
func TestBusyboxImage(t *testing.T) {
	testenv.RequireRoot(t)
	mp, fp := imagetest.Busybox(t)
	b, err := os.ReadFile(mp)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.UUID != imagetest.BusyboxUUID || m.Name != "busybox" || m.Type != "zone-dataset" || m.OS != "linux" ||
		len(m.Files) != 1 || m.Files[0].Compression != "gzip" || m.Requirements == nil {
		t.Errorf("manifest: %+v", m)
	}

	dir := t.TempDir()
	p := imagetest.NewPool(filepath.Join(dir, "pool"))
	s, err := Open(filepath.Join(dir, "db"), p, "zones")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Install(context.Background(), mp, fp, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	ds, err := p.Get("zones/" + imagetest.BusyboxUUID)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(ds.Mountpoint, "root")
	for path, want := range map[string]uint32{
		".": unix.S_IFDIR | 0o755, "tmp": unix.S_IFDIR | 0o1777, "var/tmp": unix.S_IFDIR | 0o1777,
		"root": unix.S_IFDIR | 0o700, "bin/busybox": unix.S_IFREG | 0o755, "bin/sh": unix.S_IFLNK | 0o777,
		"etc/rc.d": unix.S_IFDIR | 0o755, "dev": unix.S_IFDIR | 0o755, "proc": unix.S_IFDIR | 0o755,
		"sys": unix.S_IFDIR | 0o755, "etc/passwd": unix.S_IFREG | 0o644, "etc/resolv.conf": unix.S_IFREG | 0o644,
	} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, path), &st); err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if st.Mode != want || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s: mode %o owner %d:%d, want %o 0:0", path, st.Mode, st.Uid, st.Gid, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); !strings.HasPrefix(string(b), "root:x:0:0:root:/root:/bin/sh\n") {
		t.Errorf("etc/passwd: %q", b)
	}
	out, err := exec.Command("chroot", root, "/bin/sh", "-c", "echo hello from $(busybox | head -1 | cut -d' ' -f1)").CombinedOutput()
	if err != nil || string(out) != "hello from BusyBox\n" {
		t.Errorf("chroot sh: %v %q", err, out)
	}
}
