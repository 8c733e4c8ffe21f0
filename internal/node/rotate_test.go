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

// TestRotateStdioLog: a docker zone's stdio.log (ConsoleLog links to it)
// rotates to stdio.log.<stamp> beside it, as zoneadmd's: every copy is
// kept under zlog_max_size, only the newest under the node's bound.
func TestRotateStdioLog(t *testing.T) {
	const (
		own   = "2a1c4c1e-4b8f-4e49-9f6a-000000000003"
		bound = "2a1c4c1e-4b8f-4e49-9f6a-000000000004"
	)
	for _, c := range []struct {
		uuid string
		max  int64 // zlog_max_size
		kept int   // rotated copies left of the two made
	}{
		{own, ZlogMinSize, 2},
		{bound, 0, 1},
	} {
		n := &Node{Root: t.TempDir()}
		os.MkdirAll(filepath.Dir(n.vmFile(c.uuid)), 0o700)
		os.MkdirAll(filepath.Dir(n.ConsoleLog(c.uuid)), 0o700)
		os.MkdirAll(n.Zonepath(c.uuid), 0o700) // the dataset
		docker := true
		v := &vm.VM{UUID: c.uuid, Brand: "joyent-minimal", Docker: &docker, ZlogMaxSize: c.max}
		if err := n.saveVM(v); err != nil {
			t.Fatal(err)
		}
		target, err := n.logTarget(v)
		if err != nil || target != n.StdioLog(c.uuid) {
			t.Fatalf("log target %q, %v; want %s", target, err, n.StdioLog(c.uuid))
		}
		old := n.StdioLog(c.uuid) + ".20200101T000000Z"
		os.WriteFile(old, []byte("older\n"), 0o600)
		content := bytes.Repeat([]byte("y"), ZlogMinSize+1)
		if err := os.WriteFile(n.ConsoleLog(c.uuid), content, 0o600); err != nil {
			t.Fatal(err)
		}
		n.RotateConsoles(100)
		if st, err := os.Stat(n.StdioLog(c.uuid)); err != nil || st.Size() != 0 {
			t.Errorf("zlog_max_size %d: stdio.log not emptied: %v", c.max, err)
		}
		got := rotatedLogs(n.StdioLog(c.uuid))
		if len(got) != c.kept {
			t.Fatalf("zlog_max_size %d: rotated %q, want %d of them", c.max, got, c.kept)
		}
		if b, _ := os.ReadFile(got[len(got)-1]); !bytes.Equal(b, content) || got[len(got)-1] == old {
			t.Errorf("zlog_max_size %d: newest rotated copy %s has %d bytes, want the log's %d", c.max, got[len(got)-1], len(b), len(content))
		}
		if _, err := os.Stat(n.ConsoleLog(c.uuid) + ".0"); err == nil {
			t.Errorf("zlog_max_size %d: a console .0 beside the link", c.max)
		}
	}
}
