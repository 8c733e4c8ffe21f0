package dir

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/pool"
	"hull/internal/pool/mounts"
	"hull/internal/pool/pooltest"
)

// newPool opens a dir pool in a temp dir; cleanup unmounts whatever is
// still mounted under it (before TempDir's own cleanup removes it).
func newPool(t testing.TB) (*Driver, string) {
	t.Helper()
	base := t.TempDir()
	t.Cleanup(func() { unmountUnder(t, base) })
	d, err := New(filepath.Join(base, "pool"), filepath.Join(base, "zones"), pooltest.Pool)
	if err != nil {
		t.Fatal(err)
	}
	return d, base
}

// mountsUnder lists mount targets under base, deepest first.
func mountsUnder(t testing.TB, base string) []string {
	t.Helper()
	ms, err := mounts.Under(base)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func unmountUnder(t testing.TB, base string) {
	for _, m := range mountsUnder(t, base) {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			t.Errorf("unmount %s: %v", m, err)
		}
	}
	if left := mountsUnder(t, base); len(left) > 0 {
		t.Errorf("mounts left under %s: %v", base, left)
	}
}

func TestConformance(t *testing.T) {
	pooltest.Run(t, func(t *testing.T) pool.Driver {
		d, _ := newPool(t)
		return d
	})
}

func TestRefusesChildren(t *testing.T) {
	pooltest.RequireRoot(t)
	d, _ := newPool(t)
	pooltest.RefusesChildren(t, d)
}

func TestParseName(t *testing.T) {
	tests := []struct {
		in         string
		name, snap string
		ok         bool
	}{
		{"zones/abc", "abc", "", true},
		{"zones/1b2c-partial", "1b2c-partial", "", true},
		{"zones/u-disk0@final", "u-disk0", "final", true},
		{"zones/a@vmadm%2Fsnap", "a", "vmadm%2Fsnap", true},
		{"zones/..", "", "", false},
		{"zones/a@", "", "", false},
		{"zones2/a", "", "", false},
		{"zones/a/b", "a/b", "", true},
		{"zones/a/b@s", "a/b", "s", true},
		{"zones/a/", "", "", false},
		{"zones//b", "", "", false},
		{"zones/a/../b", "", "", false},
	}
	for _, tc := range tests {
		n, s, err := pool.ParseName("zones", tc.in)
		if (err == nil) != tc.ok || n != tc.name || s != tc.snap {
			t.Errorf("ParseName(%q) = %q, %q, %v", tc.in, n, s, err)
		}
		if err != nil && !errors.Is(err, pool.ErrInvalidName) {
			t.Errorf("ParseName(%q): %v is not ErrInvalidName", tc.in, err)
		}
	}
}

func TestUsageAndQuota(t *testing.T) {
	pooltest.RequireRoot(t)
	d, _ := newPool(t)
	a, err := d.Create("zones/a")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.Mountpoint, "big"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Snapshot("zones/a", "final"); err != nil {
		t.Fatal(err)
	}
	c, err := d.Clone("zones/a@final", "zones/c")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(c.Mountpoint, "small"), []byte("x"), 0o644)
	const mib = 1 << 20
	tests := []struct {
		name             string
		minUsed, maxUsed int64
		minRefer         int64
	}{
		{"zones/a", mib, 2 * mib, mib},
		{"zones/a@final", 0, 0, mib}, // frozen: shared with the dataset
		{"zones/c", 1, 64 << 10, mib},
	}
	for _, tc := range tests {
		g, err := d.Get(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if g.Used < tc.minUsed || g.Used > tc.maxUsed || g.Refer < tc.minRefer {
			t.Errorf("%s: used %d refer %d, want used in [%d, %d], refer >= %d",
				tc.name, g.Used, g.Refer, tc.minUsed, tc.maxUsed, tc.minRefer)
		}
	}
	l, _ := d.List()
	for _, x := range l {
		if x.Used != -1 || x.Refer != -1 {
			t.Errorf("List: %s used %d refer %d, want -1", x.Name, x.Used, x.Refer)
		}
	}
	if err := d.SetQuota("zones/a", 1<<30); !errors.Is(err, pool.ErrNotSupported) {
		t.Errorf("SetQuota = %v, want ErrNotSupported", err)
	}
	if err := d.SetQuota("zones/a", 0); err != nil {
		t.Errorf("SetQuota(0) = %v", err)
	}
}

// TestSnapshotFreezes checks the cheap path: snapshotting an idle dataset
// copies nothing, its upper becomes the snapshot's layer.
func TestSnapshotFreezes(t *testing.T) {
	pooltest.RequireRoot(t)
	d, _ := newPool(t)
	if _, err := d.Create("zones/img"); err != nil {
		t.Fatal(err)
	}
	rs, _ := d.load()
	upper := rs.byName("img").Upper
	if err := d.Snapshot("zones/img", "final"); err != nil {
		t.Fatal(err)
	}
	rs, _ = d.load()
	r := rs.byName("img")
	if got := r.Snapshots[0].Layers; len(got) != 1 || got[0] != upper {
		t.Errorf("snapshot layers %v, want the old upper %s", got, upper)
	}
	if r.Upper == upper {
		t.Errorf("dataset still writes to the frozen layer")
	}
}

// TestFlatten builds a chain of clones of clones past maxDepth.
func TestFlatten(t *testing.T) {
	pooltest.RequireRoot(t)
	defer func(old int) { maxDepth = old }(maxDepth)
	maxDepth = 3
	d, _ := newPool(t)
	prev, err := d.Create("zones/g0")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 6; i++ {
		os.WriteFile(filepath.Join(prev.Mountpoint, fmt.Sprintf("f%d", i)), []byte("x"), 0o644)
		os.Remove(filepath.Join(prev.Mountpoint, fmt.Sprintf("f%d", i-1)))
		if err := d.Snapshot(prev.Name, "s"); err != nil {
			t.Fatal(err)
		}
		if prev, err = d.Clone(prev.Name+"@s", fmt.Sprintf("zones/g%d", i)); err != nil {
			t.Fatal(err)
		}
		for j := 1; j <= i; j++ {
			_, err := os.Stat(filepath.Join(prev.Mountpoint, fmt.Sprintf("f%d", j)))
			if (err == nil) != (j == i) {
				t.Errorf("g%d: f%d: %v", i, j, err)
			}
		}
	}
	rs, _ := d.load()
	for _, r := range rs {
		if len(r.Layers) > maxDepth {
			t.Errorf("%s has %d layers", r.Name, len(r.Layers))
		}
	}
}

// TestIdmappedMount makes the idmapped mount the zone layer makes of a
// clone, and checks that a snapshot taken meanwhile stays exact (the
// dataset is busy through the idmapped view, so it must not be frozen).
func TestIdmappedMount(t *testing.T) {
	pooltest.RequireRoot(t)
	d, base := newPool(t)
	img, _ := d.Create("zones/img")
	os.WriteFile(filepath.Join(img.Mountpoint, "f"), []byte("img"), 0o644)
	if err := d.Snapshot(img.Name, "final"); err != nil {
		t.Fatal(err)
	}
	c, err := d.Clone("zones/img@final", "zones/z")
	if err != nil {
		t.Fatal(err)
	}
	// A user namespace mapping 0 to 100000, held by a sleeping child.
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("no user namespaces: %v", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	// The kernel refuses to idmap an overlay itself (EINVAL) ...
	fd, err := unix.OpenTree(unix.AT_FDCWD, c.Mountpoint, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns.Fd())}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err == nil {
		t.Logf("this kernel idmaps overlay mounts itself")
	}
	unix.Close(fd)
	// ... so the driver builds the overlay over idmapped layers.
	// Zone root must be able to reach the view, as under the node's root.
	os.Chmod(base, 0o711)
	os.Chmod(filepath.Dir(base), 0o711)
	root := filepath.Join(base, "rootfs")
	if err := d.MountIDMapped(c.Name, root, int(ns.Fd())); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(root, 0)
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "f"), &st); err != nil || st.Uid != 100000 {
		t.Errorf("idmapped view: uid %d, %v; want 100000", st.Uid, err)
	}
	// Zone root writes through the view: a new file, and a change to an
	// image file (a copy-up), both owned by 0 on disk.
	inZone := func(script string) {
		t.Helper()
		sh := exec.Command("sh", "-c", script)
		sh.Dir = root
		attr := *cmd.SysProcAttr
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0} // zone root
		sh.SysProcAttr = &attr
		if out, err := sh.CombinedOutput(); err != nil {
			t.Fatalf("in zone: %s: %v: %s", script, err, out)
		}
	}
	inZone("echo 1 > g && echo zone >> f && mkdir -p etc && touch etc/x")
	rs, _ := d.load()
	upper := d.layerPath(rs.byName("z").Upper)
	for _, p := range []string{"g", "f", "etc/x"} {
		if err := unix.Lstat(filepath.Join(upper, p), &st); err != nil || st.Uid != 0 {
			t.Errorf("%s on disk: uid %d, %v; want 0", p, st.Uid, err)
		}
	}
	if err := d.Snapshot(c.Name, "s"); err != nil {
		t.Fatal(err)
	}
	inZone("echo 2 > g")
	c2, err := d.Clone(c.Name+"@s", "zones/z2")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(c2.Mountpoint, "g")); string(b) != "1\n" {
		t.Errorf("snapshot taken under an idmapped mount changed: g = %q", b)
	}
}

// TestRecover leaves the debris of crashes behind and opens the pool.
func TestRecover(t *testing.T) {
	pooltest.RequireRoot(t)
	d, base := newPool(t)
	a, _ := d.Create("zones/a")
	os.WriteFile(filepath.Join(a.Mountpoint, "f"), []byte("x"), 0o644)
	b, _ := d.Create("zones/b")
	if err := d.Unmount(b.Name); err != nil {
		t.Fatal(err)
	}
	// Debris: an unreferenced layer and work dir, a metadata temp file,
	// a dataset unmounted behind the driver's back, a stale overlay at a
	// name that no longer exists, an empty orphan mountpoint.
	store := filepath.Join(base, "pool")
	os.MkdirAll(filepath.Join(store, "layers", "deadbeef", "sub"), 0o755)
	os.MkdirAll(filepath.Join(store, "work", "deadbeef"), 0o755)
	os.WriteFile(filepath.Join(store, "meta", ".tmp-123"), []byte("{"), 0o644)
	if err := unix.Unmount(a.Mountpoint, 0); err != nil {
		t.Fatal(err)
	}
	ghost := filepath.Join(base, "zones", "ghost")
	os.MkdirAll(ghost, 0o755)
	os.MkdirAll(filepath.Join(store, "layers", "ghostup"), 0o755)
	os.MkdirAll(filepath.Join(store, "work", "ghostup"), 0o755)
	if err := mountOverlay(ghost, []string{filepath.Join(store, "empty")},
		filepath.Join(store, "layers", "ghostup"), filepath.Join(store, "work", "ghostup")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(base, "zones", "orphan"), 0o755)

	// Opening the pool again recovers it.
	if _, err := New(store, filepath.Join(base, "zones"), "zones"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"layers/deadbeef", "work/deadbeef", "meta/.tmp-123", "layers/ghostup"} {
		if _, err := os.Stat(filepath.Join(store, p)); err == nil {
			t.Errorf("%s survived recovery", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(a.Mountpoint, "f")); string(b) != "x" {
		t.Errorf("a not mounted again: %q, %v", b, err)
	}
	if got := mountsUnder(t, base); len(got) != 1 || got[0] != a.Mountpoint {
		t.Errorf("mounts after recovery = %v, want only %s (b stays unmounted)", got, a.Mountpoint)
	}
	for _, p := range []string{ghost, filepath.Join(base, "zones", "orphan")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s survived recovery", p)
		}
	}
}

// TestCrash kills a process running pool operations at random moments;
// after each kill, the reopened pool must be whole (pooltest.CheckChurn)
// and, once everything is destroyed, hold nothing at all.
func TestCrash(t *testing.T) {
	const env = "HULL_POOL_CRASH_CHILD"
	open := func(store, mroot string) (pool.Driver, error) { return New(store, mroot, pooltest.Pool) }
	pooltest.CrashChild(env, open)
	pooltest.RequireRoot(t)
	_, base := newPool(t)
	store, mroot := filepath.Join(base, "pool"), filepath.Join(base, "zones")
	pooltest.Crash(t, env, store, mroot, 25, 20*time.Millisecond, open)
	for _, sub := range []string{"layers", "work", "meta"} {
		if ents, _ := os.ReadDir(filepath.Join(store, sub)); len(ents) > 0 {
			t.Errorf("%s/ holds %d entries after destroying everything", sub, len(ents))
		}
	}
	if m := mountsUnder(t, base); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
}

// BenchmarkClone measures Clone of an image snapshot (and, for scale,
// the Destroy that follows each one, reported separately).
func BenchmarkClone(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("must run as root")
	}
	d, _ := newPool(b)
	img, err := d.Create("zones/img")
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		p := filepath.Join(img.Mountpoint, fmt.Sprintf("d%d/f%d", i%50, i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, make([]byte, 4096), 0o644)
	}
	if err := d.Snapshot(img.Name, "final"); err != nil {
		b.Fatal(err)
	}
	var names []string
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("zones/c%d", i)
		i++
		if _, err := d.Clone("zones/img@final", name); err != nil {
			b.Fatal(err)
		}
		names = append(names, name)
	}
	b.StopTimer()
	start := time.Now()
	for _, n := range names {
		if err := d.Destroy(n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(len(names)), "destroy-ns/op")
}

// TestRenameMoves: a mounted dataset is moved to its new mountpoint, so
// it may be renamed while a file in it is open; under a shared mount,
// where the kernel refuses the move, it is mounted again there instead,
// which an open file prevents (and the rename then changes nothing).
func TestRenameMoves(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			d, base := newPool(t)
			if shared {
				// The mount root its own shared mount: the datasets'
				// parent mount is shared.
				zones := filepath.Join(base, "zones")
				if err := unix.Mount(zones, zones, "", unix.MS_BIND, ""); err != nil {
					t.Fatal(err)
				}
				if err := unix.Mount("", zones, "", unix.MS_SHARED, ""); err != nil {
					t.Fatal(err)
				}
			}
			a, err := d.Create(pooltest.Pool + "/a-partial")
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Create(filepath.Join(a.Mountpoint, "f"))
			if err != nil {
				t.Fatal(err)
			}
			err = d.Rename(pooltest.Pool+"/a-partial", pooltest.Pool+"/a")
			if shared {
				if !errors.Is(err, unix.EBUSY) {
					t.Fatalf("rename of a busy dataset under a shared mount: %v", err)
				}
				if _, gerr := d.Get(pooltest.Pool + "/a-partial"); gerr != nil {
					t.Errorf("after the refused rename: %v", gerr)
				}
				f.Close()
				err = d.Rename(pooltest.Pool+"/a-partial", pooltest.Pool+"/a")
			}
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			got, err := d.Get(pooltest.Pool + "/a")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(got.Mountpoint, "f")); err != nil {
				t.Errorf("file after rename: %v", err)
			}
			table, err := mounts.Read()
			if err != nil {
				t.Fatal(err)
			}
			if m := mounts.TopAt(table, got.Mountpoint); m == nil || m.FSType != "overlay" {
				t.Errorf("nothing mounted at %s", got.Mountpoint)
			}
			old := filepath.Join(base, "zones", "a-partial")
			if m := mounts.TopAt(table, old); m != nil && m.Target == old {
				t.Errorf("still mounted at %s", old)
			}
			if _, err := os.Stat(old); !os.IsNotExist(err) {
				t.Errorf("old mountpoint left: %v", err)
			}
		})
	}
}

// TestRenameFailsWhole: a rename whose metadata cannot be written leaves
// the dataset as it was, mounted where it was, and no new mountpoint.
func TestRenameFailsWhole(t *testing.T) {
	d, base := newPool(t)
	a, err := d.Create(pooltest.Pool + "/a-partial")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.Mountpoint, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An immutable metadata directory: not even root adds a file to it.
	meta, err := os.Open(filepath.Join(base, "pool", "meta"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	flags, err := unix.IoctlGetUint32(int(meta.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		t.Fatalf("file attributes (needed to make a save fail): %v", err)
	}
	const immutable = 0x10 // FS_IMMUTABLE_FL, linux/fs.h
	if err := unix.IoctlSetPointerInt(int(meta.Fd()), unix.FS_IOC_SETFLAGS, int(flags|immutable)); err != nil {
		t.Fatalf("make the metadata immutable: %v", err)
	}
	defer unix.IoctlSetPointerInt(int(meta.Fd()), unix.FS_IOC_SETFLAGS, int(flags))

	if err := d.Rename(pooltest.Pool+"/a-partial", pooltest.Pool+"/a"); err == nil {
		t.Fatal("rename succeeded without its metadata")
	}
	unix.IoctlSetPointerInt(int(meta.Fd()), unix.FS_IOC_SETFLAGS, int(flags))
	got, err := d.Get(pooltest.Pool + "/a-partial")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(got.Mountpoint, "f")); err != nil || string(b) != "x" {
		t.Errorf("file at the old mountpoint: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(base, "zones", "a")); !os.IsNotExist(err) {
		t.Errorf("new mountpoint left: %v", err)
	}
}
