package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	for _, o := range []Options{{Mode: 0o600}, {Mode: 0o644, Sync: true}, {Mode: 0o640, Sync: true, SyncDir: true}} {
		if err := Write(p, []byte("v"+o.Mode.String()), o); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		st, _ := os.Stat(p)
		if string(b) != "v"+o.Mode.String() || st.Mode().Perm() != o.Mode {
			t.Errorf("%+v: content %q mode %v", o, b, st.Mode().Perm())
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	if err := Write(filepath.Join(dir, "missing", "f"), nil, Options{Mode: 0o600}); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}
