package idmap

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"hull/internal/testenv"
)

type shiftFile struct {
	name     string
	uid, gid uint32
	mode     os.FileMode // 0 for a symlink
}

var shiftFiles = []shiftFile{
	{"bin", 0, 0, os.ModeDir | 0o755},
	{"bin/su", 0, 0, os.ModeSetuid | 0o755},
	{"bin/wall", 0, 5, os.ModeSetgid | 0o755},
	{"home", 1000, 1000, os.ModeDir | 0o700},
	{"home/f", 1000, 100, 0o640},
	{"link", 0, 0, 0},
	{"far", 100000, 100000, 0o644}, // outside 0..65535: left alone
}

func makeShiftTree(t *testing.T, root string) {
	t.Helper()
	for _, f := range shiftFiles {
		p := filepath.Join(root, f.name)
		var err error
		switch {
		case f.mode == 0:
			err = os.Symlink("bin/su", p)
		case f.mode.IsDir():
			err = os.Mkdir(p, f.mode.Perm())
		default:
			err = os.WriteFile(p, []byte("x"), 0o644)
		}
		if err == nil {
			err = os.Lchown(p, int(f.uid), int(f.gid))
		}
		if err == nil && f.mode != 0 {
			err = os.Chmod(p, f.mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func checkShiftTree(t *testing.T, root string, r Range) {
	t.Helper()
	for _, f := range shiftFiles {
		p := filepath.Join(root, f.name)
		wantU, wantG := f.uid, f.gid
		if f.uid < r.Size {
			wantU, wantG = r.HostID+f.uid, r.HostID+f.gid
		}
		if u, g := owner(t, p); u != wantU || g != wantG {
			t.Errorf("%v: %s is %d:%d, want %d:%d", r, f.name, u, g, wantU, wantG)
		}
		if f.mode != 0 {
			st, _ := os.Lstat(p)
			if st.Mode() != f.mode {
				t.Errorf("%v: %s has mode %v, want %v", r, f.name, st.Mode(), f.mode)
			}
		}
	}
}

func TestShift(t *testing.T) {
	testenv.RequireRoot(t)
	zonepath := t.TempDir()
	root := filepath.Join(zonepath, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	makeShiftTree(t, root)
	// A file capability, which chown drops: it must come back as v3
	// owned by the zone's root.
	v2 := []byte{0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // cap_net_bind_service, permitted
	capFile := filepath.Join(root, "bin", "su")
	if err := unix.Lsetxattr(capFile, "security.capability", v2, 0); err != nil {
		t.Fatal(err)
	}

	r1, r2 := SlotRange(1), SlotRange(7)
	steps := []struct {
		to   Range
		want Range
	}{
		{r1, r1},
		{r1, r1}, // no-op, recorded
		{r2, r2}, // from r1 to r2
		{Range{HostID: 0, Size: Size}, Range{HostID: 0, Size: Size}}, // back to host ids
	}
	for _, s := range steps {
		if err := Shift(root, s.to); err != nil {
			t.Fatal(err)
		}
		checkShiftTree(t, root, s.want)
		m, err := readMarker(Marker(root))
		if err != nil || m.Done != s.want || m.Pending.Size != 0 {
			t.Errorf("marker = %+v, %v; want done %v", m, err, s.want)
		}
		if s.want == r1 || s.want == r2 {
			caps := fileCaps(capFile)
			if want := capsFor(v2, s.want.HostID); !bytes.Equal(caps, want) {
				t.Errorf("capabilities after shift to %v: %x, want %x", s.want, caps, want)
			}
		}
	}
	if filepath.Dir(Marker(root)) != zonepath {
		t.Errorf("marker %s is not next to the root", Marker(root))
	}

	// Overlapping ranges are refused.
	if err := Shift(root, Range{HostID: 100, Size: Size}); err == nil {
		t.Error("overlapping shift accepted")
	}
}

// TestShiftResume shows that an interrupted shift (marker still pending,
// some files moved) is finished by the next Shift.
func TestShiftResume(t *testing.T) {
	testenv.RequireRoot(t)
	root := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	makeShiftTree(t, root)
	r := SlotRange(2)
	if err := writeMarker(Marker(root), marker{Done: Range{0, Size}, Pending: r}); err != nil {
		t.Fatal(err)
	}
	// Half done: one file already moved.
	if err := os.Lchown(filepath.Join(root, "home", "f"), int(r.HostID+1000), int(r.HostID+100)); err != nil {
		t.Fatal(err)
	}
	if err := Shift(root, r); err != nil {
		t.Fatal(err)
	}
	checkShiftTree(t, root, r)
}

func TestCapsFor(t *testing.T) {
	v2 := make([]byte, 20)
	v2[3] = 2
	v2[4] = 0xaa
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"v2", v2, true},
		{"v3", capsFor(v2, 5), true},
		{"short", v2[:10], false},
		{"v1", append([]byte{0, 0, 0, 1}, v2[4:]...), false},
	}
	for _, tt := range tests {
		out := capsFor(tt.in, 42)
		if (out != nil) != tt.ok {
			t.Fatalf("%s: got %x", tt.name, out)
		}
		if out != nil && (len(out) != 24 || out[3] != 3 || out[4] != 0xaa || out[20] != 42) {
			t.Errorf("%s: got %x", tt.name, out)
		}
	}
}
