// Package cgroup finds out how the host mounts cgroups (v1, hybrid or
// unified v2) and reaches a zone's cgroup in every hierarchy: the few live
// settings the runtime does not cover, readers for usage, and removal
// after a crash.
//
// Zones live at the relative path /hull/<uuid> of every hierarchy (runc's
// cgroupsPath with the cgroupfs driver).
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Mode is how the host mounts cgroups.
type Mode int

const (
	// V1 is the legacy layout: one cgroup v1 hierarchy per controller
	// (or group of controllers), no cgroup2.
	V1 Mode = iota + 1
	// Hybrid is V1 plus a cgroup2 hierarchy (at /sys/fs/cgroup/unified)
	// with no controllers, used for process tracking only.
	Hybrid
	// V2 is the unified layout: one cgroup2 hierarchy at /sys/fs/cgroup.
	V2
)

func (m Mode) String() string {
	switch m {
	case V1:
		return "v1"
	case Hybrid:
		return "hybrid"
	case V2:
		return "v2"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Root is where the host mounts its cgroup hierarchies.
const Root = "/sys/fs/cgroup"

// Unified is the key of the cgroup2 hierarchy in the map Paths returns
// (as runc names it).
const Unified = ""

// Detect tells the host's mode from the filesystem types at Root and
// Root/unified.
func Detect() (Mode, error) {
	root, err := fsType(Root)
	if err != nil {
		return 0, fmt.Errorf("cgroup: detect mode: %w", err)
	}
	unified, _ := fsType(filepath.Join(Root, "unified")) // absent on V1 and V2
	return classify(root, unified)
}

func fsType(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return int64(st.Type), nil
}

// classify maps the filesystem types of Root and Root/unified to a mode.
func classify(root, unified int64) (Mode, error) {
	switch root {
	case unix.CGROUP2_SUPER_MAGIC:
		return V2, nil
	case unix.TMPFS_MAGIC:
		if unified == unix.CGROUP2_SUPER_MAGIC {
			return Hybrid, nil
		}
		return V1, nil
	}
	return 0, fmt.Errorf("cgroup: %s is neither cgroup2 nor tmpfs (type %#x)", Root, root)
}

// hierarchy is one mounted cgroup hierarchy.
type hierarchy struct {
	mountpoint string
	keys       []string // controllers ("cpu", "cpuacct", "name=systemd"), or Unified
}

// parseMountinfo lists the cgroup hierarchies in a mountinfo file, the
// first mount of each.
func parseMountinfo(r io.Reader) ([]hierarchy, error) {
	var hs []hierarchy
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		f := strings.Fields(sc.Text())
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(f) < sep+4 {
			continue
		}
		h := hierarchy{mountpoint: unescape(f[4])}
		switch f[sep+1] {
		case "cgroup2":
			h.keys = []string{Unified}
		case "cgroup":
			for _, o := range strings.Split(f[sep+3], ",") {
				switch {
				case o == "rw" || o == "ro" || o == "clone_children" || o == "noprefix" || o == "xattr" ||
					o == "cpuset_v2_mode" || o == "favordynmods" || strings.HasPrefix(o, "release_agent="):
				default:
					h.keys = append(h.keys, o)
				}
			}
		default:
			continue
		}
		k := strings.Join(h.keys, ",")
		if seen[k] {
			continue
		}
		seen[k] = true
		hs = append(hs, h)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return hs, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space, …).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}

// hierarchies returns the cgroup hierarchies that belong to mode.
func hierarchies(mode Mode) ([]hierarchy, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all, err := parseMountinfo(f)
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	return selectFor(mode, all), nil
}

// selectFor keeps the hierarchies mode uses: v1 controllers for V1, those
// and the cgroup2 tree for Hybrid, the cgroup2 tree for V2.
func selectFor(mode Mode, all []hierarchy) []hierarchy {
	var hs []hierarchy
	for _, h := range all {
		v2 := len(h.keys) == 1 && h.keys[0] == Unified
		switch {
		case mode == V2 && v2, mode == V1 && !v2, mode == Hybrid:
			hs = append(hs, h)
		}
	}
	return hs
}

// join places rel (a cgroup path like /hull/<uuid>) in a hierarchy. rel
// is taken from the mount's root, which is the hierarchy's root on a host
// and the namespace's root inside a cgroup namespace, as runc takes it.
func (h hierarchy) join(rel string) string {
	return filepath.Join(h.mountpoint, filepath.Clean("/"+rel))
}

// Paths maps each controller (and Unified, for a cgroup2 hierarchy) to
// the directory of cgroup rel in its hierarchy. Controllers that share a
// hierarchy ("cpu,cpuacct") share a directory. The directories need not
// exist.
func Paths(mode Mode, rel string) map[string]string {
	hs, err := hierarchies(mode)
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, h := range hs {
		for _, k := range h.keys {
			if _, ok := m[k]; !ok {
				m[k] = h.join(rel)
			}
		}
	}
	return m
}

// dirs is the distinct directories of Paths, in a stable order.
func dirs(mode Mode, rel string) []string {
	seen := map[string]bool{}
	var ds []string
	for _, d := range Paths(mode, rel) {
		if !seen[d] {
			seen[d] = true
			ds = append(ds, d)
		}
	}
	sort.Strings(ds)
	return ds
}

// checkRel refuses a path that is a hierarchy's root: Remove on it would
// try every cgroup on the host.
func checkRel(rel string) error {
	if filepath.Clean("/"+rel) == "/" {
		return fmt.Errorf("cgroup: %q is a hierarchy root", rel)
	}
	return nil
}

// Exists reports whether cgroup rel exists in any hierarchy.
func Exists(mode Mode, rel string) bool {
	for _, d := range dirs(mode, rel) {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

var errNoFile = errors.New("no such cgroup file")
