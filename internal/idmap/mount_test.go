package idmap

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"hull/internal/testenv"
)

func owner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

// tempDir is t.TempDir made reachable by the zone's ids (TempDir makes
// its directories 0700).
func tempDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{d, filepath.Dir(d)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func mountIDMapped(t *testing.T, src, dst string, r Range) {
	t.Helper()
	if err := MountIDMapped(src, dst, r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Unmount(dst); err != nil {
			t.Error(err)
		}
	})
}

func TestMountIDMapped(t *testing.T) {
	testenv.RequireRoot(t)
	tmp := tempDir(t)
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "mnt", "dst")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name     string
		uid, gid int
	}{
		{"root", 0, 0},
		{"user", 1000, 100},
		{"nobody", 65534, 65534},
		{"outside", 70000, 70000}, // not in the range: unmapped at dst
	}
	for _, f := range files {
		p := filepath.Join(src, f.name)
		if err := os.WriteFile(p, []byte(f.name), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, f.uid, f.gid); err != nil {
			t.Fatal(err)
		}
	}
	r := SlotRange(3)
	mountIDMapped(t, src, dst, r)

	for _, f := range files {
		uid, gid := owner(t, filepath.Join(dst, f.name))
		wantU, wantG := r.HostID+uint32(f.uid), r.HostID+uint32(f.gid)
		if f.uid >= int(r.Size) {
			wantU, wantG = 65534, 65534 // the overflow id
		}
		if uid != wantU || gid != wantG {
			t.Errorf("%s at dst is %d:%d, want %d:%d", f.name, uid, gid, wantU, wantG)
		}
	}
	if u, _ := owner(t, filepath.Join(src, "root")); u != 0 {
		t.Errorf("src changed owner: %d", u)
	}

	// Host root is unmapped in the idmapping: it cannot create files
	// through dst, since they would have no owner on disk.
	err := os.WriteFile(filepath.Join(dst, "byroot"), nil, 0o644)
	if !errors.Is(err, syscall.EOVERFLOW) {
		t.Errorf("create through dst as host root: %v, want EOVERFLOW", err)
	}
	// The zone's root (host id r.HostID) creates files that land on disk
	// as 0:0.
	cmd := exec.Command("touch", filepath.Join(dst, "byzone"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: r.HostID, Gid: r.HostID}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("touch as %d: %v: %s", r.HostID, err, out)
	}
	if u, g := owner(t, filepath.Join(src, "byzone")); u != 0 || g != 0 {
		t.Errorf("file made by zone root is %d:%d on disk, want 0:0", u, g)
	}

	// Unmount is idempotent.
	if err := Unmount(dst); err != nil {
		t.Fatal(err)
	}
	if err := Unmount(dst); err != nil {
		t.Fatal(err)
	}
	if err := Unmount(filepath.Join(tmp, "missing")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "root")); !os.IsNotExist(err) {
		t.Errorf("dst still shows files after Unmount: %v", err)
	}
}

// TestOverlay pins down how a zone root on overlayfs gets idmapped: the
// overlay itself refuses an idmapping, but an overlay mounted on idmapped
// lower layers, with an upper in the zone's host range, works.
func TestOverlay(t *testing.T) {
	testenv.RequireRoot(t)
	tmp := tempDir(t)
	dirs := map[string]string{}
	for _, d := range []string{"lower", "idlower", "upper", "work", "merged", "plain", "dst"} {
		dirs[d] = filepath.Join(tmp, d)
		if err := os.Mkdir(dirs[d], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	passwd := filepath.Join(dirs["lower"], "passwd")
	if err := os.WriteFile(passwd, []byte("root:x:0:0::/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mountOverlay := func(lower, target string) {
		t.Helper()
		opts := "lowerdir=" + lower + ",upperdir=" + dirs["upper"] + ",workdir=" + dirs["work"]
		if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
			testenv.Require(t, false, "overlayfs: "+err.Error())
		}
		t.Cleanup(func() { _ = unix.Unmount(target, unix.MNT_DETACH) })
	}
	r := SlotRange(5)

	// An idmapped mount of an overlay: refused, with ErrNotSupported.
	mountOverlay(dirs["lower"], dirs["plain"])
	if err := Supported(dirs["plain"]); !errors.Is(err, ErrNotSupported) {
		t.Errorf("Supported(overlay) = %v, want ErrNotSupported", err)
	}
	if err := MountIDMapped(dirs["plain"], dirs["dst"], r); !errors.Is(err, ErrNotSupported) {
		_ = Unmount(dirs["dst"])
		t.Errorf("MountIDMapped(overlay) = %v, want ErrNotSupported (if the kernel now allows it, use it)", err)
	}
	if err := unix.Unmount(dirs["plain"], unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}

	// Overlay on an idmapped lower; the upper's root is the zone's root.
	if err := os.Lchown(dirs["upper"], int(r.HostID), int(r.HostID)); err != nil {
		t.Fatal(err)
	}
	mountIDMapped(t, dirs["lower"], dirs["idlower"], r)
	mountOverlay(dirs["idlower"], dirs["merged"])
	// The overlay holds its own clone of the layer: the staging mount can go.
	if err := Unmount(dirs["idlower"]); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "passwd"} {
		if u, g := owner(t, filepath.Join(dirs["merged"], p)); u != r.HostID || g != r.HostID {
			t.Errorf("merged/%s is %d:%d, want %d", p, u, g, r.HostID)
		}
	}
	// Copy-up and a new file, as the zone's root: they land in the upper
	// in the zone's range, and the lower is untouched.
	m := dirs["merged"]
	cmd := exec.Command("sh", "-c", "echo x >> "+m+"/passwd && echo y > "+m+"/new && mkdir "+m+"/d")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: r.HostID, Gid: r.HostID}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("write as zone root: %v: %s", err, out)
	}
	for _, p := range []string{"passwd", "new", "d"} {
		if u, g := owner(t, filepath.Join(dirs["upper"], p)); u != r.HostID || g != r.HostID {
			t.Errorf("upper/%s is %d:%d, want %d", p, u, g, r.HostID)
		}
	}
	if u, _ := owner(t, passwd); u != 0 {
		t.Errorf("lower file changed owner to %d", u)
	}
}

func TestSupported(t *testing.T) {
	testenv.RequireRoot(t)
	tests := []struct {
		path string
		ok   bool
	}{
		{t.TempDir(), true},
		{"/proc", false},
		{"/nonexistent-hull-path", false},
	}
	for _, tt := range tests {
		err := Supported(tt.path)
		if (err == nil) != tt.ok {
			t.Errorf("Supported(%s) = %v, want ok=%v", tt.path, err, tt.ok)
		}
	}
}

// TestUsernsHolderReaped checks that making a namespace leaves no child.
func TestUsernsHolderReaped(t *testing.T) {
	testenv.RequireRoot(t)
	for i := 0; i < 5; i++ {
		f, err := usernsFD(SlotRange(i))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	var ws unix.WaitStatus
	if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG|unix.WALL, nil); !errors.Is(err, unix.ECHILD) {
		t.Errorf("a child is left: pid %d, err %v", pid, err)
	}
}
