package image

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"hull/internal/testenv"
)

// TestWritebackFindsUpper: extraction into a dir-pool dataset (an
// overlay) reaches its files beneath the overlay's upper directory, and
// into a plain directory uses the files themselves.
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
	if w.upper < 0 {
		t.Fatal("no upper directory found for an overlay root")
	}
	// The upper holds what was written through the overlay.
	var st unix.Stat_t
	if err := unix.Fstatat(w.upper, "marker", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Errorf("marker beneath the upper: %v", err)
	}
	plain := newWriteback(t.TempDir())
	defer plain.close()
	if plain.upper >= 0 {
		t.Error("an upper directory for a plain directory")
	}
}
