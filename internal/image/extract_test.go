package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"hull/internal/testenv"
)

// ent is one tar entry for tests.
type ent struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
	xattrs           map[string]string
	major, minor     int64
}

var testTime = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

func mkTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, ModTime: testTime, Devmajor: e.major, Devminor: e.minor,
			Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if len(e.xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return w.EncodeAll(b, nil)
}

func extractBytes(t *testing.T, b []byte, opts extractOptions) (string, bool, error) {
	t.Helper()
	dir := t.TempDir()
	r, err := decompress(bytes.NewReader(b))
	if err != nil {
		return dir, false, err
	}
	all, err := extractTar(r, dir, opts)
	return dir, all, err
}

func TestExtractRejectsEscapes(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name string
		ents []ent
		want string
	}{
		{"dotdot", []ent{{name: "../evil", body: "x"}}, `tar entry "../evil": path contains ".."`},
		{"inner dotdot", []ent{{name: "a/../../evil", body: "x"}}, `tar entry "a/../../evil": path contains ".."`},
		{"hard link dotdot", []ent{{name: "l", typ: tar.TypeLink, link: "../../etc/passwd"}}, `hard link "l": tar entry "../../etc/passwd": path contains ".."`},
		{"through symlink", []ent{
			{name: "a", typ: tar.TypeSymlink, link: outside},
			{name: "a/evil", body: "x"},
		}, `open "a": path goes through a symlink`},
		{"through relative symlink", []ent{
			{name: "d", typ: tar.TypeDir, mode: 0o755},
			{name: "d/up", typ: tar.TypeSymlink, link: "../.."},
			{name: "d/up/evil", body: "x"},
		}, `open "d/up": path goes through a symlink`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := extractBytes(t, mkTar(t, tt.ents...), extractOptions{})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %s", err, tt.want)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Fatalf("wrote outside the root: %v", ents)
			}
		})
	}
}

// Writing a file over a symlink replaces the symlink; its target is
// untouched.
func TestExtractReplacesSymlinkNotTarget(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "target")
	os.WriteFile(outside, []byte("keep"), 0o644)
	dir, _, err := extractBytes(t, mkTar(t,
		ent{name: "f", typ: tar.TypeSymlink, link: outside},
		ent{name: "f", body: "new"},
	), extractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep" {
		t.Fatalf("symlink target overwritten: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "new" {
		t.Fatalf("f = %q", b)
	}
}

func TestExtractPreserves(t *testing.T) {
	root := os.Geteuid() == 0
	ents := []ent{
		{name: "./", typ: tar.TypeDir, mode: 0o755},
		{name: "./bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "./bin/prog", body: "#!/bin/sh\n", mode: 0o4755, uid: 0, gid: 0},
		{name: "./bin/sh", typ: tar.TypeSymlink, link: "/bin/busybox"},
		{name: "./bin/hard", typ: tar.TypeLink, link: "./bin/prog"},
		{name: "./tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "./home/u/file", body: "hi", mode: 0o600, uid: 1000, gid: 1001, xattrs: map[string]string{"user.test": "v"}},
		{name: "./fifo", typ: tar.TypeFifo, mode: 0o640},
	}
	if root {
		ents = append(ents, ent{name: "./dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3})
	}
	dir, all, err := extractBytes(t, gz(t, mkTar(t, ents...)), extractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if all {
		t.Error("allUnderRoot = true for a plain root tar")
	}
	st := func(p string) *unix.Stat_t {
		var s unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, p), &s); err != nil {
			t.Fatal(err)
		}
		return &s
	}
	if s := st("bin/prog"); s.Mode&0o7777 != 0o4755 {
		t.Errorf("bin/prog mode %o", s.Mode&0o7777)
	}
	if s := st("tmp"); s.Mode&0o7777 != 0o1777 {
		t.Errorf("tmp mode %o", s.Mode&0o7777)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "bin/sh")); l != "/bin/busybox" {
		t.Errorf("bin/sh -> %q", l)
	}
	if a, b := st("bin/prog"), st("bin/hard"); a.Ino != b.Ino {
		t.Error("bin/hard is not a hard link of bin/prog")
	}
	if s := st("fifo"); s.Mode&unix.S_IFMT != unix.S_IFIFO || s.Mode&0o777 != 0o640 {
		t.Errorf("fifo mode %o", s.Mode)
	}
	if s := st("home/u/file"); s.Mtim.Sec != testTime.Unix() {
		t.Errorf("mtime %d, want %d", s.Mtim.Sec, testTime.Unix())
	}
	if s := st("bin"); s.Mtim.Sec != testTime.Unix() {
		t.Errorf("dir mtime %d, want %d", s.Mtim.Sec, testTime.Unix())
	}
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(filepath.Join(dir, "home/u/file"), "user.test", buf); err != nil || string(buf[:n]) != "v" {
		t.Errorf("xattr user.test = %q, %v", buf[:n], err)
	}
	if root {
		if s := st("home/u/file"); s.Uid != 1000 || s.Gid != 1001 {
			t.Errorf("owner %d:%d", s.Uid, s.Gid)
		}
		if s := st("dev/null"); s.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(s.Rdev) != 1 || unix.Minor(s.Rdev) != 3 {
			t.Errorf("dev/null mode %o rdev %d", s.Mode, s.Rdev)
		}
	}
}

func TestExtractCompressions(t *testing.T) {
	plain := mkTar(t, ent{name: "a", body: "A"})
	var xzb bytes.Buffer
	xw, err := xz.NewWriter(&xzb)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(plain)
	xw.Close()
	inputs := map[string][]byte{"none": plain, "gzip": gz(t, plain), "zstd": zst(t, plain), "xz": xzb.Bytes()}
	if _, err := exec.LookPath("bzip2"); err == nil {
		cmd := exec.Command("bzip2", "-c")
		cmd.Stdin = bytes.NewReader(plain)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		inputs["bzip2"] = out
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			dir, _, err := extractBytes(t, in, extractOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "a")); string(b) != "A" {
				t.Errorf("a = %q", b)
			}
		})
	}
	_, _, err = extractBytes(t, []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 0}, extractOptions{})
	if err == nil {
		t.Error("corrupt xz: no error")
	}
	_, _, err = extractBytes(t, gz(t, plain)[:30], extractOptions{})
	if err == nil {
		t.Error("truncated gzip: no error")
	}
}

func TestExtractRootDetection(t *testing.T) {
	tests := []struct {
		name string
		ents []ent
		want bool
	}{
		{"under root", []ent{{name: "root/", typ: tar.TypeDir, mode: 0o755}, {name: "root/etc/passwd", body: "x"}}, true},
		{"under ./root", []ent{{name: "./", typ: tar.TypeDir, mode: 0o755}, {name: "./root/a", body: "x"}}, true},
		{"plain", []ent{{name: "etc/passwd", body: "x"}}, false},
		{"mixed", []ent{{name: "root/a", body: "x"}, {name: "cores/", typ: tar.TypeDir, mode: 0o755}}, false},
		{"rootfoo is not root", []ent{{name: "rootfoo/a", body: "x"}}, false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, all, err := extractBytes(t, mkTar(t, tt.ents...), extractOptions{})
			if err != nil {
				t.Fatal(err)
			}
			scan, err := scanAllUnderRoot(bytes.NewReader(mkTar(t, tt.ents...)))
			if err != nil {
				t.Fatal(err)
			}
			if all != tt.want || scan != tt.want {
				t.Errorf("extract says %v, scan says %v, want %v", all, scan, tt.want)
			}
		})
	}
}

func TestExtractWhiteouts(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"keep", "gone", "opq/a", "opq/b"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(p), 0o644)
	}
	layer := mkTar(t,
		ent{name: ".wh.gone", body: ""},
		ent{name: "opq/.wh..wh..opq", body: ""},
		ent{name: "opq/c", body: "c"},
		ent{name: "keep", body: "new"},
	)
	if _, err := extractTar(bytes.NewReader(layer), dir, extractOptions{whiteouts: true}); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if !fi.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			got = append(got, rel+"="+string(b))
		}
		return nil
	})
	if strings.Join(got, " ") != "keep=new opq/c=c" {
		t.Errorf("after layer: %v", got)
	}
}

// TestFileContents: files of every size around the writers' chunk come
// out whole and in place, however the archive's reads are cut, with
// their times set after their last write.
func TestFileContents(t *testing.T) {
	sizes := []int{0, 1, copyBuffer - 1, copyBuffer, copyBuffer + 1, 3*copyBuffer + 5}
	var ents []ent
	for i, n := range sizes {
		body := make([]byte, n)
		for j := range body {
			body[j] = byte(i + j*7)
		}
		ents = append(ents, ent{name: fmt.Sprintf("d%d/f%d", i%2, i), body: string(body)})
	}
	// While the files above may still be being written: a hard link to
	// one, and another replaced.
	archive := mkTar(t, append(ents, ent{name: "hl", link: "d1/f3", typ: tar.TypeLink}, ent{name: "d1/f5", body: "replaced"})...)
	ents[5].body = "replaced"
	ents = append(ents, ent{name: "hl", body: ents[3].body})
	for _, tc := range []struct {
		name string
		r    io.Reader
		n    int
	}{
		{"whole", bytes.NewReader(archive), -1},
		{"whole, 2 writers", bytes.NewReader(archive), 2},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(archive)), -1},
		{"one byte at a time, 3 writers", iotest.OneByteReader(bytes.NewReader(archive)), 3},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(archive)), 2},
	} {
		name := tc.name
		dir := t.TempDir()
		if _, err := extractTar(tc.r, dir, extractOptions{writers: tc.n}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.name)
			got, err := os.ReadFile(p)
			if err != nil || string(got) != e.body {
				t.Errorf("%s: %s: %d bytes (%v), want %d", name, e.name, len(got), err, len(e.body))
			}
			if fi, err := os.Stat(p); err != nil || !fi.ModTime().Equal(testTime) || fi.Mode().Perm() != 0o644 {
				t.Errorf("%s: %s: %v %v (%v)", name, e.name, fi.ModTime(), fi.Mode(), err)
			}
		}
	}
}

// TestFileWholeWrites: a file goes out in whole copyBuffer writes, the
// last one short, however small the reads that bring it in.
func TestFileWholeWrites(t *testing.T) {
	const size = 3*copyBuffer + 5
	archive := mkTar(t, ent{name: "big", body: strings.Repeat("x", size)})
	for _, n := range []int{-1, 2} {
		var mu sync.Mutex
		var sizes []int
		wrote := func(n int) {
			mu.Lock()
			sizes = append(sizes, n)
			mu.Unlock()
		}
		r := iotest.OneByteReader(bytes.NewReader(archive))
		if _, err := extractTar(r, t.TempDir(), extractOptions{writers: n, wrote: wrote}); err != nil {
			t.Fatalf("%d writers: %v", n, err)
		}
		if want := []int{copyBuffer, copyBuffer, copyBuffer, 5}; !slices.Equal(sizes, want) {
			t.Errorf("%d writers: writes of %v bytes, want %v", n, sizes, want)
		}
	}
}

// TestFileCutShort: a tar entry cut short is an error, not a shorter
// file, and the extraction leaves no file open.
func TestFileCutShort(t *testing.T) {
	archive := mkTar(t, ent{name: "a", body: "aaaa"}, ent{name: "big", body: strings.Repeat("x", 2*copyBuffer+10)})
	before := openFDs(t)
	for _, cut := range []int{1536 + copyBuffer/2, 1536 + copyBuffer, 1536 + 2*copyBuffer + 5} {
		for _, n := range []int{-1, 2} {
			_, err := extractTar(bytes.NewReader(archive[:cut]), t.TempDir(), extractOptions{writers: n})
			if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), `write "big"`) {
				t.Errorf("cut at %d, %d writers: %v", cut, n, err)
			}
		}
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d files open before, %d after", before, after)
	}
}

// TestFileWriteFails: a writer's failure is the extraction's error, with
// the file named; later files are not written and nothing stays open.
func TestFileWriteFails(t *testing.T) {
	for _, n := range []int{0, 2} {
		before := openFDs(t)
		w := newFileWriters(n, 4096, &writeback{upper: -1}, func(int, string, *tar.Header) error { return nil })
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		pf := w.open(full, "x", &tar.Header{})
		b, _ := w.buffer()
		copy(b, strings.Repeat("x", 100)) // zeros would be left a hole
		w.write(pf, b[:100], true)
		var failed error
		for i := 0; i < 1000 && failed == nil; i++ {
			f, err := os.Create(filepath.Join(t.TempDir(), "later"))
			if err != nil {
				t.Fatal(err)
			}
			pf := w.open(f, "later", &tar.Header{})
			b, err := w.buffer()
			if err != nil {
				failed = err
				w.drop(pf, nil)
				break
			}
			w.write(pf, b[:10], true)
			time.Sleep(time.Millisecond)
		}
		want := `write "x": no space left on device`
		if failed == nil || failed.Error() != want {
			t.Errorf("%d writers: buffer after the failure: %v, want %s", n, failed, want)
		}
		if err := w.close(false); err == nil || err.Error() != want {
			t.Errorf("%d writers: close: %v, want %s", n, err, want)
		}
		if err := w.close(false); err != nil {
			t.Errorf("%d writers: second close: %v", n, err)
		}
		if after := openFDs(t); after != before {
			t.Errorf("%d writers: %d files open before, %d after", n, before, after)
		}
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestExtractSparse: files archived sparse by GNU tar, in each of its
// sparse formats, come out with their contents and their holes.
func TestExtractSparse(t *testing.T) {
	testenv.RequireCommand(t, "tar")
	src := t.TempDir()
	type piece struct {
		off  int64
		data string
	}
	files := map[string]struct {
		size   int64
		pieces []piece
	}{
		"ends-in-hole": {8 << 20, []piece{{0, "head"}, {3 << 20, "middle"}}},
		"ends-in-data": {6 << 20, []piece{{4096, "x"}, {6<<20 - 4, "tail"}}},
		"all-hole":     {5 << 20, nil},
	}
	for name, f := range files {
		fh, err := os.Create(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.pieces {
			fh.WriteAt([]byte(p.data), p.off)
		}
		fh.Truncate(f.size)
		fh.Close()
		os.Chtimes(filepath.Join(src, name), testTime, testTime)
	}
	// The last: holes archived as zeros, as docker writes layers; each
	// page of zeros is left a hole all the same.
	for _, format := range [][]string{
		{"-S", "--format=gnu"},
		{"-S", "--format=posix", "--sparse-version=0.0"},
		{"-S", "--format=posix", "--sparse-version=0.1"},
		{"-S", "--format=posix", "--sparse-version=1.0"},
		{"--format=posix"},
	} {
		args := append([]string{"-c", "-C", src}, format...)
		out, err := exec.Command("tar", append(args, "ends-in-hole", "ends-in-data", "all-hole")...).Output()
		if err != nil {
			t.Fatalf("tar %v: %v", format, err)
		}
		// Cut short in its first entry's data: an error, the file named.
		if _, err := extractTar(bytes.NewReader(out[:2560]), t.TempDir(), extractOptions{}); !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), `"ends-in-hole"`) {
			t.Errorf("%v, cut short: %v", format, err)
		}
		for _, writers := range []int{-1, 2} {
			dir := t.TempDir()
			if _, err := extractTar(bytes.NewReader(out), dir, extractOptions{writers: writers}); err != nil {
				t.Fatalf("%v, %d writers: %v", format, writers, err)
			}
			for name, f := range files {
				p := filepath.Join(dir, name)
				want, _ := os.ReadFile(filepath.Join(src, name))
				got, err := os.ReadFile(p)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%v, %d writers: %s: %d bytes differ from the %d archived (%v)", format, writers, name, len(got), len(want), err)
				}
				var st unix.Stat_t
				if err := unix.Stat(p, &st); err != nil {
					t.Fatal(err)
				}
				if st.Size != f.size || st.Blocks*512 > 1<<20 {
					t.Errorf("%v, %d writers: %s: size %d with %d bytes allocated, want size %d with holes", format, writers, name, st.Size, st.Blocks*512, f.size)
				}
				if mt := time.Unix(st.Mtim.Unix()); !mt.Equal(testTime) {
					t.Errorf("%v, %d writers: %s: mtime %v, want %v", format, writers, name, mt, testTime)
				}
			}
		}
	}
}

// TestExtractZFSStream: a SmartOS image's file (a ZFS send stream, in
// either byte order) is refused as such; other junk is a tar error.
func TestExtractZFSStream(t *testing.T) {
	begin := func(order binary.ByteOrder) []byte {
		b := make([]byte, 1024)
		order.PutUint32(b[0:], 0) // DRR_BEGIN
		order.PutUint32(b[4:], 0)
		order.PutUint64(b[8:], 0x2F5bacbac)
		return b
	}
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"little-endian": {gz(t, begin(binary.LittleEndian)), "ZFS send stream"},
		"big-endian":    {begin(binary.BigEndian), "ZFS send stream"},
		"junk":          {bytes.Repeat([]byte("junk"), 256), "read tar"},
	} {
		_, _, err := extractBytes(t, c.data, extractOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
