package pooltest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hull/internal/pool"
)

// Churn names: an image with @final, and per round a clone, a clone of
// its snapshot and a rename, all under the "churn-" prefix; where the
// driver has child datasets, a child of the renamed clone that moves out
// and back.
const (
	churnImg     = "churn-img"
	churnContent = "image"
	churnKid     = "churn-a2/kid"
	churnKidOut  = "churn-kid"
	kidContent   = "kid"
)

// Churn runs rounds of every kind of operation on d, starting from
// whatever an earlier, killed Churn left behind. A crash test runs it in
// a child process, kills the child at a random moment, and then calls
// CheckChurn on a freshly opened driver.
func Churn(d pool.Driver, rounds int) error {
	if _, err := d.Get(ds(churnImg + "@final")); errors.Is(err, pool.ErrNotFound) {
		if err := ignore(d.Destroy(ds(churnImg)), pool.ErrNotFound); err != nil {
			return err
		}
		img, err := d.Create(ds(churnImg))
		if err != nil {
			return err
		}
		for i := range 20 {
			p := filepath.Join(img.Mountpoint, fmt.Sprintf("dir%d/file", i))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(churnContent), 0o644); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(img.Mountpoint, "img.txt"), []byte(churnContent), 0o644); err != nil {
			return err
		}
		if err := d.Snapshot(ds(churnImg), "final"); err != nil {
			return err
		}
	}
	for range rounds {
		for _, n := range []string{"churn-b", churnKid, churnKidOut, "churn-a", "churn-a2"} {
			if err := ignore(d.Destroy(ds(n)), pool.ErrNotFound); err != nil {
				return err
			}
		}
		a, err := d.Clone(ds(churnImg+"@final"), ds("churn-a"))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(a.Mountpoint, "a.txt"), []byte("a"), 0o644); err != nil {
			return err
		}
		if err := d.Snapshot(a.Name, "s"); err != nil {
			return err
		}
		b, err := d.Clone(a.Name+"@s", ds("churn-b"))
		if err != nil {
			return err
		}
		os.Remove(filepath.Join(b.Mountpoint, "a.txt"))
		if err := d.Snapshot(b.Name, "s2"); err != nil {
			return err
		}
		os.WriteFile(filepath.Join(b.Mountpoint, "b.txt"), []byte("b"), 0o644)
		steps := []func() error{
			func() error { return d.Rollback(b.Name + "@s2") },
			func() error { return d.Unmount(b.Name) },
			func() error { _, err := d.Mount(b.Name); return err },
			func() error { return d.Rename(a.Name, ds("churn-a2")) },
			func() error { return churnChild(d) },
			func() error { return d.Destroy(b.Name) },
			func() error { return d.Destroy(ds("churn-a2@s")) },
			func() error { return d.Destroy(ds("churn-a2")) },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
	}
	return nil
}

// churnChild makes a child of churn-a2, takes its parent down and up,
// moves it out and back, and destroys it.
func churnChild(d pool.Driver) error {
	if !pool.HasChildren(d) {
		return nil
	}
	k, err := d.Create(ds(churnKid))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(k.Mountpoint, "kid.txt"), []byte(kidContent), 0o644); err != nil {
		return err
	}
	if err := d.Unmount(ds("churn-a2")); err != nil {
		return err
	}
	if _, err := d.Mount(ds("churn-a2")); err != nil {
		return err
	}
	if err := d.Rename(ds(churnKid), ds(churnKidOut)); err != nil {
		return err
	}
	if err := d.Rename(ds(churnKidOut), ds(churnKid)); err != nil {
		return err
	}
	return d.Destroy(ds(churnKid))
}

func ignore(err, target error) error {
	if errors.Is(err, target) {
		return nil
	}
	return err
}

// CheckChurn checks what Churn left after a crash: every dataset mounts
// and shows the image's files, every snapshot clones, every origin
// exists; then it destroys everything Churn made, clones first.
func CheckChurn(t *testing.T, d pool.Driver) {
	t.Helper()
	l, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, x := range l {
		names[x.Name] = true
	}
	for _, x := range l {
		if x.Origin != "" && !names[x.Origin] {
			t.Errorf("%s: origin %s is not listed", x.Name, x.Origin)
		}
		if !strings.HasPrefix(x.Name, ds("churn-")) {
			continue
		}
		if strings.Contains(x.Name, "@") {
			c, err := d.Clone(x.Name, ds("churn-check"))
			if err != nil {
				t.Errorf("Clone(%s): %v", x.Name, err)
				continue
			}
			want(t, c.Mountpoint, map[string]string{"img.txt": churnContent, "dir19/file": churnContent})
			if err := d.Destroy(c.Name); err != nil {
				t.Errorf("Destroy(%s): %v", c.Name, err)
			}
			continue
		}
		m, err := d.Mount(x.Name)
		if err != nil {
			t.Errorf("Mount(%s): %v", x.Name, err)
			continue
		}
		if x.Name == ds(churnKid) || x.Name == ds(churnKidOut) {
			// Killed before its file was written, it has none.
			if b, err := os.ReadFile(filepath.Join(m.Mountpoint, "kid.txt")); err == nil && string(b) != kidContent {
				t.Errorf("%s: kid.txt is %q", x.Name, b)
			}
			continue
		}
		if x.Name == ds(churnImg) && !names[ds(churnImg+"@final")] {
			// Killed while Churn was still writing the image: its files
			// were never all written, and the next Churn starts it over.
			continue
		}
		want(t, m.Mountpoint, map[string]string{"img.txt": churnContent, "dir0/file": churnContent})
	}
	// Destroy leaves first, until nothing of Churn's is left.
	for range 10 {
		l, err = d.List()
		if err != nil {
			t.Fatal(err)
		}
		left := 0
		for _, x := range l {
			if strings.HasPrefix(x.Name, ds("churn-")) && !strings.Contains(x.Name, "@") {
				left++
				if err := d.Destroy(x.Name); err != nil && !errors.Is(err, pool.ErrHasDependents) && !errors.Is(err, pool.ErrHasChildren) {
					t.Errorf("Destroy(%s): %v", x.Name, err)
				}
			}
		}
		if left == 0 {
			return
		}
	}
	t.Errorf("could not destroy everything: %v", l)
}
