package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hull/internal/pool/mounts"
	"hull/internal/testenv"
)

// TestOpenRefusedMountsNothing: an open refused for want of a static hull
// binary leaves no pool mounted under the root.
func TestOpenRefusedMountsNothing(t *testing.T) {
	testenv.RequireRoot(t)
	root := t.TempDir()
	os.Chmod(filepath.Dir(root), 0o711)  // zones' roots must be reachable
	t.Setenv("HULL_BINARY", "/bin/true") // dynamically linked
	n, err := Open(root)
	if err == nil {
		n.ClosePool()
		t.Fatal("open with a dynamically linked hull binary succeeded")
	}
	if !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("error: %v", err)
	}
	if left, _ := mounts.Under(root); len(left) > 0 {
		for _, m := range left {
			mounts.Unmount(m, true)
		}
		t.Errorf("mounted after a refused open: %v", left)
	}
	if _, err := os.Stat(filepath.Join(root, "pool.img")); err == nil {
		t.Error("a pool was made by a refused open")
	}
}
