package node

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/atomicfile"
	"hull/internal/vm"
	"hull/internal/zone"
)

// ZlogMinSize is the least zlog_max_size: a smaller one rotates at this
// size, as SmartOS's zoneadmd does.
const ZlogMinSize = 1 << 20

// StdioLog is a docker zone's log, where SmartOS keeps it: in the zone's
// dataset, outside its root. ConsoleLog links to it.
func (n *Node) StdioLog(uuid string) string {
	return filepath.Join(n.Zonepath(uuid), "logs", "stdio.log")
}

// logTarget is the file a zone's output goes to: /dev/null when none is
// kept, a docker zone's stdio.log (with ConsoleLog made a link to it),
// else its console log.
func (n *Node) logTarget(v *vm.VM) (string, error) {
	switch {
	case !keepsLog(v):
		return os.DevNull, nil
	case !zone.IsDocker(v):
		return n.ConsoleLog(v.UUID), nil
	}
	target, link := n.StdioLog(v.UUID), n.ConsoleLog(v.UUID)
	// Not MkdirAll: a zonepath missing here would be made on the pool's
	// mount root, under the dataset's mount.
	if err := os.Mkdir(filepath.Dir(target), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("log directory of %s: %w", v.UUID, err)
	}
	if old, err := os.Readlink(link); err == nil && old == target {
		return target, nil
	}
	// A plain file here is a log from before the link; it goes, so that
	// readers of ConsoleLog see the log the zone writes.
	os.Remove(link)
	if err := os.Symlink(target, link); err != nil {
		return "", fmt.Errorf("link the log of %s: %w", v.UUID, err)
	}
	return target, nil
}

// RotateConsoles keeps each console log bounded: past max bytes, or the
// VM's zlog_max_size where it has one (at least ZlogMinSize), the log is
// copied aside and emptied; the zone appends, so it carries on (what it
// writes between the copy and the truncation, a few milliseconds, is
// lost). A console log goes to .0. A docker zone's stdio.log goes to
// stdio.log.<YYYYMMDDThhmmssZ>, as zoneadmd names it: all of them are
// kept under zlog_max_size, as SmartOS does (they count against the
// zone's quota), only the newest under the node's bound.
func (n *Node) RotateConsoles(max int64) {
	dir := filepath.Join(n.runDir(), "console")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		uuid, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok {
			continue
		}
		p := filepath.Join(dir, e.Name())
		st, err := os.Stat(p)
		if err != nil || st.Size() <= min(max, ZlogMinSize) {
			continue
		}
		limit, own := max, false
		if v, err := n.Get(uuid); err == nil && v.ZlogMaxSize > 0 {
			limit, own = v.ZlogMaxSize, true
			if limit < ZlogMinSize {
				limit = ZlogMinSize
			}
		}
		if st.Size() <= limit {
			continue
		}
		if e.Type()&fs.ModeSymlink == 0 {
			rotate(p, p+".0", st.Size(), true)
			continue
		}
		log := n.StdioLog(uuid)
		if err := rotate(log, log+"."+time.Now().UTC().Format(rotatedStamp), st.Size(), false); err != nil || own {
			continue
		}
		pruneRotated(log, 1)
	}
}

// rotatedStamp is the suffix of a rotated stdio.log, zoneadmd's.
const rotatedStamp = "20060102T150405Z"

// rotate copies the first size bytes of path to dst (a clone where the
// filesystem shares blocks) and empties path. An existing dst is
// replaced only when replace is set.
func rotate(path, dst string, size int64, replace bool) error {
	if _, err := os.Lstat(dst); err == nil && !replace {
		return fs.ErrExist
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = atomicfile.WriteFrom(dst, io.LimitReader(f, size), atomicfile.Options{Mode: 0o600, Sync: true})
	if err != nil {
		return err
	}
	return os.Truncate(path, 0)
}

// pruneRotated removes all but the newest keep rotated copies of log.
func pruneRotated(log string, keep int) {
	old := rotatedLogs(log)
	for _, p := range old[:max(0, len(old)-keep)] {
		os.Remove(p)
	}
}

// rotatedLogs lists log's rotated copies, oldest first.
func rotatedLogs(log string) []string {
	ents, err := os.ReadDir(filepath.Dir(log))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		stamp, ok := strings.CutPrefix(e.Name(), filepath.Base(log)+".")
		if !ok {
			continue
		}
		if _, err := time.Parse(rotatedStamp, stamp); err == nil {
			out = append(out, filepath.Join(filepath.Dir(log), e.Name()))
		}
	}
	slices.Sort(out)
	return out
}

// keepsLog reports whether the zone's output is kept in its console log:
// always, but for a docker VM whose docker:logdriver is "none" (its
// zlog_mode starts "-"), as SmartOS keeps no log for one.
func keepsLog(v *vm.VM) bool {
	return !zone.IsDocker(v) || vm.DockerZlogMode(v.InternalMetadata)[0] == 'g'
}

// openConsole opens the zone's log (appending; see logTarget) and its
// input FIFO (read-write, so the zone never sees end-of-file while nobody
// types).
func (n *Node) openConsole(v *vm.VM) (in, out *os.File, err error) {
	fifo := n.ConsoleInput(v.UUID)
	logPath, err := n.logTarget(v)
	if err != nil {
		return nil, nil, err
	}
	out, err = os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(fifo); errors.Is(err, os.ErrNotExist) {
		if err := unix.Mkfifo(fifo, 0o600); err != nil {
			out.Close()
			return nil, nil, fmt.Errorf("console fifo: %w", err)
		}
	}
	in, err = os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		out.Close()
		return nil, nil, err
	}
	return in, out, nil
}
