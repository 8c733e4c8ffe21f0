package idmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"hull/internal/atomicfile"
)

// MarkerName is the file, next to a shifted root, that records the shift.
const MarkerName = ".hull-shifted"

// Marker returns the path of root's shift marker: <root>/../.hull-shifted,
// outside the root so the zone can neither see nor forge it.
func Marker(root string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(root)), MarkerName)
}

// marker is the recorded state of a root: its files are owned by Done; if
// Pending is set, a shift from Done to Pending was started and may be half
// done.
type marker struct {
	Done, Pending Range
}

func readMarker(path string) (marker, error) {
	var m marker
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return marker{Done: Range{HostID: 0, Size: Size}}, nil // never shifted: host ids as they are
	}
	if err != nil {
		return m, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r Range
		var key string
		if _, err := fmt.Sscanf(line, "%s %d %d", &key, &r.HostID, &r.Size); err != nil {
			return m, fmt.Errorf("bad marker line %q", line)
		}
		switch key {
		case "done":
			m.Done = r
		case "pending":
			m.Pending = r
		default:
			return m, fmt.Errorf("bad marker line %q", line)
		}
	}
	if m.Done.Size == 0 {
		return m, fmt.Errorf("marker without a done range")
	}
	return m, nil
}

func writeMarker(path string, m marker) error {
	s := fmt.Sprintf("done %d %d\n", m.Done.HostID, m.Done.Size)
	if m.Pending.Size != 0 {
		s += fmt.Sprintf("pending %d %d\n", m.Pending.HostID, m.Pending.Size)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return atomicfile.Sync(filepath.Dir(path))
}

func overlap(a, b Range) bool {
	return uint64(a.HostID) < uint64(b.HostID)+uint64(b.Size) && uint64(b.HostID) < uint64(a.HostID)+uint64(a.Size)
}

// Shift is the fallback where idmapped mounts are not available: it chowns
// every file under root (not crossing into other filesystems) from host id
// u to r.HostID+u, for u < r.Size, leaving other ids alone, and records
// the shift in Marker(root). A second Shift to the same range does
// nothing; a Shift to another range moves the files from the recorded
// range to the new one.
//
// The marker names the target before the walk starts, so a walk cut short
// by a crash is finished by the next Shift. That is safe because ranges
// never overlap: a file already moved is outside the source range and is
// left alone the second time round (hard links, likewise).
func Shift(root string, r Range) error {
	if r.Size == 0 {
		return fmt.Errorf("idmap: shift %s: empty range", root)
	}
	path := Marker(root)
	m, err := readMarker(path)
	if err != nil {
		return fmt.Errorf("idmap: shift %s: marker %s: %w", root, path, err)
	}
	if m.Pending.Size != 0 {
		if err := shiftTree(root, m.Done, m.Pending); err != nil {
			return err
		}
		m = marker{Done: m.Pending}
		if err := writeMarker(path, m); err != nil {
			return fmt.Errorf("idmap: shift %s: %w", root, err)
		}
	}
	if m.Done == r {
		return nil
	}
	if overlap(m.Done, r) {
		return fmt.Errorf("idmap: shift %s: range %v overlaps the current %v", root, r, m.Done)
	}
	if err := writeMarker(path, marker{Done: m.Done, Pending: r}); err != nil {
		return fmt.Errorf("idmap: shift %s: %w", root, err)
	}
	if err := shiftTree(root, m.Done, r); err != nil {
		return err
	}
	if err := writeMarker(path, marker{Done: r}); err != nil {
		return fmt.Errorf("idmap: shift %s: %w", root, err)
	}
	return nil
}

// shiftTree moves the ownership of every file under root from range from
// to range to.
func shiftTree(root string, from, to Range) error {
	var rootDev uint64
	move := func(id uint32) (uint32, bool) {
		if !from.Contains(id) || id-from.HostID >= to.Size {
			return id, false
		}
		return to.HostID + (id - from.HostID), true
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if p == root {
			rootDev = st.Dev
		} else if st.Dev != rootDev {
			// Another filesystem mounted inside: not ours to shift.
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		uid, uok := move(st.Uid)
		gid, gok := move(st.Gid)
		if !uok && !gok {
			return nil
		}
		return chownKeep(p, &st, uid, gid, to)
	})
	if err != nil {
		return fmt.Errorf("idmap: shift %s from %v to %v: %w", root, from, to, err)
	}
	return nil
}

// chownKeep chowns p and puts back what chown takes away: the setuid and
// setgid bits, and file capabilities (rewritten with the zone's root as
// their owner, or a zone could not use them).
func chownKeep(p string, st *unix.Stat_t, uid, gid uint32, to Range) error {
	isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	var caps []byte
	if st.Mode&unix.S_IFMT == unix.S_IFREG {
		caps = fileCaps(p)
	}
	if err := unix.Lchown(p, int(uid), int(gid)); err != nil {
		return err
	}
	if isLink {
		return nil
	}
	if st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		if err := unix.Chmod(p, st.Mode&07777); err != nil {
			return err
		}
	}
	if caps != nil {
		if v3 := capsFor(caps, to.HostID); v3 != nil {
			if err := unix.Lsetxattr(p, "security.capability", v3, 0); err != nil {
				return fmt.Errorf("restore capabilities of %s: %w", p, err)
			}
		}
	}
	return nil
}

func fileCaps(p string) []byte {
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(p, "security.capability", buf)
	if err != nil || n <= 0 {
		return nil
	}
	return buf[:n]
}

// capsFor rewrites a v2 or v3 security.capability value as v3 owned by
// host id rootid, the zone's root: the kernel honours file capabilities in
// a user namespace only when their root id is that namespace's root.
func capsFor(v []byte, rootid uint32) []byte {
	const (
		v2Size = 20
		v3Size = 24
		revV3  = 0x03000000
		revMsk = 0xFF000000
	)
	if len(v) < v2Size {
		return nil
	}
	magic := binary.LittleEndian.Uint32(v)
	rev := magic & revMsk
	if rev != 0x02000000 && rev != revV3 {
		return nil
	}
	out := make([]byte, v3Size)
	binary.LittleEndian.PutUint32(out, revV3|magic&^revMsk)
	copy(out[4:v2Size], v[4:v2Size])
	binary.LittleEndian.PutUint32(out[v2Size:], rootid)
	return out
}
