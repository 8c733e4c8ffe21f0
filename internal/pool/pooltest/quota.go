package pooltest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"hull/internal/pool"
)

const mib = 1 << 20

// setQuota sets a quota, skipping the test for drivers without quotas.
func setQuota(t *testing.T, d pool.Driver, name string, bytes int64) {
	t.Helper()
	err := d.SetQuota(name, bytes)
	if errors.Is(err, pool.ErrNotSupported) {
		t.Skipf("%s: quotas not supported", d.Name())
	}
	if err != nil {
		t.Fatalf("SetQuota(%s, %d): %v", name, bytes, err)
	}
}

func isFull(err error) bool { return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) }

// testQuotaLive changes a quota while the dataset holds data: lowering it
// stops further writes at once, raising it lets them through.
func testQuotaLive(t *testing.T, d pool.Driver) {
	a := create(t, d, "a")
	setQuota(t, d, a.Name, 16*mib)
	if err := fill(filepath.Join(a.Mountpoint, "f1"), 4*mib); err != nil {
		t.Fatalf("writing under the quota: %v", err)
	}
	setQuota(t, d, a.Name, 6*mib)
	if err := fill(filepath.Join(a.Mountpoint, "f2"), 8*mib); !isFull(err) {
		t.Errorf("writing past a lowered quota: %v, want ENOSPC or EDQUOT", err)
	}
	os.Remove(filepath.Join(a.Mountpoint, "f2"))
	setQuota(t, d, a.Name, 64*mib)
	if g, err := d.Get(a.Name); err != nil || g.Quota != 64*mib {
		t.Errorf("Get after raising = %+v, %v", g, err)
	}
	if err := fill(filepath.Join(a.Mountpoint, "f3"), 16*mib); err != nil {
		t.Errorf("writing under a raised quota: %v", err)
	}
	want(t, a.Mountpoint, map[string]string{}) // still readable
	if _, err := os.Stat(filepath.Join(a.Mountpoint, "f1")); err != nil {
		t.Errorf("data written before the changes: %v", err)
	}
}

// testQuotaContainment fills one dataset's quota: another dataset, a
// clone of the same image, must not notice.
func testQuotaContainment(t *testing.T, d pool.Driver) {
	img := create(t, d, "img")
	write(t, img.Mountpoint, "etc/motd", "image")
	snapshot(t, d, "img", "final")
	full := clone(t, d, "img@final", "full")
	other := clone(t, d, "img@final", "other")
	setQuota(t, d, full.Name, 8*mib)
	setQuota(t, d, other.Name, 64*mib)
	if err := fill(filepath.Join(full.Mountpoint, "big"), 32*mib); !isFull(err) {
		t.Fatalf("filling the quota: %v, want ENOSPC or EDQUOT", err)
	}
	// Even small writes fail in the full dataset ...
	err := fill(filepath.Join(full.Mountpoint, "more"), 1*mib)
	if !isFull(err) {
		t.Errorf("writing to a full dataset: %v", err)
	}
	// ... while the other one works as before.
	if err := fill(filepath.Join(other.Mountpoint, "big"), 16*mib); err != nil {
		t.Errorf("a neighbour of a full dataset: %v", err)
	}
	write(t, other.Mountpoint, "etc/new", "n")
	want(t, other.Mountpoint, map[string]string{"etc/motd": "image", "etc/new": "n"})
	// Freeing space in the full one lets it write again.
	os.Remove(filepath.Join(full.Mountpoint, "big"))
	os.Remove(filepath.Join(full.Mountpoint, "more"))
	syncFS(full.Mountpoint)
	if err := fill(filepath.Join(full.Mountpoint, "small"), 1*mib); err != nil {
		t.Errorf("writing after freeing space: %v", err)
	}
}

// syncFS commits the filesystem holding p (freed space and usage
// accounting show up at commit on copy-on-write filesystems).
func syncFS(p string) {
	if f, err := os.Open(p); err == nil {
		unix.Syncfs(int(f.Fd()))
		f.Close()
	}
}

// testUsageSharedClones makes 20 clones of an image holding 8 MiB: they
// must cost about nothing, and each must refer to the image's data.
func testUsageSharedClones(t *testing.T, d pool.Driver) {
	img := create(t, d, "img")
	data := make([]byte, 8*mib)
	rand.Read(data) // incompressible
	if err := os.WriteFile(filepath.Join(img.Mountpoint, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	snapshot(t, d, "img", "final")
	for i := range 20 {
		clone(t, d, "img@final", fmt.Sprintf("c%d", i))
	}
	syncFS(img.Mountpoint)
	g, err := d.Get(ds("img"))
	if err != nil {
		t.Fatal(err)
	}
	if g.Used == -1 {
		t.Skipf("%s: no usage accounting", d.Name())
	}
	if g.Refer < 8*mib {
		t.Errorf("image refers to %d bytes, want at least 8 MiB", g.Refer)
	}
	var used int64
	for i := range 20 {
		c, err := d.Get(ds(fmt.Sprintf("c%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if c.Refer != -1 && c.Refer < 8*mib {
			t.Errorf("%s refers to %d bytes, want the image's 8 MiB", c.Name, c.Refer)
		}
		used += c.Used
	}
	if used > mib {
		t.Errorf("20 clones use %d bytes, want less than 1 MiB", used)
	}
	// A clone that rewrites the data pays for it alone.
	c0 := ds("c0")
	if err := os.WriteFile(filepath.Join(d0(t, d, c0), "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	syncFS(img.Mountpoint)
	if c, err := d.Get(c0); err != nil || c.Used < 8*mib {
		t.Errorf("clone after rewriting 8 MiB: %+v, %v", c, err)
	}
	if c, err := d.Get(ds("c1")); err != nil || c.Used > mib/2 {
		t.Errorf("untouched clone: %+v, %v", c, err)
	}
}

func d0(t *testing.T, d pool.Driver, name string) string {
	t.Helper()
	g, err := d.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return g.Mountpoint
}
