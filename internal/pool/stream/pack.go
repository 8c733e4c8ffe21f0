package stream

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/pool/mounts"
	"hull/internal/xattr"
)

// xattrPrefix is how PAX tar carries extended attributes.
const xattrPrefix = "SCHILY.xattr."

// Pack writes the tree at dir as a PAX tar: every file type Unpack makes
// (directories, regular files, symlinks, hard links, character and block
// devices, FIFOs) with numeric owners, full modes (setuid, setgid,
// sticky), nanosecond mtimes and extended attributes. Names are relative
// to dir, which itself is the entry ".". Mounts under dir are not
// entered (their mountpoints are packed, empty). Sockets are skipped
// (tar cannot hold them; they are recreated by whoever listens). Owners
// are those on disk (a zone's root is uid 0 there), never names.
func Pack(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	p := &packer{tw: tw, root: dir, links: map[[2]uint64]string{}, buf: make([]byte, 1<<20)}
	if err := p.walk("."); err != nil {
		return err
	}
	return tw.Close()
}

type packer struct {
	tw    *tar.Writer
	root  string
	links map[[2]uint64]string // (dev, ino) of multiply-linked files → first name
	buf   []byte
}

func (p *packer) walk(rel string) error {
	full := filepath.Join(p.root, rel)
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		return fmt.Errorf("pack %s: %w", full, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFSOCK {
		return nil
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
		Format:  tar.FormatPAX,
	}
	xa, err := xattr.All(full, nil)
	if err != nil {
		return fmt.Errorf("pack %s: %w", full, err)
	}
	if len(xa) > 0 {
		hdr.PAXRecords = map[string]string{}
		for k, v := range xa {
			hdr.PAXRecords[xattrPrefix+k] = v
		}
	}
	var file bool
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		if rel != "." {
			hdr.Name = rel + "/"
		}
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := p.links[key]; ok && st.Nlink > 1 {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			// A hard link shares its target's attributes.
			hdr.PAXRecords = nil
		} else {
			if st.Nlink > 1 {
				p.links[key] = rel
			}
			hdr.Typeflag, hdr.Size, file = tar.TypeReg, st.Size, true
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(full)
		if err != nil {
			return fmt.Errorf("pack %s: %w", full, err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil
	}
	if err := p.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("pack %s: %w", full, err)
	}
	if file {
		if err := p.copyFile(full, st.Size); err != nil {
			return err
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		return nil
	}
	if rel != "." && mounts.IsMountRoot(full) {
		// Another filesystem (a child dataset): its mountpoint is packed,
		// its content is its own.
		return nil
	}
	ents, err := os.ReadDir(full)
	if err != nil {
		return fmt.Errorf("pack %s: %w", full, err)
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	sort.Strings(names)
	for _, n := range names {
		if err := p.walk(path.Join(rel, n)); err != nil {
			return err
		}
	}
	return nil
}

// copyFile writes exactly size bytes of the file: one that changed size
// meanwhile is an error rather than a tar that does not parse.
func (p *packer) copyFile(full string, size int64) error {
	f, err := os.OpenFile(full, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("pack %s: %w", full, err)
	}
	defer f.Close()
	n, err := io.CopyBuffer(p.tw, io.LimitReader(f, size), p.buf)
	if err != nil {
		return fmt.Errorf("pack %s: %w", full, err)
	}
	if n != size {
		return fmt.Errorf("pack %s: file shrank while it was read", full)
	}
	return nil
}
