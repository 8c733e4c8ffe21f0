package dir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"hull/internal/xattr"
)

const opaqueXattr = "trusted.overlay.opaque"

// walker visits a tree: enter for every entry (directories before their
// children), leave for directories after their children.
type walker struct {
	enter func(rel, src string, st *unix.Stat_t) error
	leave func(rel, src string, st *unix.Stat_t) error
}

// merged visits the view an overlay would show of layers (topmost
// first): the topmost entry of a name wins, whiteouts hide names below
// them, opaque directories hide lower directories of the same name.
// With merge false, layers must be one directory and is visited as is.
func (w walker) merged(layers []string, merge bool) error {
	var st unix.Stat_t
	if err := unix.Lstat(layers[0], &st); err != nil {
		return fmt.Errorf("stat %s: %w", layers[0], err)
	}
	return w.dir("", layers, &st, merge)
}

func (w walker) dir(rel string, dirs []string, st *unix.Stat_t, merge bool) error {
	if err := w.call(w.enter, rel, dirs[0], st); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			return fmt.Errorf("read %s: %w", d, err)
		}
		for _, e := range ents {
			name := e.Name()
			if seen[name] {
				continue
			}
			seen[name] = true
			src := filepath.Join(d, name)
			var cst unix.Stat_t
			if err := unix.Lstat(src, &cst); err != nil {
				return fmt.Errorf("stat %s: %w", src, err)
			}
			if merge && isWhiteout(&cst) {
				continue
			}
			crel := filepath.Join(rel, name)
			if cst.Mode&unix.S_IFMT != unix.S_IFDIR {
				if err := w.call(w.enter, crel, src, &cst); err != nil {
					return err
				}
				continue
			}
			sub := []string{src}
			if merge && !isOpaque(src) {
				sub = append(sub, lowerDirs(dirs[i+1:], name)...)
			}
			if err := w.dir(crel, sub, &cst, merge); err != nil {
				return err
			}
		}
	}
	return w.call(w.leave, rel, dirs[0], st)
}

// lowerDirs finds the directories named name that show through from
// lower layers: down to the first whiteout, non-directory or opaque one.
func lowerDirs(dirs []string, name string) []string {
	var out []string
	for _, d := range dirs {
		p := filepath.Join(d, name)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			break // a whiteout or a file hides everything below
		}
		out = append(out, p)
		if isOpaque(p) {
			break
		}
	}
	return out
}

func (w walker) call(f func(string, string, *unix.Stat_t) error, rel, src string, st *unix.Stat_t) error {
	if f == nil {
		return nil
	}
	return f(rel, src, st)
}

func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func isOpaque(p string) bool {
	buf := make([]byte, 4)
	n, err := unix.Lgetxattr(p, opaqueXattr, buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

// treeSize is the space a tree (or an overlay view of layers) holds:
// allocated blocks, each hardlinked inode counted once.
func treeSize(layers []string, merge bool) (int64, error) {
	var total int64
	seen := map[[2]uint64]bool{}
	w := walker{enter: func(_, _ string, st *unix.Stat_t) error {
		k := [2]uint64{st.Dev, st.Ino}
		if !seen[k] {
			seen[k] = true
			total += st.Blocks * 512
		}
		return nil
	}}
	err := w.merged(layers, merge)
	return total, err
}

// copyTree copies layers (a plain tree when merge is false, an overlay
// view otherwise) to dst, keeping owners, modes, xattrs, times,
// symlinks, hardlinks and device nodes. File data is shared with FICLONE
// where the filesystem can (btrfs, xfs), else copied.
func copyTree(layers []string, dst string, merge bool) error {
	c := &copier{dst: dst, raw: !merge, links: map[[2]uint64]string{}, reflink: true}
	return walker{enter: c.enter, leave: c.leave}.merged(layers, merge)
}

type copier struct {
	dst     string
	raw     bool // keep whiteouts and opaque markers: the copy is a layer
	links   map[[2]uint64]string
	reflink bool
}

func (c *copier) enter(rel, src string, st *unix.Stat_t) error {
	dst := filepath.Join(c.dst, rel)
	var err error
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		err = os.Mkdir(dst, 0o700)
		if rel == "" && errors.Is(err, os.ErrExist) {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		return nil // metadata in leave, after the children are in
	case unix.S_IFREG:
		k := [2]uint64{st.Dev, st.Ino}
		if prev, ok := c.links[k]; ok && st.Nlink > 1 {
			if err := os.Link(prev, dst); err != nil {
				return fmt.Errorf("copy %s: %w", src, err)
			}
			return nil
		}
		err = c.copyFile(src, dst)
		if st.Nlink > 1 {
			c.links[k] = dst
		}
	case unix.S_IFLNK:
		var target string
		if target, err = os.Readlink(src); err == nil {
			err = os.Symlink(target, dst)
		}
	default: // devices, fifos, sockets, whiteouts
		err = unix.Mknod(dst, st.Mode, int(st.Rdev))
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return c.meta(src, dst, st)
}

func (c *copier) leave(rel, src string, st *unix.Stat_t) error {
	return c.meta(src, filepath.Join(c.dst, rel), st)
}

func (c *copier) copyFile(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if c.reflink {
		err = unix.IoctlFileClone(int(out.Fd()), int(in.Fd()))
		if err == nil {
			return out.Close()
		}
		// Not a reflink filesystem: stop asking for the rest of the tree.
		c.reflink = false
	}
	// ReadFrom uses copy_file_range, which shares blocks where it can.
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// meta copies ownership, xattrs, mode and times, in that order: chown
// clears setuid bits and file capabilities, so they come after it.
func (c *copier) meta(src, dst string, st *unix.Stat_t) error {
	if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("chown %s: %w", dst, err)
	}
	if err := c.xattrs(src, dst); err != nil {
		return err
	}
	isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	if !isLink {
		if err := unix.Fchmodat(unix.AT_FDCWD, dst, st.Mode&0o7777, 0); err != nil {
			return fmt.Errorf("chmod %s: %w", dst, err)
		}
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", dst, err)
	}
	return nil
}

func (c *copier) xattrs(src, dst string) error {
	names, err := xattr.List(src)
	if err != nil {
		return err
	}
	for _, n := range names {
		// Overlay's own markers describe the source's layers, not the
		// copy; only the opaque mark of a raw layer copy keeps meaning.
		if strings.HasPrefix(n, "trusted.overlay.") && !(c.raw && n == opaqueXattr) {
			continue
		}
		v, err := xattr.Get(src, n)
		if err != nil {
			return err
		}
		if err := unix.Lsetxattr(dst, n, v, 0); err != nil {
			return fmt.Errorf("set xattr %s on %s: %w", n, dst, err)
		}
	}
	return nil
}
