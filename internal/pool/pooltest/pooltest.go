// Package pooltest is the conformance suite every pool driver passes, in
// the manner of containerd's snapshotter testsuite: Run exercises one
// driver through datasets, snapshots, clones, rollback, rename, mounts,
// names, errors, quotas (enforced, live, contained) and usage accounting
// against the real kernel. Churn and CheckChurn serve crash tests that
// kill a process in the middle of operations.
package pooltest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/pool"
	"hull/internal/pool/mounts"
	"hull/internal/testenv"
)

// Pool is the pool name the drivers under test must be opened with.
const Pool = "zones"

// RequireRoot fails the test in CI (CI=true) and skips it elsewhere when
// not running as root: every pool test mounts.
func RequireRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t)
}

// Run runs the suite. newDriver opens a fresh, empty pool named Pool and
// registers the cleanup (destroying and unmounting everything) itself.
func Run(t *testing.T, newDriver func(t *testing.T) pool.Driver) {
	RequireRoot(t)
	tests := []struct {
		name string
		fn   func(t *testing.T, d pool.Driver)
	}{
		{"CreateWrite", testCreateWrite},
		{"SnapshotKeepsContent", testSnapshotKeepsContent},
		{"SnapshotBusy", testSnapshotBusy},
		{"CloneIsolation", testCloneIsolation},
		{"CloneOfClone", testCloneOfClone},
		{"Metadata", testMetadata},
		{"Deletions", testDeletions},
		{"DestroyDependents", testDestroyDependents},
		{"Rollback", testRollback},
		{"Rename", testRename},
		{"MountRoundTrip", testMountRoundTrip},
		{"GetList", testGetList},
		{"InvalidNames", testInvalidNames},
		{"NotFoundExists", testNotFoundExists},
		{"Quota", testQuota},
		{"QuotaLive", testQuotaLive},
		{"QuotaContainment", testQuotaContainment},
		{"UsageSharedClones", testUsageSharedClones},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newDriver(t)) })
	}
}

func ds(name string) string { return Pool + "/" + name }

func create(t *testing.T, d pool.Driver, name string) *pool.Dataset {
	t.Helper()
	got, err := d.Create(ds(name))
	if err != nil {
		t.Fatalf("Create(%s): %v", name, err)
	}
	if got.Mountpoint == "" {
		t.Fatalf("Create(%s): no mountpoint", name)
	}
	return got
}

func clone(t *testing.T, d pool.Driver, snap, name string) *pool.Dataset {
	t.Helper()
	got, err := d.Clone(ds(snap), ds(name))
	if err != nil {
		t.Fatalf("Clone(%s, %s): %v", snap, name, err)
	}
	return got
}

func snapshot(t *testing.T, d pool.Driver, name, snap string) {
	t.Helper()
	if err := d.Snapshot(ds(name), snap); err != nil {
		t.Fatalf("Snapshot(%s@%s): %v", name, snap, err)
	}
}

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// want checks files: content, or "" for a file that must not exist.
func want(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		switch {
		case content == "" && !errors.Is(err, os.ErrNotExist):
			t.Errorf("%s/%s: want absent, got %q, %v", dir, rel, b, err)
		case content != "" && err != nil:
			t.Errorf("%s/%s: %v", dir, rel, err)
		case content != "" && string(b) != content:
			t.Errorf("%s/%s = %q, want %q", dir, rel, b, content)
		}
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got %v, want %v", what, err, target)
	}
}

func testCreateWrite(t *testing.T, d pool.Driver) {
	a := create(t, d, "a")
	write(t, a.Mountpoint, "etc/motd", "hello")
	want(t, a.Mountpoint, map[string]string{"etc/motd": "hello"})
	got, err := d.Get(ds("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != ds("a") || got.Mountpoint != a.Mountpoint || got.Origin != "" {
		t.Errorf("Get = %+v, want name %s at %s, no origin", got, ds("a"), a.Mountpoint)
	}
	_, err = d.Create(ds("a"))
	wantErr(t, "Create twice", err, pool.ErrExists)
}

func testSnapshotKeepsContent(t *testing.T, d pool.Driver) {
	a := create(t, d, "a")
	write(t, a.Mountpoint, "f", "v1")
	write(t, a.Mountpoint, "gone", "x")
	snapshot(t, d, "a", "s1")
	write(t, a.Mountpoint, "f", "v2")
	write(t, a.Mountpoint, "new", "n")
	if err := os.Remove(filepath.Join(a.Mountpoint, "gone")); err != nil {
		t.Fatal(err)
	}
	s, err := d.Get(ds("a@s1"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Mountpoint != "" {
		t.Errorf("snapshot has mountpoint %q", s.Mountpoint)
	}
	_, err = d.Mount(ds("a@s1"))
	wantErr(t, "Mount(snapshot)", err, pool.ErrSnapshotNotRO)
	wantErr(t, "Snapshot twice", d.Snapshot(ds("a"), "s1"), pool.ErrExists)
	c := clone(t, d, "a@s1", "c")
	want(t, c.Mountpoint, map[string]string{"f": "v1", "gone": "x", "new": ""})
	want(t, a.Mountpoint, map[string]string{"f": "v2", "gone": "", "new": "n"})
	// The dataset stays writable after any number of snapshots.
	snapshot(t, d, "a", "s2")
	write(t, a.Mountpoint, "f", "v3")
	snapshot(t, d, "a", "s3")
	c2 := clone(t, d, "a@s2", "c2")
	want(t, c2.Mountpoint, map[string]string{"f": "v2", "gone": "", "new": "n"})
	want(t, a.Mountpoint, map[string]string{"f": "v3"})
}

// testSnapshotBusy snapshots datasets that are in use (an open file, a
// process's cwd): the snapshot must still be exact.
func testSnapshotBusy(t *testing.T, d pool.Driver) {
	a := create(t, d, "a")
	write(t, a.Mountpoint, "f", "v1")
	snapshot(t, d, "a", "base")
	c := clone(t, d, "a@base", "c")
	for _, x := range []*pool.Dataset{a, c} {
		m := x.Mountpoint
		write(t, m, "g", "busy")
		f, err := os.Open(filepath.Join(m, "f"))
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(x.Name, Pool+"/")
		snapshot(t, d, name, "busy")
		write(t, m, "g", "after")
		f.Close()
		cl := clone(t, d, name+"@busy", name+"-busy")
		want(t, cl.Mountpoint, map[string]string{"f": "v1", "g": "busy"})
		want(t, m, map[string]string{"g": "after"})
	}
}

func testCloneIsolation(t *testing.T, d pool.Driver) {
	a := create(t, d, "a")
	write(t, a.Mountpoint, "shared", "s")
	write(t, a.Mountpoint, "dir/inner", "i")
	snapshot(t, d, "a", "final")
	c1 := clone(t, d, "a@final", "c1")
	c2 := clone(t, d, "a@final", "c2")
	if c1.Origin != ds("a@final") {
		t.Errorf("clone origin = %q, want %s", c1.Origin, ds("a@final"))
	}
	want(t, c1.Mountpoint, map[string]string{"shared": "s", "dir/inner": "i"})
	write(t, c1.Mountpoint, "shared", "c1")
	write(t, c1.Mountpoint, "only1", "1")
	write(t, c2.Mountpoint, "dir/inner", "c2")
	if err := os.RemoveAll(filepath.Join(c2.Mountpoint, "shared")); err != nil {
		t.Fatal(err)
	}
	want(t, a.Mountpoint, map[string]string{"shared": "s", "dir/inner": "i", "only1": ""})
	want(t, c1.Mountpoint, map[string]string{"shared": "c1", "dir/inner": "i", "only1": "1"})
	want(t, c2.Mountpoint, map[string]string{"shared": "", "dir/inner": "c2", "only1": ""})
	c3 := clone(t, d, "a@final", "c3")
	want(t, c3.Mountpoint, map[string]string{"shared": "s", "dir/inner": "i"})
}

func testCloneOfClone(t *testing.T, d pool.Driver) {
	a := create(t, d, "img")
	write(t, a.Mountpoint, "base", "b")
	write(t, a.Mountpoint, "del", "d")
	snapshot(t, d, "img", "final")
	c1 := clone(t, d, "img@final", "c1")
	write(t, c1.Mountpoint, "mid", "m")
	os.Remove(filepath.Join(c1.Mountpoint, "del"))
	snapshot(t, d, "c1", "s")
	c2 := clone(t, d, "c1@s", "c2")
	if c2.Origin != ds("c1@s") {
		t.Errorf("origin = %q, want %s", c2.Origin, ds("c1@s"))
	}
	want(t, c2.Mountpoint, map[string]string{"base": "b", "mid": "m", "del": ""})
	write(t, c2.Mountpoint, "top", "t")
	write(t, c2.Mountpoint, "base", "b2")
	want(t, c1.Mountpoint, map[string]string{"top": "", "base": "b"})
	want(t, a.Mountpoint, map[string]string{"top": "", "mid": "", "base": "b", "del": "d"})
	// And one more generation.
	snapshot(t, d, "c2", "s")
	c3 := clone(t, d, "c2@s", "c3")
	want(t, c3.Mountpoint, map[string]string{"base": "b2", "mid": "m", "top": "t", "del": ""})
}

// tree is a file tree with the metadata a copy must keep.
var epoch = time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)

func makeTree(t *testing.T, root string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(root, "d"), 0o750))
	must(os.Chown(filepath.Join(root, "d"), 1000, 1001))
	write(t, root, "d/f", "data")
	f := filepath.Join(root, "d/f")
	must(os.Chown(f, 1002, 1003))
	must(unix.Chmod(f, 0o4711))
	must(unix.Lsetxattr(f, "user.hull", []byte("xv"), 0))
	must(os.Link(f, filepath.Join(root, "d/h")))
	must(os.Symlink("d/f", filepath.Join(root, "l")))
	must(os.Lchown(filepath.Join(root, "l"), 1004, 1005))
	must(unix.Mknod(filepath.Join(root, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Chmod(filepath.Join(root, "null"), 0o666)) // past the umask
	must(unix.Mkfifo(filepath.Join(root, "p"), 0o600))
	ts := []unix.Timespec{unix.NsecToTimespec(epoch.UnixNano()), unix.NsecToTimespec(epoch.UnixNano())}
	for _, p := range []string{"d/f", "l", "d"} {
		must(unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(root, p), ts, unix.AT_SYMLINK_NOFOLLOW))
	}
}

func checkTree(t *testing.T, root string) {
	t.Helper()
	st := func(rel string) *unix.Stat_t {
		t.Helper()
		var s unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, rel), &s); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		return &s
	}
	tests := []struct {
		rel      string
		mode     uint32
		uid, gid uint32
		mtime    bool
	}{
		{"d", unix.S_IFDIR | 0o750, 1000, 1001, true},
		{"d/f", unix.S_IFREG | 0o4711, 1002, 1003, true},
		{"l", unix.S_IFLNK | 0o777, 1004, 1005, true},
		{"null", unix.S_IFCHR | 0o666, 0, 0, false},
		{"p", unix.S_IFIFO | 0o600, 0, 0, false},
	}
	for _, tc := range tests {
		s := st(tc.rel)
		if s.Mode != tc.mode || s.Uid != tc.uid || s.Gid != tc.gid {
			t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", tc.rel, s.Mode, s.Uid, s.Gid, tc.mode, tc.uid, tc.gid)
		}
		if tc.mtime && time.Unix(s.Mtim.Unix()).UTC() != epoch {
			t.Errorf("%s: mtime %v, want %v", tc.rel, time.Unix(s.Mtim.Unix()).UTC(), epoch)
		}
	}
	if s := st("null"); s.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("null: rdev %x", s.Rdev)
	}
	if st("d/f").Ino != st("d/h").Ino {
		t.Errorf("d/h is no longer a hardlink of d/f")
	}
	if l, err := os.Readlink(filepath.Join(root, "l")); err != nil || l != "d/f" {
		t.Errorf("l -> %q, %v", l, err)
	}
	buf := make([]byte, 16)
	n, err := unix.Lgetxattr(filepath.Join(root, "d/f"), "user.hull", buf)
	if err != nil || string(buf[:n]) != "xv" {
		t.Errorf("xattr user.hull = %q, %v", buf[:max(n, 0)], err)
	}
	want(t, root, map[string]string{"d/f": "data", "d/h": "data"})
}

// testMetadata checks that snapshots keep owners, modes, xattrs, times,
// symlinks, hardlinks and device nodes, whether taken idle or busy.
func testMetadata(t *testing.T, d pool.Driver) {
	for _, busy := range []bool{false, true} {
		name := fmt.Sprintf("busy-%v", busy)
		a := create(t, d, name)
		makeTree(t, a.Mountpoint)
		if busy {
			f, err := os.Open(filepath.Join(a.Mountpoint, "d/f"))
			if err != nil {
				t.Fatal(err)
			}
			snapshot(t, d, name, "s")
			f.Close()
		} else {
			snapshot(t, d, name, "s")
		}
		checkTree(t, a.Mountpoint)
		c := clone(t, d, name+"@s", name+"-c")
		checkTree(t, c.Mountpoint)
	}
}

// testDeletions snapshots a busy clone holding deletions and replaced
// directories: the next clone must see them.
func testDeletions(t *testing.T, d pool.Driver) {
	a := create(t, d, "a")
	write(t, a.Mountpoint, "dir/x", "x")
	write(t, a.Mountpoint, "dir/y", "y")
	write(t, a.Mountpoint, "file", "f")
	write(t, a.Mountpoint, "keep/k", "k")
	snapshot(t, d, "a", "s")
	c := clone(t, d, "a@s", "c")
	for _, p := range []string{"dir", "file"} {
		if err := os.RemoveAll(filepath.Join(c.Mountpoint, p)); err != nil {
			t.Fatal(err)
		}
	}
	write(t, c.Mountpoint, "dir/z", "z") // a new directory over the old one
	os.Remove(filepath.Join(c.Mountpoint, "keep/k"))
	cwd, _ := os.Getwd()
	if err := os.Chdir(c.Mountpoint); err != nil {
		t.Fatal(err)
	}
	snapshot(t, d, "c", "s")
	os.Chdir(cwd)
	c2 := clone(t, d, "c@s", "c2")
	want(t, c2.Mountpoint, map[string]string{"dir/x": "", "dir/y": "", "dir/z": "z", "file": "", "keep/k": ""})
	if _, err := os.Stat(filepath.Join(c2.Mountpoint, "keep")); err != nil {
		t.Errorf("keep/: %v", err)
	}
}

func testDestroyDependents(t *testing.T, d pool.Driver) {
	a := create(t, d, "a")
	write(t, a.Mountpoint, "f", "x")
	snapshot(t, d, "a", "s")
	snapshot(t, d, "a", "unused")
	c := clone(t, d, "a@s", "c")
	snapshot(t, d, "c", "s")
	cc := clone(t, d, "c@s", "cc")
	wantErr(t, "Destroy(origin)", d.Destroy(ds("a")), pool.ErrHasDependents)
	wantErr(t, "Destroy(origin@s)", d.Destroy(ds("a@s")), pool.ErrHasDependents)
	wantErr(t, "Destroy(clone with clone)", d.Destroy(ds("c")), pool.ErrHasDependents)
	if err := d.Destroy(ds("a@unused")); err != nil {
		t.Fatalf("Destroy unused snapshot: %v", err)
	}
	want(t, c.Mountpoint, map[string]string{"f": "x"})
	for _, n := range []string{"cc", "c", "a@s", "a"} {
		if err := d.Destroy(ds(n)); err != nil {
			t.Fatalf("Destroy(%s): %v", n, err)
		}
		_, err := d.Get(ds(n))
		wantErr(t, "Get after Destroy", err, pool.ErrNotFound)
		wantErr(t, "Destroy twice", d.Destroy(ds(n)), pool.ErrNotFound)
	}
	for _, m := range []string{a.Mountpoint, c.Mountpoint, cc.Mountpoint} {
		if ents, err := os.ReadDir(m); err == nil && len(ents) > 0 {
			t.Errorf("%s still holds %d entries", m, len(ents))
		}
	}
	if l, err := d.List(); err != nil || len(l) != 0 {
		t.Errorf("List after destroying all = %v, %v", l, err)
	}
}

func testRollback(t *testing.T, d pool.Driver) {
	a := create(t, d, "a")
	write(t, a.Mountpoint, "f", "1")
	snapshot(t, d, "a", "s1")
	write(t, a.Mountpoint, "f", "2")
	write(t, a.Mountpoint, "g", "2")
	snapshot(t, d, "a", "s2")
	write(t, a.Mountpoint, "f", "3")
	snapshot(t, d, "a", "s3")
	write(t, a.Mountpoint, "f", "4")
	c := clone(t, d, "a@s3", "c")
	wantErr(t, "Rollback past a cloned snapshot", d.Rollback(ds("a@s1")), pool.ErrHasDependents)
	want(t, a.Mountpoint, map[string]string{"f": "4"})
	if err := d.Destroy(c.Name); err != nil {
		t.Fatal(err)
	}
	if err := d.Rollback(ds("a@s2")); err != nil {
		t.Fatal(err)
	}
	want(t, a.Mountpoint, map[string]string{"f": "2", "g": "2"})
	_, err := d.Get(ds("a@s3"))
	wantErr(t, "Get(newer snapshot)", err, pool.ErrNotFound)
	write(t, a.Mountpoint, "f", "5")
	if err := d.Rollback(ds("a@s1")); err != nil {
		t.Fatal(err)
	}
	want(t, a.Mountpoint, map[string]string{"f": "1", "g": ""})
	if _, err := d.Get(ds("a@s1")); err != nil {
		t.Errorf("the snapshot rolled back to is gone: %v", err)
	}
	_, err = d.Get(ds("a@s2"))
	wantErr(t, "Get(newer snapshot)", err, pool.ErrNotFound)
	write(t, a.Mountpoint, "f", "6")
	if err := d.Rollback(ds("a@s1")); err != nil {
		t.Fatal(err)
	}
	want(t, a.Mountpoint, map[string]string{"f": "1"})
	wantErr(t, "Rollback(missing)", d.Rollback(ds("a@nope")), pool.ErrNotFound)
}

func testRename(t *testing.T, d pool.Driver) {
	a := create(t, d, "img-partial")
	write(t, a.Mountpoint, "f", "x")
	snapshot(t, d, "img-partial", "final")
	c := clone(t, d, "img-partial@final", "c")
	create(t, d, "other")
	wantErr(t, "Rename onto existing", d.Rename(ds("img-partial"), ds("other")), pool.ErrExists)
	wantErr(t, "Rename missing", d.Rename(ds("nope"), ds("nope2")), pool.ErrNotFound)
	if err := d.Rename(ds("img-partial"), ds("img")); err != nil {
		t.Fatal(err)
	}
	_, err := d.Get(ds("img-partial"))
	wantErr(t, "Get(old name)", err, pool.ErrNotFound)
	got, err := d.Get(ds("img"))
	if err != nil {
		t.Fatal(err)
	}
	want(t, got.Mountpoint, map[string]string{"f": "x"})
	if _, err := d.Get(ds("img@final")); err != nil {
		t.Errorf("snapshot did not follow: %v", err)
	}
	if cg, err := d.Get(c.Name); err != nil || cg.Origin != ds("img@final") {
		t.Errorf("clone origin after rename = %+v, %v", cg, err)
	}
	if err := d.Rename(ds("img@final"), ds("img@v1")); err != nil {
		t.Errorf("Rename snapshot: %v", err)
	}
	wantErr(t, "Rename snapshot across datasets", d.Rename(ds("img@v1"), ds("other@v1")), pool.ErrInvalidName)
	wantErr(t, "Rename dataset to snapshot", d.Rename(ds("img"), ds("img@x")), pool.ErrInvalidName)
	c2 := clone(t, d, "img@v1", "c2")
	want(t, c2.Mountpoint, map[string]string{"f": "x"})
}

// mountCount counts mounts stacked at p.
func mountCount(t *testing.T, p string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == p {
			n++
		}
	}
	return n
}

func testMountRoundTrip(t *testing.T, d pool.Driver) {
	a := create(t, d, "a")
	write(t, a.Mountpoint, "f", "x")
	snapshot(t, d, "a", "s")
	c := clone(t, d, "a@s", "c")
	write(t, c.Mountpoint, "g", "y")
	for _, x := range []*pool.Dataset{a, c} {
		for range 2 {
			if err := d.Unmount(x.Name); err != nil {
				t.Fatalf("Unmount(%s): %v", x.Name, err)
			}
		}
		if _, err := os.Stat(filepath.Join(x.Mountpoint, "f")); err == nil {
			t.Errorf("%s: file visible after Unmount", x.Name)
		}
		for range 2 {
			got, err := d.Mount(x.Name)
			if err != nil {
				t.Fatalf("Mount(%s): %v", x.Name, err)
			}
			if got.Mountpoint != x.Mountpoint {
				t.Errorf("Mount(%s) at %s, was %s", x.Name, got.Mountpoint, x.Mountpoint)
			}
		}
		if n := mountCount(t, x.Mountpoint); n > 1 {
			t.Errorf("%s: %d mounts stacked", x.Mountpoint, n)
		}
	}
	want(t, a.Mountpoint, map[string]string{"f": "x", "g": ""})
	want(t, c.Mountpoint, map[string]string{"f": "x", "g": "y"})
	_, err := d.Mount(ds("nope"))
	wantErr(t, "Mount(missing)", err, pool.ErrNotFound)
	wantErr(t, "Unmount(missing)", d.Unmount(ds("nope")), pool.ErrNotFound)
}

func testGetList(t *testing.T, d pool.Driver) {
	b := create(t, d, "b")
	write(t, b.Mountpoint, "big", strings.Repeat("x", 1<<20))
	snapshot(t, d, "b", "final")
	c := clone(t, d, "b@final", "a")
	g, err := d.Get(ds("b"))
	if err != nil {
		t.Fatal(err)
	}
	if g.Refer != -1 && g.Refer < 1<<20 {
		t.Errorf("Refer = %d, want at least 1 MiB", g.Refer)
	}
	if g.Created <= 0 || g.Created > time.Now().Unix()+1 {
		t.Errorf("Created = %d", g.Created)
	}
	l, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range l {
		names = append(names, x.Name)
		switch x.Name {
		case ds("a"):
			if x.Origin != ds("b@final") || x.Mountpoint != c.Mountpoint {
				t.Errorf("List: %+v", x)
			}
		case ds("b"):
			if x.Origin != "" || x.Mountpoint != b.Mountpoint {
				t.Errorf("List: %+v", x)
			}
		case ds("b@final"):
			if x.Origin != "" || x.Mountpoint != "" {
				t.Errorf("List: %+v", x)
			}
		}
	}
	if w := []string{ds("a"), ds("b"), ds("b@final")}; !slices.Equal(names, w) {
		t.Errorf("List names = %v, want %v", names, w)
	}
}

func testInvalidNames(t *testing.T, d pool.Driver) {
	create(t, d, "ok")
	snapshot(t, d, "ok", "s")
	bad := []string{
		"", "zones", "zones/", "other/a", "/zones/a", "zones/a/", "zones//a", "zones/a/..", "zones/.", "zones/..",
		"zones/a b", "zones/a@", "zones/a@b@c", "zones/a@" + strings.Repeat("s", pool.MaxSnapLen+1),
		"zones/a@b/c", "zones/é", "zones/a\x00",
	}
	for _, n := range bad {
		_, err := d.Create(n)
		wantErr(t, fmt.Sprintf("Create(%q)", n), err, pool.ErrInvalidName)
		_, err = d.Get(n)
		wantErr(t, fmt.Sprintf("Get(%q)", n), err, pool.ErrInvalidName)
		wantErr(t, fmt.Sprintf("Destroy(%q)", n), d.Destroy(n), pool.ErrInvalidName)
		_, err = d.Clone(ds("ok@s"), n)
		wantErr(t, fmt.Sprintf("Clone(to %q)", n), err, pool.ErrInvalidName)
	}
	for _, s := range []string{"", "a@b", "a/b", "a b", strings.Repeat("s", pool.MaxSnapLen+1)} {
		wantErr(t, fmt.Sprintf("Snapshot(ok, %q)", s), d.Snapshot(ds("ok"), s), pool.ErrInvalidName)
	}
	// Kinds: a snapshot where a dataset is needed, and back.
	_, err := d.Create(ds("ok@t"))
	wantErr(t, "Create(snapshot name)", err, pool.ErrInvalidName)
	_, err = d.Clone(ds("ok"), ds("c"))
	wantErr(t, "Clone(from a dataset)", err, pool.ErrInvalidName)
	wantErr(t, "Rollback(dataset)", d.Rollback(ds("ok")), pool.ErrInvalidName)
	for _, n := range []string{"zones/uuid-1234-partial", "zones/a.b:c_d-e", "zones/x@%.:-_9", "zones/a/b", "zones/a/b@s"} {
		if _, _, err := pool.ParseName(Pool, n); err != nil {
			t.Errorf("ParseName(%q): %v", n, err)
		}
	}
}

func testNotFoundExists(t *testing.T, d pool.Driver) {
	create(t, d, "a")
	snapshot(t, d, "a", "s")
	clone(t, d, "a@s", "c")
	wantErr(t, "Snapshot(missing)", d.Snapshot(ds("nope"), "s"), pool.ErrNotFound)
	_, err := d.Clone(ds("nope@s"), ds("x"))
	wantErr(t, "Clone(missing dataset)", err, pool.ErrNotFound)
	_, err = d.Clone(ds("a@nope"), ds("x"))
	wantErr(t, "Clone(missing snapshot)", err, pool.ErrNotFound)
	_, err = d.Clone(ds("a@s"), ds("c"))
	wantErr(t, "Clone(onto existing)", err, pool.ErrExists)
	_, err = d.Clone(ds("a@s"), ds("a"))
	wantErr(t, "Clone(onto its origin)", err, pool.ErrExists)
	wantErr(t, "Rollback(missing)", d.Rollback(ds("nope@s")), pool.ErrNotFound)
	_, err = d.Get(ds("nope"))
	wantErr(t, "Get(missing)", err, pool.ErrNotFound)
	_, err = d.Get(ds("a@nope"))
	wantErr(t, "Get(missing snapshot)", err, pool.ErrNotFound)
	wantErr(t, "Destroy(missing)", d.Destroy(ds("nope")), pool.ErrNotFound)
	wantErr(t, "Destroy(missing snapshot)", d.Destroy(ds("a@nope")), pool.ErrNotFound)
	wantErr(t, "SetQuota(missing)", d.SetQuota(ds("nope"), 1<<20), pool.ErrNotFound)
}

func testQuota(t *testing.T, d pool.Driver) {
	a := create(t, d, "a")
	err := d.SetQuota(a.Name, 1<<20)
	if errors.Is(err, pool.ErrNotSupported) {
		t.Skipf("%s: quotas not supported", d.Name())
	}
	if err != nil {
		t.Fatal(err)
	}
	if g, err := d.Get(a.Name); err != nil || g.Quota != 1<<20 {
		t.Errorf("Get after SetQuota = %+v, %v", g, err)
	}
	if err := fill(filepath.Join(a.Mountpoint, "big"), 4<<20); !errors.Is(err, unix.ENOSPC) && !errors.Is(err, unix.EDQUOT) {
		t.Errorf("writing past the quota: %v, want ENOSPC or EDQUOT", err)
	}
	os.Remove(filepath.Join(a.Mountpoint, "big"))
	if err := d.SetQuota(a.Name, 0); err != nil {
		t.Fatal(err)
	}
	if err := fill(filepath.Join(a.Mountpoint, "big"), 4<<20); err != nil {
		t.Errorf("writing after removing the quota: %v", err)
	}
}

// fill writes n bytes to p and syncs them, so a quota has its say.
func fill(p string, n int) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	buf := bytes.Repeat([]byte{1}, 64<<10)
	for w := 0; w < n && err == nil; w += len(buf) {
		_, err = f.Write(buf)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Teardown destroys every dataset of d, clones before their origins, then
// takes down whatever is still mounted under base: for tests and
// benchmarks that leave a pool behind whatever happened.
func Teardown(d pool.Driver, base string) {
	// A clone blocks its origin: destroy what can go until nothing is left.
	for pass := 0; pass < 16; pass++ {
		ds, _ := d.List()
		if len(ds) == 0 {
			break
		}
		for i := len(ds) - 1; i >= 0; i-- {
			d.Destroy(ds[i].Name)
		}
	}
	left, _ := mounts.Under(base)
	for _, m := range left {
		mounts.Unmount(m, true)
	}
}
