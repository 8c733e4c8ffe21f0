package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/testenv"
)

func TestPAXRecord(t *testing.T) {
	for n := 0; n < 1100; n++ {
		r := paxRecord("k", strings.Repeat("v", n))
		length, rest, ok := strings.Cut(r, " ")
		if got, err := strconv.Atoi(length); !ok || err != nil || got != len(r) || rest != "k="+strings.Repeat("v", n)+"\n" {
			t.Fatalf("record of a %d-byte value: length %q, %d bytes", n, length, len(r))
		}
	}
}

// TestTreeWriterSparse: files with holes go into an image file as sparse
// entries, which Go's reader, GNU tar and hull's extraction read back
// with their contents, holes, mode, owner, times and xattrs.
func TestTreeWriterSparse(t *testing.T) {
	testenv.RequireCommand(t, "tar")
	src := t.TempDir()
	mtime := time.Date(2022, 1, 2, 3, 4, 5, 600000000, time.UTC)
	type file struct {
		size   int64
		pieces map[int64]string
	}
	files := map[string]file{
		"ends-in-hole": {9 << 20, map[int64]string{0: "head", 3 << 20: "middle"}},
		"ends-in-data": {6 << 20, map[int64]string{4096: "x", 6<<20 - 4: "tail"}},
		"all-hole":     {5 << 20, nil},
		"dense":        {3, map[int64]string{0: "abc"}},
		"sub/long-name-" + strings.Repeat("n", 120): {1 << 20, map[int64]string{512 << 10: "deep"}},
	}
	os.Mkdir(filepath.Join(src, "sub"), 0o755)
	for name, f := range files {
		p := filepath.Join(src, name)
		fh, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o640)
		if err != nil {
			t.Fatal(err)
		}
		for off, data := range f.pieces {
			fh.WriteAt([]byte(data), off)
		}
		fh.Truncate(f.size)
		fh.Close()
		if err := unix.Setxattr(p, "user.kind", []byte(name[:3]), 0); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, 1234, 5678)
		os.Chtimes(p, mtime, mtime)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	w := &treeWriter{ctx: context.Background(), tw: tw, w: &buf, links: map[uint64]string{}}
	if err := w.all(src); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 64<<10 {
		t.Errorf("image file of %d bytes: the holes were written", buf.Len())
	}

	// Go's reader.
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	seen := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "root/")
		f, ok := files[name]
		if !ok {
			continue
		}
		seen++
		got, err := io.ReadAll(tr)
		want, _ := os.ReadFile(filepath.Join(src, name))
		if err != nil || !bytes.Equal(got, want) || h.Size != f.size {
			t.Errorf("%s: %d bytes read (%v), size %d, want %d", name, len(got), err, h.Size, f.size)
		}
		if h.Mode&0o777 != 0o640 || h.Uid != 1234 || h.Gid != 5678 || !h.ModTime.Equal(mtime) || h.PAXRecords["SCHILY.xattr.user.kind"] != name[:3] {
			t.Errorf("%s: mode %o, owner %d:%d, mtime %v, records %v", name, h.Mode, h.Uid, h.Gid, h.ModTime, h.PAXRecords)
		}
	}
	if seen != len(files) {
		t.Errorf("%d of the %d files read back", seen, len(files))
	}

	// GNU tar, and hull's extraction.
	gnu := t.TempDir()
	cmd := exec.Command("tar", "-x", "-C", gnu)
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GNU tar: %v: %s", err, out)
	}
	own := t.TempDir()
	if _, err := extractTar(bytes.NewReader(buf.Bytes()), own, extractOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(gnu, "root"), filepath.Join(own, "root")} {
		for name, f := range files {
			p := filepath.Join(dir, name)
			got, err := os.ReadFile(p)
			want, _ := os.ReadFile(filepath.Join(src, name))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %d bytes (%v), want %d", p, len(got), err, len(want))
				continue
			}
			var st unix.Stat_t
			unix.Stat(p, &st)
			if st.Size != f.size || f.size > 1<<20 && st.Blocks*512 > 1<<20 {
				t.Errorf("%s: size %d with %d bytes allocated", p, st.Size, st.Blocks*512)
			}
		}
	}
}

// TestWriteData: written at any offset, a buffer's pages of zeros
// (counted from the file's start) are left holes, its other bytes
// written, and the file reads back the same.
func TestWriteData(t *testing.T) {
	page := func(b byte) string { return strings.Repeat(string(rune(b)), sparsePage) }
	zero := strings.Repeat("\x00", sparsePage)
	for _, tc := range []struct {
		name    string
		off     int64
		buf     string
		written int
		holes   int64 // pages of the file left holes, at least
	}{
		{"all data", 0, page('a') + page('b'), 2 * sparsePage, 0},
		{"all zeros", 0, zero + zero, 0, 2},
		{"zeros between", 0, page('a') + zero + zero + page('b'), 2 * sparsePage, 2},
		{"ends in zeros", sparsePage, page('a') + zero, sparsePage, 2},
		{"a zero short of a page is data", 0, "a" + zero[1:] + zero, sparsePage, 1},
		{"unaligned offset", 100, zero + "x" + zero + zero, sparsePage, 3},
		{"short tail of zeros", 0, page('a') + "\x00\x00\x00", sparsePage, 0},
		{"empty", 0, "", 0, 0},
	} {
		f, err := os.Create(filepath.Join(t.TempDir(), "f"))
		if err != nil {
			t.Fatal(err)
		}
		written, end, err := writeData(f, []byte(tc.buf), tc.off)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		size := tc.off + int64(len(tc.buf))
		if written != tc.written || (written == 0) != (end == 0) || end > size {
			t.Errorf("%s: wrote %d bytes ending at %d, want %d", tc.name, written, end, tc.written)
		}
		f.Truncate(size)
		got, _ := os.ReadFile(f.Name())
		if want := strings.Repeat("\x00", int(tc.off)) + tc.buf; string(got) != want {
			t.Errorf("%s: reads back differently", tc.name)
		}
		var st unix.Stat_t
		unix.Fstat(int(f.Fd()), &st)
		if allocated, most := st.Blocks*512, (size+sparsePage-1)/sparsePage*sparsePage-tc.holes*sparsePage; allocated > most {
			t.Errorf("%s: %d bytes allocated, want at most %d", tc.name, allocated, most)
		}
		f.Close()
	}
}
