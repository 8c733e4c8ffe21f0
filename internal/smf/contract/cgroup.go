package contract

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"hull/internal/cgroup"
)

// cgroupTracker puts each contract in its own sub-cgroup of the
// process's cgroup: every descendant stays in it whatever it does.
type cgroupTracker struct {
	dir   string // <mount>/<own cgroup>/<base>
	v2    bool
	mu    sync.Mutex
	live  map[int]string // contract id → its cgroup
	clock pidClock
	// seen maps the members each contract's Pids listed to it, until
	// they are reaped: a process that has ended has left its cgroup (a
	// zombie shows the root's), so Owner remembers.
	seen map[int]seenPid
}

// ownCgroup reads the process's cgroup from a /proc/<pid>/cgroup file:
// the v2 path (the "0::" line) and the v1 paths by controller.
func ownCgroup(procFile string) (v2 string, v1 map[string]string, err error) {
	f, err := os.Open(procFile)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	v1, err = cgroup.Membership(f)
	v2 = v1[cgroup.Unified]
	delete(v1, cgroup.Unified)
	return v2, v1, err
}

func newCgroupTracker(mount, procFile, base string) (*cgroupTracker, error) {
	v2path, v1, err := ownCgroup(procFile)
	if err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	var cands []*cgroupTracker
	if unix.Statfs(mount, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		cands = append(cands, &cgroupTracker{dir: filepath.Join(mount, v2path, base), v2: true, live: map[int]string{}})
	} else {
		// v1 (or hybrid): a hierarchy every process is in; pids counts
		// tasks cheaply, name=systemd has no controller at all.
		for _, c := range []string{"pids", "name=systemd", "memory", "cpu"} {
			p, ok := v1[c]
			if !ok {
				continue
			}
			dir := strings.TrimPrefix(c, "name=")
			cands = append(cands, &cgroupTracker{dir: filepath.Join(mount, dir, p, base), live: map[int]string{}})
		}
	}
	var errs []error
	for _, t := range cands {
		err := t.probe()
		if err == nil {
			return t, nil
		}
		errs = append(errs, fmt.Errorf("cgroup %s: %w", t.dir, err))
	}
	return nil, fmt.Errorf("no writable cgroup for contracts: %w", errors.Join(errs...))
}

// probe checks that sub-cgroups can be made and removed there.
func (t *cgroupTracker) probe() error {
	if err := os.MkdirAll(t.dir, 0o755); err != nil {
		return err
	}
	p := filepath.Join(t.dir, fmt.Sprintf("probe-%d", os.Getpid()))
	if err := os.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return os.Remove(p)
}

func (t *cgroupTracker) Kind() string {
	if t.v2 {
		return "cgroup v2 " + t.dir
	}
	return "cgroup v1 " + t.dir
}

// Scan catches, on v1, processes a method forked before it was moved
// into its cgroup: orphans adopted by this process whose environment
// names a contract are moved into it. Like ancestry tracking, it looks
// only when a process was created since it last did, or every
// fullScanEvery (an adoption creates no process).
func (t *cgroupTracker) Scan() bool {
	if t.v2 {
		return false
	}
	t.mu.Lock()
	scan, moved := t.clock.due()
	t.mu.Unlock()
	if !scan {
		return false
	}
	self := os.Getpid()
	for _, p := range allPids() {
		st, ok := readStat(p)
		if !ok || st.ppid != self {
			continue
		}
		id := envContract(p)
		t.mu.Lock()
		dir := t.live[id]
		t.mu.Unlock()
		if dir != "" {
			_ = os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(p)), 0)
		}
	}
	return moved
}

// Owner names the contract whose Pids listed pid, a zombie one too.
func (t *cgroupTracker) Owner(pid int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seen[pid].contract
}

// seenPid is a member as Pids listed it.
type seenPid struct {
	contract int
	start    uint64 // its start time, which a pid used again differs in
}

// Close removes the contracts' directory if it is empty.
func (t *cgroupTracker) Close() { _ = os.Remove(t.dir) }

// Dir is the directory the contracts' cgroups are made in.
func (t *cgroupTracker) Dir() string { return t.dir }

func (t *cgroupTracker) New(name string) (Contract, error) {
	var id int
	var dir string
	for tries := 0; ; tries++ {
		id = newID()
		dir = filepath.Join(t.dir, fmt.Sprintf("%d-%s", id, sanitize(name)))
		_ = os.Remove(dir) // an empty one left by an earlier run
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			break
		}
		// An earlier run's contract with processes still in it keeps
		// its id: take the next.
		if !os.IsExist(err) || tries == 100 {
			return nil, fmt.Errorf("make contract cgroup: %w", err)
		}
	}
	c := &cgContract{id: id, dir: dir, fd: -1, t: t}
	t.mu.Lock()
	t.live[id] = dir
	t.mu.Unlock()
	if t.v2 {
		if fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_PATH|unix.O_CLOEXEC, 0); err == nil {
			c.fd = fd
		}
	}
	return c, nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ':' {
			return '-'
		}
		return r
	}, strings.TrimPrefix(s, "svc:/"))
}

type cgContract struct {
	id  int
	dir string
	fd  int
	t   *cgroupTracker
}

func (c *cgContract) ID() int { return c.id }

// Prepare starts v2 children directly in the contract (CLONE_INTO_CGROUP).
func (c *cgContract) Prepare(attr *syscall.SysProcAttr) {
	if c.fd >= 0 {
		attr.UseCgroupFD = true
		attr.CgroupFD = c.fd
	}
}

// Add moves a child in; on v1 it and anything it forked already.
func (c *cgContract) Add(pid int) {
	if c.fd >= 0 {
		return
	}
	_ = os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
	// A child that forked before the move: move its descendants too.
	stats := map[int]procStat{}
	for _, p := range allPids() {
		if st, ok := readStat(p); ok {
			stats[p] = st
		}
	}
	in := map[int]bool{pid: true}
	for changed := true; changed; {
		changed = false
		for p, st := range stats {
			if !in[p] && (in[st.ppid] || st.sid == pid) {
				in[p], changed = true, true
				_ = os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(p)), 0)
			}
		}
	}
}

func (c *cgContract) Pids() []int {
	b, err := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	all := map[int]uint64{}
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			if st, ok := readStat(p); ok {
				all[p] = st.start
				if !st.zombie {
					out = append(out, p)
				}
			}
		}
	}
	c.t.remember(c.id, all)
	return out
}

// remember records a contract's current members for Owner. A member
// that has died stays until it is reaped: the kernel takes a dead
// process out of its cgroup at once, while the reaper asks for its
// contract only when it collects the zombie.
func (t *cgroupTracker) remember(id int, pids map[int]uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen == nil {
		t.seen = map[int]seenPid{}
	}
	for p, m := range t.seen {
		if m.contract != id {
			continue
		}
		if _, ok := pids[p]; ok {
			continue
		}
		if st, ok := readStat(p); !ok || st.start != m.start || !st.zombie {
			delete(t.seen, p) // reaped, or a pid used again
		}
	}
	for p, start := range pids {
		t.seen[p] = seenPid{id, start}
	}
}

// forget drops a closed contract's members.
func (t *cgroupTracker) forget(id int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, m := range t.seen {
		if m.contract == id {
			delete(t.seen, p)
		}
	}
}

func (c *cgContract) Signal(sig syscall.Signal) int { return signalAll(c.Pids(), sig) }

func (c *cgContract) Close() {
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
	c.t.forget(c.id)
	if os.Remove(c.dir) == nil {
		c.t.mu.Lock()
		delete(c.t.live, c.id)
		c.t.mu.Unlock()
	}
}
