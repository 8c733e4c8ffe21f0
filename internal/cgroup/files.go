package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ioWeightFile is one kernel knob for a cgroup's io weight, and the range
// it takes.
type ioWeightFile struct {
	name     string
	min, max uint16
	format   string
}

// ioWeightFiles are the io weight knobs, all written where they exist, so
// that whichever scheduler or controller a device uses sees the weight:
// cgroup2 io.weight (iocost), the bfq scheduler's weight under cgroup2 and
// under v1, and v1's old CFQ blkio.weight.
var ioWeightFiles = []ioWeightFile{
	{"io.weight", 1, 10000, "default %d"},
	{"io.bfq.weight", 1, 1000, "%d"},
	{"blkio.bfq.weight", 1, 1000, "%d"},
	{"blkio.weight", 10, 1000, "%d"},
}

func clamp(v, lo, hi uint16) uint16 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// SetIOWeight sets the io weight of cgroup rel. weight is on cgroup2's
// io.weight scale (1..10000, default 100), which is also the scale and
// default of SmartOS's zfs_io_priority as hull passes it; knobs with a
// narrower range (bfq: 1..1000, v1 blkio.weight: 10..1000) get it clamped.
// The default is 100 everywhere, so a zone left at its default competes
// evenly with the rest of the host, and ratios between zones hold while
// both stay inside the knob's range. applied is false, with no error, when the host has no weight
// knob for the cgroup (a v1 host whose disks do not use bfq, for one):
// the caller reports it rather than failing. An error means the cgroup
// does not exist or a write failed.
func SetIOWeight(mode Mode, rel string, weight uint16) (applied bool, err error) {
	ds := existingDirs(mode, rel)
	if len(ds) == 0 {
		return false, fmt.Errorf("cgroup: set io weight of %s: %w", rel, os.ErrNotExist)
	}
	for _, d := range ds {
		for _, f := range ioWeightFiles {
			p := filepath.Join(d, f.name)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			if err := write(p, fmt.Sprintf(f.format, clamp(weight, f.min, f.max))); err != nil {
				return applied, fmt.Errorf("cgroup: set io weight of %s: %w", rel, err)
			}
			applied = true
		}
	}
	return applied, nil
}

func write(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

func existingDirs(mode Mode, rel string) []string {
	var out []string
	for _, d := range dirs(mode, rel) {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// read returns the contents of the first of files found in cgroup rel's
// directories, trying files in order (so v1's file wins over a same-named
// cgroup2 one in hybrid mode when it is listed first).
func read(mode Mode, rel string, files ...string) (string, string, error) {
	ds := dirs(mode, rel)
	for _, f := range files {
		for _, d := range ds {
			b, err := os.ReadFile(filepath.Join(d, f))
			if err == nil {
				return f, strings.TrimSpace(string(b)), nil
			}
		}
	}
	return "", "", fmt.Errorf("cgroup %s: none of %v: %w", rel, files, errNoFile)
}

func readUint(mode Mode, rel string, files ...string) (uint64, error) {
	f, s, err := read(mode, rel, files...)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %s: %w", rel, f, err)
	}
	return v, nil
}

// MemoryUsage is the memory charged to cgroup rel, in bytes (page cache
// included, as the limit counts it).
func MemoryUsage(mode Mode, rel string) (uint64, error) {
	return readUint(mode, rel, "memory.current", "memory.usage_in_bytes")
}

// PidsCurrent is the number of tasks in cgroup rel and below.
func PidsCurrent(mode Mode, rel string) (uint64, error) {
	return readUint(mode, rel, "pids.current")
}

// CPUUsage is the CPU time used by cgroup rel and below, in nanoseconds.
func CPUUsage(mode Mode, rel string) (uint64, error) {
	f, s, err := read(mode, rel, "cpuacct.usage", "cpu.stat")
	if err != nil {
		return 0, err
	}
	if f == "cpuacct.usage" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cgroup %s: %s: %w", rel, f, err)
		}
		return v, nil
	}
	v, err := statField(s, "usage_usec")
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: cpu.stat: %w", rel, err)
	}
	return v * 1000, nil
}

// statField finds "key value" in a flat-keyed cgroup file.
func statField(s, key string) (uint64, error) {
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s", key)
}

// Procs lists the processes in cgroup rel and its descendants, read from
// one hierarchy (every process is in every hierarchy): cgroup2's where
// controllers live there, else pids, memory or any v1 one.
func Procs(mode Mode, rel string) []int {
	paths := Paths(mode, rel)
	var dir string
	order := []string{"pids", "memory", "cpu", "freezer"}
	if mode == V2 {
		order = []string{Unified}
	}
	for _, k := range order {
		if d, ok := paths[k]; ok {
			dir = d
			break
		}
	}
	if dir == "" {
		if ds := dirs(mode, rel); len(ds) > 0 {
			dir = ds[0]
		}
	}
	seen := map[int]bool{}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				seen[pid] = true
			}
		}
		return nil
	})
	pids := make([]int, 0, len(seen))
	for p := range seen {
		pids = append(pids, p)
	}
	sort.Ints(pids)
	return pids
}

// Remove deletes cgroup rel and its descendants from every hierarchy,
// children first. It is idempotent. A cgroup that still has processes
// cannot be removed; one whose last process just exited can take a moment
// to become removable, which Remove waits out (up to about two seconds).
func Remove(mode Mode, rel string) error {
	if err := checkRel(rel); err != nil {
		return err
	}
	var errs []error
	deadline := time.Now().Add(2 * time.Second)
	for _, d := range dirs(mode, rel) {
		if err := removeTree(d, deadline); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cgroup: remove %s: %w", rel, err)
	}
	return nil
}

func removeTree(dir string, deadline time.Time) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name()), deadline); err != nil {
				return err
			}
		}
	}
	for {
		// os.Remove would also try unlink, which cgroupfs answers with a
		// misleading EPERM; rmdir alone says what is wrong.
		err := syscall.Rmdir(dir)
		switch {
		case err == nil || errors.Is(err, syscall.ENOENT):
			return nil
		case errors.Is(err, syscall.EBUSY) && time.Now().Before(deadline):
			time.Sleep(20 * time.Millisecond)
		default:
			return fmt.Errorf("rmdir %s: %w", dir, err)
		}
	}
}
