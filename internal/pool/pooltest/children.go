package pooltest

import (
	"os"
	"path/filepath"
	"testing"

	"hull/internal/pool"
)

// RunChildren checks child datasets ("<parent>/<child>", as a zone's
// delegated "<uuid>/data") on a driver that has them.
func RunChildren(t *testing.T, newDriver func(t *testing.T) pool.Driver) {
	RequireRoot(t)
	d := newDriver(t)
	p := create(t, d, "p")
	write(t, p.Mountpoint, "f", "parent")
	c := create(t, d, "p/c")
	if want := filepath.Join(p.Mountpoint, "c"); c.Mountpoint != want {
		t.Fatalf("child mounted at %s, want %s (a directory of its parent)", c.Mountpoint, want)
	}
	write(t, c.Mountpoint, "g", "child")
	_, err := d.Create(ds("nope/c"))
	wantErr(t, "Create(child of a missing parent)", err, pool.ErrNotFound)
	wantErr(t, "Destroy(parent)", d.Destroy(p.Name), pool.ErrHasChildren)
	wantErr(t, "Rename(parent)", d.Rename(p.Name, ds("p2")), pool.ErrHasChildren)
	if _, err := d.Get(p.Name); err != nil {
		t.Fatalf("parent after refused operations: %v", err)
	}

	// A parent's snapshot has the child's mountpoint, not its files; the
	// child's snapshots are its own.
	snapshot(t, d, "p", "s")
	snapshot(t, d, "p/c", "s")
	k := clone(t, d, "p@s", "k")
	want(t, k.Mountpoint, map[string]string{"f": "parent"})
	kc := clone(t, d, "p/c@s", "kc")
	want(t, kc.Mountpoint, map[string]string{"g": "child"})
	all, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, x := range all {
		got[x.Name] = true
	}
	for _, n := range []string{"zones/p", "zones/p/c", "zones/p/c@s", "zones/p@s"} {
		if !got[n] {
			t.Errorf("List lacks %s", n)
		}
	}

	// Unmounting the parent takes the child down with it; mounting it
	// brings both back.
	if err := d.Unmount(p.Name); err != nil {
		t.Fatalf("Unmount(parent): %v", err)
	}
	if n := mountCount(t, c.Mountpoint); n != 0 {
		t.Errorf("child still mounted (%d) after its parent's Unmount", n)
	}
	if _, err := d.Mount(p.Name); err != nil {
		t.Fatalf("Mount(parent): %v", err)
	}
	want(t, c.Mountpoint, map[string]string{"g": "child"})
	if n := mountCount(t, c.Mountpoint); n != 1 {
		t.Errorf("child mounted %d times after its parent's Mount", n)
	}

	// A rollback of the parent keeps the child mounted.
	write(t, p.Mountpoint, "later", "x")
	if err := d.Rollback(ds("p@s")); err != nil {
		t.Fatalf("Rollback(parent): %v", err)
	}
	want(t, p.Mountpoint, map[string]string{"f": "parent", "later": ""})
	want(t, c.Mountpoint, map[string]string{"g": "child"})

	// A child moves out to the top level and back.
	if err := d.Rename(c.Name, ds("out")); err != nil {
		t.Fatalf("Rename(child out): %v", err)
	}
	want(t, filepath.Join(filepath.Dir(p.Mountpoint), "out"), map[string]string{"g": "child"})
	if err := d.Rename(ds("out"), ds("k/c")); err != nil {
		t.Fatalf("Rename(into another parent): %v", err)
	}
	want(t, filepath.Join(k.Mountpoint, "c"), map[string]string{"g": "child"})
	wantErr(t, "Rename(under itself)", d.Rename(ds("kc"), ds("kc/x")), pool.ErrInvalidName)
	wantErr(t, "Rename(to a missing parent)", d.Rename(ds("kc"), ds("nope/x")), pool.ErrNotFound)

	// Children go first, then the parent.
	wantErr(t, "Destroy(k)", d.Destroy(ds("k")), pool.ErrHasChildren)
	for _, n := range []string{"kc", "k/c", "k", "p@s", "p"} {
		if err := d.Destroy(ds(n)); err != nil {
			t.Fatalf("Destroy(%s): %v", n, err)
		}
	}
	if _, err := os.Stat(p.Mountpoint); err == nil {
		t.Errorf("%s left after destroying the dataset", p.Mountpoint)
	}
}

// RefusesChildren checks a driver without child datasets: making one is
// ErrNotSupported, looking one up finds nothing.
func RefusesChildren(t *testing.T, d pool.Driver) {
	create(t, d, "p")
	_, err := d.Create(ds("p/c"))
	wantErr(t, "Create(child)", err, pool.ErrNotSupported)
	snapshot(t, d, "p", "s")
	_, err = d.Clone(ds("p@s"), ds("p/c"))
	wantErr(t, "Clone(to a child)", err, pool.ErrNotSupported)
	create(t, d, "q")
	wantErr(t, "Rename(to a child)", d.Rename(ds("q"), ds("p/q")), pool.ErrNotSupported)
	_, err = d.Get(ds("p/c"))
	wantErr(t, "Get(child)", err, pool.ErrNotFound)
}
