// Package contract tracks the processes of SMF services: a reaper that
// collects every child's exit status (the restarter is PID 1 or a child
// subreaper, so every orphaned descendant comes back to it), and process
// groups ("contracts") that account for every descendant of a service,
// in a sub-cgroup where one is writable and by process ancestry
// otherwise.
package contract

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reaper owns wait4(-1) for the process: it hands each started child's
// status to its starter and collects orphans. Nothing else in the
// process may wait for children.
type Reaper struct {
	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
	subs    []chan struct{}
	sig     chan os.Signal
	owner   func(pid int) int
	orphans chan Exit
}

// Exit is how an orphan (a child no starter waits for) ended.
type Exit struct {
	Pid      int
	Status   syscall.WaitStatus
	Contract int // the contract it belonged to, 0 if none
}

// Orphans returns a channel that gets each orphan's end; owner, asked
// while the orphan is still a zombie, names its contract. Ends are
// dropped when the channel is full.
func (r *Reaper) Orphans(owner func(pid int) int) <-chan Exit {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.owner, r.orphans = owner, make(chan Exit, 64)
	return r.orphans
}

// NewReaper makes the process a child subreaper (a no-op for PID 1) and
// starts reaping on SIGCHLD.
func NewReaper() *Reaper {
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	r := &Reaper{waiters: map[int]chan syscall.WaitStatus{}, sig: make(chan os.Signal, 1)}
	signal.Notify(r.sig, syscall.SIGCHLD)
	go func() {
		for range r.sig {
			r.Reap()
		}
	}()
	return r
}

// Subscribe returns a channel that gets a (coalesced) wake-up after
// every reap that collected something.
func (r *Reaper) Subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	r.mu.Lock()
	r.subs = append(r.subs, ch)
	r.mu.Unlock()
	return ch
}

// Start forks and execs argv0 with attr; the returned channel gets the
// child's wait status. hook, if not nil, runs right after the fork (with
// the child's pid) before the reaper can collect it.
func (r *Reaper) Start(argv0 string, argv []string, attr *syscall.ProcAttr, hook func(pid int)) (int, <-chan syscall.WaitStatus, error) {
	ch := make(chan syscall.WaitStatus, 1)
	// Held across the fork so the reaper cannot collect this child
	// before its waiter is registered.
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(argv0, argv, attr)
	if err != nil {
		return 0, nil, err
	}
	r.waiters[pid] = ch
	if hook != nil {
		hook(pid)
	}
	return pid, ch, nil
}

// Reap collects every exited child without blocking and reports whether
// children remain.
func (r *Reaper) Reap() bool {
	collected := false
	defer func() {
		if collected {
			r.mu.Lock()
			for _, s := range r.subs {
				select {
				case s <- struct{}{}:
				default:
				}
			}
			r.mu.Unlock()
		}
	}()
	for {
		var ws syscall.WaitStatus
		r.mu.Lock()
		// Look first, reap after: an orphan's contract is asked for
		// while it is still a zombie.
		pid, err := peek()
		var ch chan syscall.WaitStatus
		owner := 0
		if pid > 0 {
			ch = r.waiters[pid]
			delete(r.waiters, pid)
			if ch == nil && r.owner != nil {
				owner = r.owner(pid)
			}
			_, err = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
		orphans := r.orphans
		r.mu.Unlock()
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return false
		}
		if pid == 0 {
			return true
		}
		collected = true
		if ch != nil {
			ch <- ws
		} else if orphans != nil {
			select {
			case orphans <- Exit{Pid: pid, Status: ws, Contract: owner}:
			default:
			}
		}
	}
}

// peek returns the pid of a child that has ended, without reaping it;
// 0 when children remain but none has ended.
func peek() (int, error) {
	// siginfo_t as waitid fills it for a child: si_pid follows signo,
	// errno, code and padding.
	var info struct {
		signo, errno, code, _ int32
		pid                   int32
		_                     [108]byte
	}
	_, _, e := syscall.Syscall6(syscall.SYS_WAITID, unix.P_ALL, 0, uintptr(unsafe.Pointer(&info)),
		unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(info.pid), nil
}

// SignalAll sends sig to every process but the caller (kill(-1)).
func (r *Reaper) SignalAll(sig syscall.Signal) error { return syscall.Kill(-1, sig) }
