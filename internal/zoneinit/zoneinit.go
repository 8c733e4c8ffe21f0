// Package zoneinit is PID 1 of joyent, joyent-minimal and sparse zones:
// the static hull binary, bind-mounted read-only at /.hull/hull, run with
// the personality "zoneinit". It runs the zone's rc scripts, reaps every
// orphan, and on a stop or reboot request shuts the zone down in order.
//
// Signals (ShutdownSignals, busybox's init's meanings): SIGTERM and
// SIGINT reboot the zone (exit ExitReboot, which the host takes as "start
// it again"); SIGPWR, SIGUSR1 and SIGUSR2 halt it (exit 0).
// Every other signal is caught and ignored: a Go program's default for
// many of them is to exit, and PID 1 exiting ends the zone.
package zoneinit

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ExitReboot is zoneinit's exit code for a reboot request; the host
// starts the zone again when PID 1 exits with it.
const ExitReboot = 2

// Where the zone keeps its start and stop scripts, and how long each may
// take before it is killed.
const (
	RCDir        = "/etc/rc.d"
	RCLocal      = "/etc/rc.local"
	StartTimeout = 60 * time.Second
	StopTimeout  = 30 * time.Second
)

// Main is the zoneinit personality. It must run as PID 1.
func Main(args []string) int {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "usage: zoneinit (runs only as PID 1 of a zone)")
		return 2
	}
	return run(os.Stdout)
}

// zoneInit is one running zoneinit.
type zoneInit struct {
	out  io.Writer
	rc   *runner
	ctl  chan os.Signal
	host string
}

func run(out io.Writer) int {
	z := &zoneInit{out: out, rc: newRunner(), ctl: make(chan os.Signal, 4)}

	// Signals first, before there is any child to lose.
	signal.Notify(z.ctl, ShutdownSignals...)
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	others := make(chan os.Signal, 1)
	signal.Notify(others) // every signal: no Go default action (exit, stack dump) for PID 1
	go func() {
		for range others {
		}
	}()
	go func() {
		for range chld {
			z.rc.Reap()
		}
	}()
	z.rc.Reap()

	z.host = os.Getenv("HULL_HOSTNAME")
	if z.host != "" {
		if err := unix.Sethostname([]byte(z.host)); err != nil {
			z.logf("set hostname %q: %v", z.host, err)
		}
	} else if h, err := os.Hostname(); err == nil {
		z.host = h
	}

	sig, stopped := z.start()
	if !stopped {
		z.logf("zone %s is up", z.host)
		sig = <-z.ctl
	}
	return z.shutdown(sig)
}

func (z *zoneInit) logf(format string, args ...any) {
	fmt.Fprintf(z.out, "zoneinit: "+format+"\n", args...)
}

// start runs the start scripts and rc.local. A stop request arriving
// meanwhile ends the startup after the running script.
func (z *zoneInit) start() (os.Signal, bool) {
	scripts, err := Scripts(RCDir, "S")
	if err != nil {
		z.logf("%s: %v", RCDir, err)
	}
	if executable(RCLocal) {
		scripts = append(scripts, RCLocal)
	}
	for _, s := range scripts {
		z.logf("%s start: %s", filepath.Base(s), z.rc.Run(s, "start", StartTimeout))
		select {
		case sig := <-z.ctl:
			return sig, true
		default:
		}
	}
	return nil, false
}

// shutdown runs the stop scripts, ends every process, syncs, and returns
// the exit code.
func (z *zoneInit) shutdown(sig os.Signal) int {
	reboot := Reboots(sig)
	what := "halt"
	if reboot {
		what = "reboot"
	}
	z.logf("%v: %s", sig, what)
	scripts, err := Scripts(RCDir, "K")
	if err != nil {
		z.logf("%s: %v", RCDir, err)
	}
	for _, s := range scripts {
		z.logf("%s stop: %s", filepath.Base(s), z.rc.Run(s, "stop", StopTimeout))
	}
	if Terminate(z.rc, realClock{}, Grace(os.Getenv("HULL_STOP_GRACE"))) {
		z.logf("killed processes that outlived the grace period")
	}
	// The host is not our parent and never sees our exit status: say
	// why we exit where it can read it.
	why := "halt"
	if reboot {
		why = "reboot"
	}
	_ = os.MkdirAll(filepath.Dir(ExitMarker), 0o755)
	_ = os.WriteFile(ExitMarker, []byte(why+"\n"), 0o644)
	unix.Sync()
	if reboot {
		z.logf("rebooting")
		return ExitReboot
	}
	z.logf("halted")
	return 0
}

// ExitMarker is where the zone notes why its init exited ("halt" or
// "reboot"); the node reads it from the zone's root.
const ExitMarker = "/run/.hull-exit"

type realClock struct{}

func (realClock) Now() time.Time        { return time.Now() }
func (realClock) Sleep(d time.Duration) { time.Sleep(d) }

// runner starts scripts and reaps every child, handing each exit status
// to whoever waits for that pid. One reaper for all children is what lets
// PID 1 collect orphans without stealing its own scripts' statuses.
type runner struct {
	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
	stdin   uintptr
}

func newRunner() *runner {
	r := &runner{waiters: map[int]chan syscall.WaitStatus{}}
	// Scripts get /dev/null as stdin: they run in their own process
	// group, and reading the console from there would stop them.
	if fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err == nil {
		r.stdin = uintptr(fd)
	}
	return r
}

// Reap collects every exited child without blocking and reports whether
// any children remain.
func (r *runner) Reap() bool {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return false // ECHILD: none left
		}
		if pid == 0 {
			return true
		}
		r.mu.Lock()
		ch := r.waiters[pid]
		delete(r.waiters, pid)
		r.mu.Unlock()
		if ch != nil {
			ch <- ws
		}
	}
}

// SignalAll sends sig to every process in the zone but PID 1.
func (r *runner) SignalAll(sig syscall.Signal) error { return syscall.Kill(-1, sig) }

// Run runs script with arg in its own process group, output to PID 1's
// (the console log), and describes how it ended. After timeout the
// script's whole process group is killed.
func (r *runner) Run(script, arg string, timeout time.Duration) string {
	ch := make(chan syscall.WaitStatus, 1)
	// Held across the fork, so the reaper cannot hand out this child's
	// status before the waiter is registered.
	r.mu.Lock()
	pid, err := syscall.ForkExec(script, []string{script, arg}, &syscall.ProcAttr{
		Dir:   "/",
		Env:   os.Environ(),
		Files: []uintptr{r.stdin, 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err == nil {
		r.waiters[pid] = ch
	}
	r.mu.Unlock()
	if err != nil {
		return err.Error()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ws := <-ch:
		return describe(ws)
	case <-timer.C:
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-ch
		return fmt.Sprintf("timed out after %v, killed", timeout)
	}
}

func describe(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}
