package stream

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Unpack extracts a tar made by Pack into dir, which should be empty.
// Every path is resolved beneath dir without following symlinks
// (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), so no entry can write
// outside it, whatever the stream holds. Directory modes and times are
// applied last, deepest first, so that adding entries does not change
// them.
func Unpack(r io.Reader, dir string) error {
	rootFD, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("unpack into %s: %w", dir, err)
	}
	defer unix.Close(rootFD)
	u := &unpacker{root: rootFD, dir: dir, buf: make([]byte, 1<<20)}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("unpack: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return fmt.Errorf("unpack %s: %w", hdr.Name, err)
		}
	}
	for i := len(u.dirs) - 1; i >= 0; i-- {
		if err := u.finishDir(u.dirs[i]); err != nil {
			return fmt.Errorf("unpack %s: %w", u.dirs[i].Name, err)
		}
	}
	return nil
}

type unpacker struct {
	root int
	dir  string
	dirs []*tar.Header
	buf  []byte
}

// cleanName makes an entry name relative to the root, refusing one that
// climbs out of it.
func cleanName(name string) (string, error) {
	n := strings.TrimLeft(name, "/")
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", errors.New("entry name contains \"..\"")
		}
	}
	n = path.Clean(n)
	if n == "" {
		n = "."
	}
	return n, nil
}

// openDir opens a directory beneath the root, never through a symlink.
func (u *unpacker) openDir(rel string) (int, error) {
	if rel == "." {
		return unix.Dup(u.root)
	}
	return unix.Openat2(u.root, rel, &unix.OpenHow{
		Flags:   unix.O_DIRECTORY | unix.O_RDONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
}

func (u *unpacker) entry(hdr *tar.Header, r io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return errors.New("root entry is not a directory")
		}
		if err := u.owner(u.root, "", hdr); err != nil {
			return err
		}
		u.dirs = append(u.dirs, hdr)
		hdr.Name = "."
		return nil
	}
	pfd, err := u.openDir(path.Dir(name))
	if err != nil {
		return fmt.Errorf("parent directory: %w", err)
	}
	defer unix.Close(pfd)
	base := path.Base(name)
	hdr.Name = name
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
			return err
		}
		if err := u.owner(pfd, base, hdr); err != nil {
			return err
		}
		u.dirs = append(u.dirs, hdr)
		return nil
	case tar.TypeReg: // (the reader makes an old TypeRegA entry TypeReg)
		return u.file(pfd, base, hdr, r)
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil || target == "." {
			return fmt.Errorf("bad hard link target %q", hdr.Linkname)
		}
		tfd, err := u.openDir(path.Dir(target))
		if err != nil {
			return fmt.Errorf("hard link target: %w", err)
		}
		defer unix.Close(tfd)
		return unix.Linkat(tfd, path.Base(target), pfd, base, 0)
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
		return u.finish(pfd, base, hdr, false)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, kind|mode, int(dev)); err != nil {
			return err
		}
		return u.finish(pfd, base, hdr, true)
	}
	return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
}

func (u *unpacker) file(pfd int, base string, hdr *tar.Header, r io.Reader) error {
	fd, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := fdWriter(fd)
	_, err = io.CopyBuffer(f, r, u.buf)
	if err == nil {
		err = u.owner(fd, "", hdr)
	}
	if err == nil {
		err = unix.Fchmod(fd, uint32(hdr.Mode&0o7777))
	}
	if err == nil {
		err = u.times(fd, "", hdr)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	return err
}

// finish sets owner, xattrs, mode (unless a symlink) and times of a
// non-regular entry by name in its parent.
func (u *unpacker) finish(pfd int, base string, hdr *tar.Header, chmod bool) error {
	if err := u.owner(pfd, base, hdr); err != nil {
		return err
	}
	if chmod {
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return err
		}
	}
	return u.times(pfd, base, hdr)
}

// owner sets the numeric owner, then the extended attributes (a chown
// clears security.capability, so they come after it). fd alone names
// the file when base is "".
func (u *unpacker) owner(fd int, base string, hdr *tar.Header) error {
	if err := unix.Fchownat(fd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW|atEmpty(base)); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	p := "/proc/self/fd/" + strconv.Itoa(fd) + "/" + base
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, xattrPrefix)
		if !ok {
			continue
		}
		var err error
		if base == "" {
			err = unix.Fsetxattr(fd, name, []byte(v), 0)
		} else {
			err = unix.Lsetxattr(p, name, []byte(v), 0)
		}
		if err != nil {
			if errors.Is(err, unix.EPERM) && hdr.Typeflag == tar.TypeSymlink && strings.HasPrefix(name, "user.") {
				continue // the kernel refuses user xattrs on symlinks
			}
			return fmt.Errorf("xattr %s: %w", name, err)
		}
	}
	return nil
}

func atEmpty(base string) int {
	if base == "" {
		return unix.AT_EMPTY_PATH
	}
	return 0
}

func (u *unpacker) times(fd int, base string, hdr *tar.Header) error {
	ts := []unix.Timespec{timespec(hdr.ModTime), timespec(hdr.ModTime)}
	if base == "" {
		return unix.UtimesNanoAt(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), ts, 0)
	}
	return unix.UtimesNanoAt(fd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	return unix.NsecToTimespec(t.UnixNano())
}

// finishDir applies a directory's mode and times once its entries are in.
func (u *unpacker) finishDir(hdr *tar.Header) error {
	fd, err := u.openDir(hdr.Name)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return err
	}
	return u.times(fd, "", hdr)
}

type fdWriter int

func (f fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := unix.Write(int(f), p[n:])
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return n, err
		}
		n += k
	}
	return n, nil
}
