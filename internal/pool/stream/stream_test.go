package stream

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"hull/internal/testenv"
	"hull/internal/xattr"
)

// bundle makes a stream with a VM object and two datasets of the given
// contents.
func bundle(t *testing.T, obj string, contents ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewWriter(&b)
	if err := w.JSON([]byte(obj)); err != nil {
		t.Fatal(err)
	}
	for i, c := range contents {
		dw, err := w.Dataset("zones/ds" + string(rune('0'+i)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dw.Write(c); err != nil {
			t.Fatal(err)
		}
		if err := dw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// readAll reads a whole stream, returning the object and each dataset.
func readAll(s []byte) (string, [][]byte, error) {
	r := NewReader(bytes.NewReader(s))
	obj, err := r.JSON()
	if err != nil {
		return "", nil, err
	}
	var out [][]byte
	for {
		_, dr, err := r.Next()
		if err == io.EOF {
			return string(obj), out, nil
		}
		if err != nil {
			return "", nil, err
		}
		b, err := io.ReadAll(dr)
		if err != nil {
			return "", nil, err
		}
		out = append(out, b)
	}
}

func TestRoundTrip(t *testing.T) {
	big := make([]byte, 3*BlockSize+12345)
	rand.New(rand.NewSource(1)).Read(big)
	for _, tc := range []struct {
		name     string
		contents [][]byte
	}{
		{"none", nil},
		{"empty dataset", [][]byte{{}}},
		{"two", [][]byte{[]byte("hello"), big}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := bundle(t, `{"uuid":"x"}`, tc.contents...)
			obj, got, err := readAll(s)
			if err != nil {
				t.Fatal(err)
			}
			if obj != `{"uuid":"x"}` || len(got) != len(tc.contents) {
				t.Fatalf("got %q and %d datasets", obj, len(got))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.contents[i]) {
					t.Fatalf("dataset %d differs", i)
				}
			}
		})
	}
}

// TestDamageIsRejected flips a byte at many places, and cuts the stream
// at many lengths: every damaged stream fails to read.
func TestDamageIsRejected(t *testing.T) {
	big := make([]byte, BlockSize+777)
	rand.New(rand.NewSource(2)).Read(big)
	s := bundle(t, `{"uuid":"y"}`, []byte("small"), big)
	for _, off := range []int{0, 5, 100, 447, 448, 511, 512, 515, 1100, 1500, 2000, len(s) / 2, len(s) - 600, len(s) - 513, len(s) - 100, len(s) - 1} {
		c := bytes.Clone(s)
		c[off] ^= 0x40
		if _, _, err := readAll(c); err == nil {
			t.Errorf("flipped byte at %d of %d: accepted", off, len(s))
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) && !strings.Contains(err.Error(), "version") {
			t.Errorf("flipped byte at %d: unexpected error %v", off, err)
		}
	}
	for _, n := range []int{0, 1, 511, 512, 700, 1024, 1536, len(s) / 2, len(s) - 512, len(s) - 1} {
		if _, _, err := readAll(s[:n]); !errors.Is(err, ErrTruncated) {
			t.Errorf("cut at %d of %d: %v", n, len(s), err)
		}
	}
	// A stream missing a whole dataset (chunks dropped at a boundary)
	// fails at its end.
	one := bundle(t, `{"uuid":"y"}`, []byte("a"))
	two := bundle(t, `{"uuid":"y"}`, []byte("a"), []byte("b"))
	spliced := append(bytes.Clone(one[:len(one)-headerSize]), two[len(two)-headerSize:]...)
	if _, _, err := readAll(spliced); !errors.Is(err, ErrCorrupt) {
		t.Errorf("spliced stream: %v", err)
	}
	if _, _, err := readAll([]byte(strings.Repeat("x", 2048))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("garbage: %v", err)
	}
}

// TestPackUnpack round-trips a tree with every kind of entry and checks
// owners, modes, times, xattrs, hard links and devices.
func TestPackUnpack(t *testing.T) {
	testenv.RequireRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "root/etc"), 0o755))
	must(os.WriteFile(filepath.Join(src, "root/etc/passwd"), []byte("root:x:0:0\n"), 0o644))
	must(os.WriteFile(filepath.Join(src, "root/suid"), []byte("#!/bin/sh\n"), 0o755))
	must(os.Chmod(filepath.Join(src, "root/suid"), 0o4755|os.ModeSetuid))
	must(unix.Chmod(filepath.Join(src, "root/suid"), 0o4755))
	must(os.Link(filepath.Join(src, "root/etc/passwd"), filepath.Join(src, "root/hardlink")))
	must(os.Symlink("etc/passwd", filepath.Join(src, "root/symlink")))
	must(os.Symlink("/nonexistent/abs", filepath.Join(src, "root/dangling")))
	must(unix.Mknod(filepath.Join(src, "root/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(filepath.Join(src, "root/fifo"), unix.S_IFIFO|0o600, 0))
	must(os.MkdirAll(filepath.Join(src, "root/tmp"), 0o755))
	must(unix.Chmod(filepath.Join(src, "root/tmp"), 0o1777))
	must(os.Lchown(filepath.Join(src, "root/etc/passwd"), 100, 200))
	must(os.Lchown(filepath.Join(src, "root/symlink"), 5, 6))
	must(os.Chown(filepath.Join(src, "root/tmp"), 7, 8))
	must(unix.Setxattr(filepath.Join(src, "root/etc/passwd"), "user.note", []byte("kept"), 0))
	must(unix.Setxattr(filepath.Join(src, "root/etc"), "trusted.dirnote", []byte("dir"), 0))
	big := make([]byte, 3<<20)
	rand.New(rand.NewSource(3)).Read(big)
	must(os.WriteFile(filepath.Join(src, "root/big"), big, 0o600))
	must(os.Mkdir(filepath.Join(src, "ro"), 0o555))
	must(unix.Chmod(src, 0o711))

	var s bytes.Buffer
	w := NewWriter(&s)
	must(w.JSON([]byte("{}")))
	dw, err := w.Dataset("zones/x")
	must(err)
	must(Pack(src, dw))
	must(dw.Close())
	must(w.Close())

	r := NewReader(&s)
	_, err = r.JSON()
	must(err)
	_, dr, err := r.Next()
	must(err)
	must(Unpack(dr, dst))
	_, err = io.Copy(io.Discard, dr)
	must(err)
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}

	for _, rel := range []string{".", "root", "root/etc", "root/etc/passwd", "root/suid", "root/hardlink", "root/symlink",
		"root/dangling", "root/null", "root/fifo", "root/tmp", "root/big", "ro"} {
		a, b := lstat(t, filepath.Join(src, rel)), lstat(t, filepath.Join(dst, rel))
		if a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.Rdev != b.Rdev || a.Size != b.Size {
			t.Errorf("%s: mode %o/%o uid %d/%d gid %d/%d rdev %d/%d size %d/%d", rel, a.Mode, b.Mode, a.Uid, b.Uid, a.Gid, b.Gid, a.Rdev, b.Rdev, a.Size, b.Size)
		}
		if a.Mode&unix.S_IFMT != unix.S_IFDIR && a.Mtim != b.Mtim {
			t.Errorf("%s: mtime %v/%v", rel, a.Mtim, b.Mtim)
		}
	}
	if a, b := lstat(t, filepath.Join(dst, "root/etc/passwd")), lstat(t, filepath.Join(dst, "root/hardlink")); a.Ino != b.Ino {
		t.Error("hard link became a copy")
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "root/big")); !bytes.Equal(got, big) {
		t.Error("big file differs")
	}
	if l, _ := os.Readlink(filepath.Join(dst, "root/dangling")); l != "/nonexistent/abs" {
		t.Errorf("dangling symlink: %q", l)
	}
	for p, want := range map[string]string{"root/etc/passwd:user.note": "kept", "root/etc:trusted.dirnote": "dir"} {
		f, name, _ := strings.Cut(p, ":")
		v, err := xattr.Get(filepath.Join(dst, f), name)
		if err != nil || string(v) != want {
			t.Errorf("xattr %s: %q %v", p, v, err)
		}
	}
}

func lstat(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestUnpackStaysBeneath feeds hostile tars: nothing is written outside
// the target.
func TestUnpackStaysBeneath(t *testing.T) {
	testenv.RequireRoot(t)
	outside := t.TempDir()
	for name, entries := range map[string][]hostile{
		"dotdot":          {{name: "../escape", body: "x"}},
		"through symlink": {{name: "link", link: outside, sym: true}, {name: "link/escape", body: "x"}},
		"hardlink out":    {{name: "h", link: "../../../etc/passwd"}},
	} {
		t.Run(name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "d")
			os.Mkdir(dst, 0o755)
			if err := Unpack(bytes.NewReader(hostileTar(t, entries)), dst); err == nil {
				t.Error("accepted")
			}
			if ents, _ := os.ReadDir(outside); len(ents) > 0 {
				t.Errorf("wrote outside: %v", ents)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(dst), "escape")); err == nil {
				t.Error("wrote beside the target")
			}
		})
	}
}
