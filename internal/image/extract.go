package image

import (
	"archive/tar"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// tarName cleans an entry name and rejects one that could leave the
// extraction root. Leading "/" and "./" are dropped, as tar does.
func tarName(name string) (string, error) {
	n := strings.TrimLeft(name, "/")
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", fmt.Errorf("tar entry %q: path contains \"..\"", name)
		}
	}
	n = path.Clean(n)
	if n == "." || n == "" {
		return ".", nil
	}
	return n, nil
}

// underRoot reports whether a cleaned entry name is root or inside root/.
func underRoot(n string) bool { return n == "root" || strings.HasPrefix(n, "root/") }

// scanAllUnderRoot reads only the headers of a tar stream and reports
// whether every entry lies under "root/" (SmartOS dataset layout).
func scanAllUnderRoot(r io.Reader) (bool, error) {
	tr := tar.NewReader(r)
	seen := false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return seen, nil
		}
		if err != nil {
			return false, fmt.Errorf("read tar: %w", err)
		}
		n, err := tarName(hdr.Name)
		if err != nil {
			return false, err
		}
		if n == "." {
			continue
		}
		if !underRoot(n) {
			return false, nil
		}
		seen = true
	}
}

// extractOptions tunes one extraction.
type extractOptions struct {
	// strip is removed from the front of every entry name ("root").
	strip string
	// whiteouts applies OCI/aufs whiteout files (.wh.NAME, .wh..wh..opq)
	// instead of creating them: used when a layer goes on top of its origin.
	whiteouts bool
	// autoStrip decides on strip at the first entry: "root" when that
	// entry is under root/ (SmartOS dataset layout), none otherwise. With
	// it, a later entry outside root/ is an error rather than skipped, so
	// a one-pass extraction never silently drops part of an image.
	autoStrip bool
	// writers: 0 picks the file writers by filesystem
	// (fileWritersFor); n > 0 has n, n < 0 writes inline.
	writers int
	// wrote, if set, is told the size of each write to a file (tests;
	// called from the writers' goroutines).
	wrote func(n int)
}

// extractor writes a tar stream beneath one directory. Every path is
// resolved with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), so neither
// ".." nor a symlink in the archive (or already on disk) can make it write
// outside; symlinks are created, never followed.
type extractor struct {
	root     *os.File
	opts     extractOptions
	chown    bool
	dirTimes []dirTime
	// allUnderRoot tracks whether every entry so far was under "root/".
	allUnderRoot bool
	entries      int

	cacheRel string
	cacheFd  int
	wb       *writeback
	w        *fileWriters
}

const (
	// copyBuffer is the size of the writes that extract a file.
	copyBuffer = 1 << 20
	// writebackMin is the size from which an extracted file's writeback
	// starts as soon as it is written.
	writebackMin = 256 << 10
)

type dirTime struct {
	rel          string
	atime, mtime time.Time
}

// extractTar extracts r into dir, which must exist.
func extractTar(r io.Reader, dir string, opts extractOptions) (allUnderRoot bool, err error) {
	root, err := os.Open(dir)
	if err != nil {
		return false, fmt.Errorf("extract: %w", err)
	}
	defer root.Close()
	x := &extractor{root: root, opts: opts, chown: os.Geteuid() == 0, allUnderRoot: true, cacheFd: -1, wb: newWriteback(dir)}
	defer x.dropCache()
	defer x.wb.close()
	nw := opts.writers
	if nw == 0 {
		nw = fileWritersFor(dir)
	}
	x.w = newFileWriters(max(nw, 0), copyBuffer, x.wb, x.attrs)
	x.w.wrote = opts.wrote
	defer x.w.close(true) // after a failure; done below otherwise

	head := &headReader{r: r}
	tr := tar.NewReader(head)
	for first := true; ; first = false {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if first && head.zfsStream() {
				return false, errors.New("the image file is a ZFS send stream (an image made for SmartOS): hull installs images whose file is a tar archive")
			}
			return false, fmt.Errorf("read tar: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return false, err
		}
		if err := x.w.failure(); err != nil {
			return false, err
		}
	}
	if err := x.w.close(false); err != nil {
		return false, err
	}
	// Directory times last: creating their children changed them.
	for i := len(x.dirTimes) - 1; i >= 0; i-- {
		d := x.dirTimes[i]
		if err := x.setTimes(d.rel, d.atime, d.mtime); err != nil {
			return false, err
		}
	}
	return x.allUnderRoot && x.entries > 0, nil
}

// headReader keeps the first bytes read through it, to tell what a file
// that is not a tar is.
type headReader struct {
	r    io.Reader
	head [16]byte
	n    int
}

func (h *headReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if h.n < len(h.head) {
		h.n += copy(h.head[h.n:], p[:n])
	}
	return n, err
}

// zfsStream tells whether the bytes read began a ZFS send stream: a
// BEGIN record (type 0) with the stream magic, in either byte order.
func (h *headReader) zfsStream() bool {
	if h.n < 16 {
		return false
	}
	const magic = 0x2F5bacbac
	return binary.LittleEndian.Uint32(h.head[:4]) == 0 && binary.LittleEndian.Uint64(h.head[8:]) == magic ||
		binary.BigEndian.Uint32(h.head[:4]) == 0 && binary.BigEndian.Uint64(h.head[8:]) == magic
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	n, err := tarName(hdr.Name)
	if err != nil {
		return err
	}
	if n != "." {
		x.entries++
		if !underRoot(n) {
			x.allUnderRoot = false
		}
		if x.opts.autoStrip {
			if x.entries == 1 && underRoot(n) {
				x.opts.strip = "root"
			} else if x.opts.strip != "" && !underRoot(n) {
				return fmt.Errorf("tar entry %q is outside root/, where the image's first entry was", hdr.Name)
			}
		}
	}
	n, ok := x.stripped(n)
	if !ok {
		return nil
	}
	if x.opts.whiteouts {
		if done, err := x.whiteout(n); done || err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(n, hdr)
	case tar.TypeReg, tar.TypeGNUSparse:
		return x.file(n, hdr, r)
	case tar.TypeSymlink:
		return x.special(n, hdr, func(dfd int, base string) error {
			return unix.Symlinkat(hdr.Linkname, dfd, base)
		})
	case tar.TypeLink:
		target, err := tarName(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hard link %q: %w", hdr.Name, err)
		}
		target, ok := x.stripped(target)
		if !ok || target == "." {
			return fmt.Errorf("hard link %q: target %q is outside the image root", hdr.Name, hdr.Linkname)
		}
		tdfd, err := x.openDir(path.Dir(target), false)
		if err != nil {
			return fmt.Errorf("hard link %q: %w", hdr.Name, err)
		}
		defer unix.Close(tdfd)
		dfd, base, err := x.parent(n)
		if err != nil {
			return err
		}
		if err := x.clear(dfd, base, n, false); err != nil {
			return err
		}
		// flags 0: a link to a symlink links the symlink itself.
		if err := unix.Linkat(tdfd, path.Base(target), dfd, base, 0); err != nil {
			return fmt.Errorf("hard link %q -> %q: %w", n, target, err)
		}
		return nil
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		return x.special(n, hdr, func(dfd int, base string) error {
			return unix.Mknodat(dfd, base, mode, dev)
		})
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return fmt.Errorf("tar entry %q: unsupported type %q", hdr.Name, hdr.Typeflag)
	}
}

// stripped removes the strip prefix; entries outside it are skipped.
func (x *extractor) stripped(n string) (string, bool) {
	if x.opts.strip == "" {
		return n, true
	}
	if n == x.opts.strip {
		return ".", true
	}
	if rest, ok := strings.CutPrefix(n, x.opts.strip+"/"); ok {
		return rest, true
	}
	return "", false
}

// whiteout applies n if it is a whiteout marker.
func (x *extractor) whiteout(n string) (bool, error) {
	base := path.Base(n)
	if !strings.HasPrefix(base, ".wh.") {
		return false, nil
	}
	// The cached parent may be a directory this whiteout removes.
	x.dropCache()
	dir := path.Dir(n)
	dfd, err := x.openDir(dir, true)
	if err != nil {
		return true, err
	}
	defer unix.Close(dfd)
	if base == ".wh..wh..opq" {
		// Opaque directory: nothing below it from lower layers survives.
		names, err := readDirNames(dfd)
		if err != nil {
			return true, fmt.Errorf("whiteout %q: %w", n, err)
		}
		for _, name := range names {
			if err := removeAllAt(dfd, name); err != nil {
				return true, fmt.Errorf("whiteout %q: %w", n, err)
			}
		}
		return true, nil
	}
	if err := removeAllAt(dfd, strings.TrimPrefix(base, ".wh.")); err != nil {
		return true, fmt.Errorf("whiteout %q: %w", n, err)
	}
	return true, nil
}

func (x *extractor) dir(n string, hdr *tar.Header) error {
	if n != "." {
		dfd, base, err := x.parent(n)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := x.clear(dfd, base, n, false); err != nil {
				return err
			}
		}
		if err := unix.Mkdirat(dfd, base, 0o700); err != nil && err != unix.EEXIST {
			return fmt.Errorf("mkdir %q: %w", n, err)
		}
	}
	fd, err := x.openDir(n, false)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := x.attrs(fd, n, hdr); err != nil {
		return err
	}
	x.dirTimes = append(x.dirTimes, dirTime{n, hdr.AccessTime, hdr.ModTime})
	return nil
}

func (x *extractor) file(n string, hdr *tar.Header, r io.Reader) error {
	if n == "." {
		return fmt.Errorf("tar entry %q: a file cannot be the image root", hdr.Name)
	}
	dfd, base, err := x.parent(n)
	if err != nil {
		return err
	}
	if err := x.clear(dfd, base, n, true); err != nil {
		return err
	}
	fd, err := unix.Openat(dfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create %q: %w", n, err)
	}
	if sparseEntry(hdr) {
		return x.sparseFile(fd, n, hdr, r)
	}
	// The contents go to a writer in big chunks (a decompressor returns
	// little more than its window, 32 KiB, per read, and a write costs
	// about the same for 32 KiB as for much more); the writer finishes
	// the file.
	pf := x.w.open(os.NewFile(uintptr(fd), n), n, hdr)
	left := hdr.Size
	for {
		buf, err := x.w.buffer()
		if err != nil {
			x.w.drop(pf, nil)
			return err
		}
		k := int(min(left, int64(len(buf))))
		if _, err := io.ReadFull(r, buf[:k]); err != nil {
			// A tar entry cut short is an error, not a shorter file.
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			x.w.drop(pf, buf)
			return fmt.Errorf("write %q: %w", n, err)
		}
		left -= int64(k)
		x.w.write(pf, buf[:k], left == 0)
		if left == 0 {
			return nil
		}
	}
}

// special creates a symlink or device node with mk, then sets owner,
// xattrs and times on the entry itself (never a symlink's target).
func (x *extractor) special(n string, hdr *tar.Header, mk func(dfd int, base string) error) error {
	if n == "." {
		return fmt.Errorf("tar entry %q: must be a directory", hdr.Name)
	}
	dfd, base, err := x.parent(n)
	if err != nil {
		return err
	}
	if err := x.clear(dfd, base, n, true); err != nil {
		return err
	}
	if err := mk(dfd, base); err != nil {
		return fmt.Errorf("create %q: %w", n, err)
	}
	if x.chown {
		if err := unix.Fchownat(dfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %q: %w", n, err)
		}
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// mknod applied the umask.
		if err := unix.Fchmodat(dfd, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return fmt.Errorf("chmod %q: %w", n, err)
		}
	}
	procPath := "/proc/self/fd/" + strconv.Itoa(dfd) + "/" + base
	for name, val := range xattrs(hdr) {
		if err := unix.Lsetxattr(procPath, name, []byte(val), 0); err != nil && err != unix.ENOTSUP {
			return fmt.Errorf("set xattr %s on %q: %w", name, n, err)
		}
	}
	ts := []unix.Timespec{timespec(hdr.AccessTime, hdr.ModTime), timespec(hdr.ModTime, hdr.ModTime)}
	if err := unix.UtimesNanoAt(dfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %q: %w", n, err)
	}
	return nil
}

// attrs sets owner, mode and xattrs through an open fd. chown comes before
// chmod because chown clears set-id bits.
func (x *extractor) attrs(fd int, n string, hdr *tar.Header) error {
	if x.chown {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown %q: %w", n, err)
		}
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("chmod %q: %w", n, err)
	}
	for name, val := range xattrs(hdr) {
		if err := unix.Fsetxattr(fd, name, []byte(val), 0); err != nil && err != unix.ENOTSUP {
			return fmt.Errorf("set xattr %s on %q: %w", name, n, err)
		}
	}
	return nil
}

func xattrs(hdr *tar.Header) map[string]string {
	var m map[string]string
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if m == nil {
				m = map[string]string{}
			}
			m[name] = v
		}
	}
	return m
}

// clear removes whatever is at base so a later entry replaces an earlier
// one (or one from the origin image). Directories go only when replaced by
// a non-directory.
func (x *extractor) clear(dfd int, base, n string, dirsToo bool) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return fmt.Errorf("stat %q: %w", n, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if !dirsToo {
			return nil
		}
		if err := removeAllAt(dfd, base); err != nil {
			return fmt.Errorf("replace %q: %w", n, err)
		}
		return nil
	}
	if err := unix.Unlinkat(dfd, base, 0); err != nil {
		return fmt.Errorf("replace %q: %w", n, err)
	}
	return nil
}

// parent returns a (cached) fd of n's parent directory and n's base name.
func (x *extractor) parent(n string) (int, string, error) {
	dir := path.Dir(n)
	if x.cacheFd >= 0 && x.cacheRel == dir {
		return x.cacheFd, path.Base(n), nil
	}
	x.dropCache()
	fd, err := x.openDir(dir, true)
	if err != nil {
		return -1, "", err
	}
	x.cacheRel, x.cacheFd = dir, fd
	return fd, path.Base(n), nil
}

func (x *extractor) dropCache() {
	if x.cacheFd >= 0 {
		unix.Close(x.cacheFd)
		x.cacheFd = -1
	}
}

// openDir opens rel beneath the root without following any symlink,
// creating missing directories (root-owned, 0755) when create is set,
// for archives that omit directory entries.
func (x *extractor) openDir(rel string, create bool) (int, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(int(x.root.Fd()), rel, how)
	if err == nil || !create || err != unix.ENOENT || rel == "." {
		if err != nil {
			if err == unix.ELOOP || err == unix.EXDEV {
				return -1, fmt.Errorf("open %q: path goes through a symlink", rel)
			}
			return -1, fmt.Errorf("open %q: %w", rel, err)
		}
		return fd, nil
	}
	pfd, err := x.openDir(path.Dir(rel), true)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, path.Base(rel), 0o755); err != nil && err != unix.EEXIST {
		return -1, fmt.Errorf("mkdir %q: %w", rel, err)
	}
	return x.openDir(rel, false)
}

func (x *extractor) setTimes(rel string, atime, mtime time.Time) error {
	fd, err := x.openDir(rel, false)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ts := []unix.Timespec{timespec(atime, mtime), timespec(mtime, mtime)}
	if err := futimens(fd, ts); err != nil {
		return fmt.Errorf("set times of %q: %w", rel, err)
	}
	return nil
}

// timespec is t, or fallback when the archive has no such time.
func timespec(t, fallback time.Time) unix.Timespec {
	if t.IsZero() {
		t = fallback
	}
	if t.IsZero() {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return unix.NsecToTimespec(t.UnixNano())
}

func readDirNames(dfd int) ([]string, error) {
	nfd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(nfd), "dir")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	sort.Strings(names)
	return names, err
}

// removeAllAt removes name beneath dfd, recursing without following
// symlinks.
func removeAllAt(dfd int, name string) error {
	err := unix.Unlinkat(dfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	cfd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	names, err := readDirNames(cfd)
	if err == nil {
		for _, c := range names {
			if err = removeAllAt(cfd, c); err != nil {
				break
			}
		}
	}
	unix.Close(cfd)
	if err != nil {
		return err
	}
	return unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR)
}
