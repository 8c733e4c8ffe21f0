package xattr

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReading(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	os.WriteFile(f, nil, 0o644)
	big := strings.Repeat("v", 3000)
	for name, v := range map[string]string{"user.a": "1", "user.big": big, "user.skipme": "x"} {
		if err := unix.Setxattr(f, name, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	names, err := List(f)
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"user.a", "user.big", "user.skipme"}) {
		t.Errorf("List: %v %v", names, err)
	}
	if v, err := Get(f, "user.big"); err != nil || string(v) != big {
		t.Errorf("Get: %d bytes, %v", len(v), err)
	}
	if _, err := Get(f, "user.none"); !errors.Is(err, unix.ENODATA) {
		t.Errorf("Get of a missing one: %v", err)
	}
	all, err := All(f, func(n string) bool { return n == "user.skipme" })
	if err != nil || len(all) != 2 || all["user.a"] != "1" || all["user.big"] != big {
		t.Errorf("All: %v %v", all, err)
	}
	// A symlink's own, never its target's.
	l := filepath.Join(dir, "l")
	os.Symlink(f, l)
	if all, err := All(l, nil); err != nil || all != nil {
		t.Errorf("All of a symlink: %v %v", all, err)
	}
	if _, err := List(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("List of a missing file: %v", err)
	}
}
