package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"hull/internal/xattr"
)

// treeWriter writes a directory tree as tar entries under "root/".
type treeWriter struct {
	ctx   context.Context
	tw    *tar.Writer
	w     io.Writer         // the stream under tw, for sparse entries
	links map[uint64]string // inode -> first name, for hard links
}

// all writes every entry of dir.
func (t *treeWriter) all(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return t.entry(dir, p)
	})
}

// diff writes what changed from base to dir: new or changed entries, and
// a whiteout (.wh.NAME) for each entry of base that dir no longer has.
// Unchanged means same type, mode, owner, size, mtime and link target.
func (t *treeWriter) diff(dir, base string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if same(p, filepath.Join(base, rel)) {
			return nil
		}
		return t.entry(dir, p)
	})
	if err != nil {
		return err
	}
	return filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		if rel == "." {
			return nil
		}
		if _, err := os.Lstat(filepath.Join(dir, rel)); errors.Is(err, fs.ErrNotExist) {
			wh := filepath.Join(filepath.Dir(rel), ".wh."+filepath.Base(rel))
			if err := t.tw.WriteHeader(&tar.Header{Name: "root/" + filepath.ToSlash(wh), Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
				return err
			}
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
}

func same(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Lstat(a, &sa) != nil || unix.Lstat(b, &sb) != nil {
		return false
	}
	if sa.Mode != sb.Mode || sa.Uid != sb.Uid || sa.Gid != sb.Gid || sa.Size != sb.Size ||
		sa.Mtim != sb.Mtim || sa.Rdev != sb.Rdev {
		return false
	}
	if sa.Mode&unix.S_IFMT == unix.S_IFLNK {
		la, _ := os.Readlink(a)
		lb, _ := os.Readlink(b)
		if la != lb {
			return false
		}
	}
	// An xattr set (a file capability, say) changes neither mtime nor
	// size.
	xa, erra := fileXattrs(a)
	xb, errb := fileXattrs(b)
	return erra == nil && errb == nil && maps.Equal(xa, xb)
}

// fileXattrs reads the extended attributes of p itself (not a symlink's
// target): file capabilities, ACLs, user attributes, as ZFS sends them
// with a dataset. overlayfs's own are not the file's.
func fileXattrs(p string) (map[string]string, error) {
	return xattr.All(p, func(name string) bool { return strings.HasPrefix(name, "trusted.overlay.") })
}

func (t *treeWriter) entry(dir, p string) error {
	if err := t.ctx.Err(); err != nil {
		return err
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	if fi.Mode()&fs.ModeSocket != 0 {
		return nil // sockets are not carried in images
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	hdr.Uname, hdr.Gname = "", ""
	hdr.Format = tar.FormatPAX
	name := "root"
	if rel != "." {
		name += "/" + filepath.ToSlash(rel)
	}
	if fi.IsDir() {
		name += "/"
	}
	hdr.Name = name
	// os.Lstat's Sys is syscall's Stat_t (x/sys/unix's is another type).
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st == nil {
		return fmt.Errorf("%s: no stat", p)
	}
	hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	xattrs, err := fileXattrs(p)
	if err != nil {
		return err
	}
	for k, v := range xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+k] = v
	}
	if fi.Mode().IsRegular() && st.Nlink > 1 {
		if first, ok := t.links[st.Ino]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			return t.tw.WriteHeader(hdr)
		}
		t.links[st.Ino] = name
	}
	if !fi.Mode().IsRegular() {
		return t.tw.WriteHeader(hdr)
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if st.Blocks*512 < st.Size {
		segs, holes, err := dataSegments(f, hdr.Size)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if holes {
			if err := t.sparse(hdr, f, segs); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			return nil
		}
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.Copy(t.tw, f); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// sparse writes the file f of hdr with only its data at segs, as a
// sparse entry (sparsetar.go).
func (t *treeWriter) sparse(hdr *tar.Header, f *os.File, segs []segment) error {
	head, err := sparseHeaders(hdr, segs)
	if err != nil {
		return err
	}
	// The entry before is padded out; then the stream is this entry's.
	if err := t.tw.Flush(); err != nil {
		return err
	}
	if _, err := t.w.Write(head); err != nil {
		return err
	}
	for _, s := range segs {
		n, err := io.Copy(t.w, io.NewSectionReader(f, s.off, s.len))
		if err != nil {
			return err
		}
		if n != s.len {
			return fmt.Errorf("file changed while read (%d bytes at %d, %d expected)", n, s.off, s.len)
		}
	}
	_, err = t.w.Write(sparsePadding(segs))
	return err
}
