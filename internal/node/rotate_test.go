package node

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"hull/internal/vm"
)

// TestRotateConsoles: a log past the bound, or past its VM's
// zlog_max_size (at least ZlogMinSize, as SmartOS's), moves to .0 and is
// emptied; smaller ones are left alone.
func TestRotateConsoles(t *testing.T) {
	const (
		zlogged = "2a1c4c1e-4b8f-4e49-9f6a-000000000001"
		tiny    = "2a1c4c1e-4b8f-4e49-9f6a-000000000002"
	)
	for _, c := range []struct {
		name    string
		uuid    string
		size    int64
		max     int64
		rotated bool
	}{
		{"past the bound", "big", 101, 100, true},
		{"at the bound", "small", 100, 100, false},
		{"within zlog_max_size", zlogged, 2 << 20, 1 << 20, false},
		{"past zlog_max_size", zlogged, 3<<20 + 1, 1 << 20, true},
		{"zlog_max_size below the least", tiny, ZlogMinSize + 1, 4 << 20, true},
		{"below the least zlog_max_size", tiny, ZlogMinSize, 4 << 20, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := &Node{Root: t.TempDir()}
			os.MkdirAll(filepath.Dir(n.vmFile(zlogged)), 0o700)
			if err := n.saveVM(&vm.VM{UUID: zlogged, ZlogMaxSize: 3 << 20}); err != nil {
				t.Fatal(err)
			}
			if err := n.saveVM(&vm.VM{UUID: tiny, ZlogMaxSize: 1000}); err != nil {
				t.Fatal(err)
			}
			log := n.ConsoleLog(c.uuid)
			os.MkdirAll(filepath.Dir(log), 0o700)
			os.WriteFile(log, bytes.Repeat([]byte("x"), int(c.size)), 0o600)
			n.RotateConsoles(c.max)
			st, _ := os.Stat(log)
			old, err := os.ReadFile(log + ".0")
			switch {
			case c.rotated && (st.Size() != 0 || int64(len(old)) != c.size):
				t.Errorf("not rotated: log %d bytes, .0 %d bytes", st.Size(), len(old))
			case !c.rotated && (st.Size() != c.size || err == nil):
				t.Errorf("rotated: log %d bytes, .0: %v", st.Size(), err)
			}
		})
	}
}
