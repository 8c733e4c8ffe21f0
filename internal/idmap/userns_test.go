package idmap

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"hull/internal/testenv"
)

func nsInode(t *testing.T, f *os.File) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestUsernsKept checks that a range's namespace is made once and served
// again, whatever the callers close, and that the cache stays bounded.
func TestUsernsKept(t *testing.T) {
	testenv.RequireRoot(t)
	r := SlotRange(7)
	a, err := UsernsFD(r)
	if err != nil {
		t.Fatal(err)
	}
	ino := nsInode(t, a)
	a.Close()
	b, err := UsernsFD(r)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := nsInode(t, b); got != ino {
		t.Errorf("second UsernsFD of a range: namespace %d, want the first's %d", got, ino)
	}
	c, err := UsernsFD(SlotRange(8))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if nsInode(t, c) == ino {
		t.Error("two ranges share a namespace")
	}
	for i := range usernsCacheMax + 2 {
		f, err := UsernsFD(SlotRange(100 + i))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	usernses.Lock()
	n := len(usernses.m)
	usernses.Unlock()
	if n > usernsCacheMax {
		t.Errorf("%d namespaces kept, want at most %d", n, usernsCacheMax)
	}
}

// TestPrewarm: Prewarm makes the lowest free range's namespace kept, and
// NextFree follows allocations.
func TestPrewarm(t *testing.T) {
	testenv.RequireRoot(t)
	a, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Allocate("a"); err != nil {
		t.Fatal(err)
	}
	next, err := a.NextFree()
	if err != nil {
		t.Fatal(err)
	}
	if next != SlotRange(1) {
		t.Fatalf("NextFree = %v, want %v", next, SlotRange(1))
	}
	if err := Prewarm(next); err != nil {
		t.Fatal(err)
	}
	if !Kept(next) {
		t.Errorf("%v not kept after Prewarm", next)
	}
}
