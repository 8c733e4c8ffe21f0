package image

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"hull/internal/testenv"
)

// TestWritebackFindsUpper: extraction into a dir-pool dataset (an
// overlay) reaches its files beneath the overlay's upper directory, also
// in a clone, whose upper has no root/ until a file is written there; into
// a plain directory it uses the files themselves.
func TestWritebackFindsUpper(t *testing.T) {
	testenv.RequireRoot(t)
	_, p, _ := dirStore(t)
	ds, err := p.Create("zones/wb")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(ds.Mountpoint, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "marker"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := newWriteback(root)
	defer w.close()
	if w.upperFD() < 0 {
		t.Fatal("no upper directory found for an overlay root")
	}
	// The upper holds what was written through the overlay.
	var st unix.Stat_t
	if err := unix.Fstatat(w.upper, "marker", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Errorf("marker beneath the upper: %v", err)
	}

	// A layer on top: root/ is only in the lower layer when the
	// extraction starts.
	if err := p.Snapshot("zones/wb", "s"); err != nil {
		t.Fatal(err)
	}
	clone, err := p.Clone("zones/wb@s", "zones/wb2")
	if err != nil {
		t.Fatal(err)
	}
	croot := filepath.Join(clone.Mountpoint, "root")
	cw := newWriteback(croot)
	defer cw.close()
	if cw.upperPath == "" {
		t.Fatal("no upper directory found for a clone's root")
	}
	f, err := os.Create(filepath.Join(croot, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	cw.start(int(f.Fd()), "big")
	if cw.upper < 0 {
		t.Fatal("the clone's upper root/ was not opened at its first file")
	}
	if err := unix.Fstatat(cw.upper, "big", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Errorf("file beneath the clone's upper: %v", err)
	}

	plain := newWriteback(t.TempDir())
	defer plain.close()
	if plain.upperFD() >= 0 {
		t.Error("an upper directory for a plain directory")
	}
}
