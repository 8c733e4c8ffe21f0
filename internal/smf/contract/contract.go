package contract

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Tracker makes contracts.
type Tracker interface {
	// New makes an empty contract for a service.
	New(name string) (Contract, error)
	// Scan refreshes membership (process-ancestry tracking needs to
	// look before orphans lose their parent; cgroup v2 needs nothing)
	// and reports whether it found processes made since it last looked.
	Scan() bool
	// Kind says how processes are tracked, for logs.
	Kind() string
	// Owner names the contract a process belongs to (0: none). For a
	// child that has ended it must be asked before the child is reaped.
	Owner(pid int) int
	// Close removes what the tracker made (its empty cgroup directory).
	Close()
}

// Contract is the set of processes of one service start.
type Contract interface {
	ID() int
	// Prepare adjusts a child's attributes before fork (cgroup fd).
	Prepare(attr *syscall.SysProcAttr)
	// Add puts a just-forked child into the contract.
	Add(pid int)
	// Pids lists the live members.
	Pids() []int
	// Signal sends sig to every member and returns how many got it.
	Signal(sig syscall.Signal) int
	// Close releases the contract (its members should be gone).
	Close()
}

var nextID atomic.Int64

func newID() int { return int(nextID.Add(1)) }

// Detect picks cgroup tracking under the process's own cgroup (v2, else
// a v1 hierarchy) when a sub-cgroup can be made there, and process
// ancestry tracking otherwise (a zone's cgroupfs is read-only). base
// names the directory made for the contracts ("smf").
func Detect(base string) Tracker {
	if t, err := newCgroupTracker("/sys/fs/cgroup", "/proc/self/cgroup", base); err == nil {
		return t
	}
	return NewAncestry()
}

// signalAll sends sig to each pid and counts the ones that got it.
func signalAll(pids []int, sig syscall.Signal) int {
	n := 0
	for _, p := range pids {
		if syscall.Kill(p, sig) == nil {
			n++
		}
	}
	return n
}

// Ancestry tracks contracts without cgroups: a process belongs to the
// contract of its parent, or of the session or process group its
// method's leader started. Processes that change session and lose their
// parent between two scans escape; that is the price of a read-only
// cgroupfs.
type Ancestry struct {
	mu      sync.Mutex
	members map[int]member
	leaders map[int]*ancContract // session/pgid of a method leader → contract
	live    map[*ancContract]bool
	self    int
	clock   pidClock
	stats   map[int]procStat // the last full scan's, reused
}

// EnvVar is set in every method's environment to its contract's id, so
// that a process that changed session and lost its parent can still be
// placed.
const EnvVar = "SMF_CONTRACT"

// envContract reads the contract id from a process's environment (0: none).
func envContract(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return 0
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(kv, EnvVar+"="); ok {
			id, _ := strconv.Atoi(v)
			return id
		}
	}
	return 0
}

// byEnv finds a contract from a process's environment.
func (t *Ancestry) byEnv(pid int) *ancContract {
	if id := envContract(pid); id != 0 {
		for c := range t.live {
			if c.id == id {
				return c
			}
		}
	}
	return nil
}

// Close does nothing: ancestry tracking holds no kernel objects.
func (t *Ancestry) Close() {}

type member struct {
	c     *ancContract
	start uint64
}

type ancContract struct {
	t  *Ancestry
	id int
}

// NewAncestry makes an ancestry tracker.
func NewAncestry() *Ancestry {
	return &Ancestry{members: map[int]member{}, leaders: map[int]*ancContract{}, live: map[*ancContract]bool{},
		self: os.Getpid(), stats: map[int]procStat{}}
}

func (t *Ancestry) Kind() string { return "process ancestry (no writable cgroup)" }

func (t *Ancestry) New(string) (Contract, error) {
	c := &ancContract{t: t, id: newID()}
	t.mu.Lock()
	t.live[c] = true
	t.mu.Unlock()
	return c, nil
}

// Scan assigns new processes to contracts. It looks at every process
// only when one was created since it last did (or fullScanEvery
// passed): a process must be seen while its ancestry still places it.
func (t *Ancestry) Scan() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	scan, moved := t.clock.due()
	if scan {
		t.scanLocked()
	}
	return moved
}

// scanLocked assigns every process it can to a contract, until nothing
// changes, and forgets members that are gone.
func (t *Ancestry) scanLocked() {
	stats := t.stats
	clear(stats)
	for _, p := range allPids() {
		if st, ok := readStat(p); ok {
			stats[p] = st
		}
	}
	_, found := stats[t.clock.last]
	t.clock.listed(found)
	// A zombie stays a member (not a live one) until it is reaped, so
	// that the reaper can still name its contract.
	for p, m := range t.members {
		if st, ok := stats[p]; !ok || st.start != m.start {
			delete(t.members, p)
		}
	}
	for changed := true; changed; {
		changed = false
		for p, st := range stats {
			if _, ok := t.members[p]; ok || st.zombie {
				continue
			}
			c := t.members[st.ppid].c
			if c == nil {
				c = t.leaders[st.sid]
			}
			if c == nil {
				c = t.leaders[st.pgid]
			}
			if c == nil && st.ppid == t.self {
				// An orphan that left its session before a scan saw
				// it: its environment still names its contract.
				c = t.byEnv(p)
			}
			if c != nil && t.live[c] {
				t.members[p] = member{c, st.start}
				changed = true
			}
		}
	}
}

func (c *ancContract) ID() int                      { return c.id }
func (c *ancContract) Prepare(*syscall.SysProcAttr) {}

func (c *ancContract) Add(pid int) {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	st, _ := readStat(pid)
	c.t.members[pid] = member{c, st.start}
	c.t.leaders[pid] = c // methods run with setsid: pid = sid = pgid
}

// Pids scans for new processes if there may be any; otherwise it only
// checks that the known members still live (exits do not move the
// pid clock, and a reused pid does).
//
// A contract that had members and finds none scans before it says so:
// the clock moves when the kernel allocates a pid, a moment before the
// process shows in /proc, so a scan may have missed a child forked then
// and the clock not move again. A member's child is in /proc before
// its fork returns, so once the member is gone this scan finds it.
func (c *ancContract) Pids() []int {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	scan, _ := t.clock.due()
	if scan {
		t.scanLocked()
	}
	out, had := c.liveLocked()
	if len(out) == 0 && had && !scan {
		t.scanLocked()
		out, _ = c.liveLocked()
	}
	return out
}

// liveLocked lists the contract's live members, forgetting those gone,
// and says whether it knew of any (a zombie too) before it looked.
func (c *ancContract) liveLocked() (out []int, had bool) {
	for p, m := range c.t.members {
		if m.c != c {
			continue
		}
		had = true
		st, ok := readStat(p)
		if !ok || st.start != m.start {
			delete(c.t.members, p)
			continue
		}
		if !st.zombie {
			out = append(out, p)
		}
	}
	return out, had
}

// Owner is the contract of a member, a zombie one too.
func (t *Ancestry) Owner(pid int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m, ok := t.members[pid]; ok && t.live[m.c] {
		return m.c.id
	}
	return 0
}

func (c *ancContract) Signal(sig syscall.Signal) int { return signalAll(c.Pids(), sig) }

func (c *ancContract) Close() {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	delete(c.t.live, c)
	for k, v := range c.t.leaders {
		if v == c {
			delete(c.t.leaders, k)
		}
	}
	for p, m := range c.t.members {
		if m.c == c {
			delete(c.t.members, p)
		}
	}
}

func (c *ancContract) String() string { return fmt.Sprintf("contract %d", c.id) }
