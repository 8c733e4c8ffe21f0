package zoneinit

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Scripts lists the rc scripts in dir whose names start with prefix ("S"
// or "K"), in lexical order: regular files (symlinks followed, as SysV rc
// directories usually hold links) with an execute bit. A missing dir has
// no scripts.
func Scripts(dir, prefix string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || len(name) == len(prefix) {
			continue
		}
		p := dir + "/" + name
		if executable(p) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// Procs is what the shutdown sequence needs from the process table.
type Procs interface {
	// SignalAll sends sig to every process but the caller (kill(-1, sig)).
	SignalAll(sig syscall.Signal) error
	// Reap collects exited children without blocking and reports
	// whether any children remain.
	Reap() (remaining bool)
}

// Clock is time, for the shutdown sequence.
type Clock interface {
	Now() time.Time
	Sleep(time.Duration)
}

// pollInterval is how often the shutdown sequence checks for exits.
const pollInterval = 20 * time.Millisecond

// killWait bounds the wait after SIGKILL: a process stuck in the kernel
// (D state) must not keep the zone from halting; the kernel kills what is
// left when PID 1 exits.
const killWait = 5 * time.Second

// Terminate ends every other process: SIGTERM, up to grace for them to
// exit (reaping as they do), then SIGKILL for the rest. It reports
// whether SIGKILL was needed. SIGTERM goes out even with no children:
// processes entered from the host (zlogin) are in the zone without being
// PID 1's children, and deserve the same warning.
func Terminate(p Procs, c Clock, grace time.Duration) (killed bool) {
	_ = p.SignalAll(syscall.SIGTERM)
	if waitGone(p, c, grace) {
		return false
	}
	_ = p.SignalAll(syscall.SIGKILL)
	waitGone(p, c, killWait)
	return true
}

// waitGone reaps until no child remains (true) or d has passed (false).
func waitGone(p Procs, c Clock, d time.Duration) bool {
	deadline := c.Now().Add(d)
	for {
		if !p.Reap() {
			return true
		}
		if !c.Now().Before(deadline) {
			return false
		}
		c.Sleep(pollInterval)
	}
}

// DefaultGrace is how long processes get between SIGTERM and SIGKILL.
const DefaultGrace = 10 * time.Second

// Grace parses HULL_STOP_GRACE (seconds, fractions allowed); empty or
// invalid values give DefaultGrace.
func Grace(env string) time.Duration {
	if env == "" {
		return DefaultGrace
	}
	s, err := strconv.ParseFloat(env, 64)
	if err != nil || s < 0 || s > 24*3600 {
		return DefaultGrace
	}
	return time.Duration(s * float64(time.Second))
}
