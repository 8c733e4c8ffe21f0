package zone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A Launch is a runtime process started before its zone's spec exists.
// Starting the runtime (an exec, then its own initialisation) takes
// several milliseconds that would otherwise come after everything the
// node prepares; launched early, the runtime gets through them while the
// zone's root is cloned and mapped, then blocks reading config.json, which
// is a FIFO, until Run hands the spec over.
//
// The node holds the FIFO open for reading and writing from before the
// runtime starts: the runtime's open never blocks, and if the node dies
// the runtime reads end-of-file, fails to parse a spec and exits, having
// made nothing. A runtime that had not yet opened the FIFO when the node
// died is released by ReleaseConfig at cleanup.
//
// Only runc reads its spec once; crun reads config.json again after the
// container exists, which a FIFO cannot serve, so with crun Run writes
// the file and only then starts the runtime.
type Launch struct {
	id, bundle string
	fifo       *os.File
	cmd        *exec.Cmd
	stdio      []*os.File    // for a runtime started by Run: its stdio until then
	exited     chan struct{} // closed when the runtime process is reaped
	err        error         // its exit, once exited is closed
	pidFile    string        // where the runtime writes the init's pid, or
	stateFile  string        // runc's own state, which has it
	logFile    string
}

// readsSpecOnce tells whether the runtime reads config.json once only,
// when it starts (runc), so that the spec can be handed over a FIFO.
func (r *Runtime) readsSpecOnce() bool { return filepath.Base(r.Binary) == "runc" }

// configFile is the spec's place in a bundle.
func configFile(bundle string) string { return filepath.Join(bundle, "config.json") }

// Launch starts `run --detach` for container id on bundle, whose
// config.json it makes a FIFO (with a runtime that reads it more than
// once, the runtime starts in Run instead). The zone's init gets stdin
// and stdout as its stdio (real files: a pipe would tie the zone to this
// process). Either Run or Abort must follow.
func (r *Runtime) Launch(ctx context.Context, id, bundle string, stdin, stdout *os.File) (*Launch, error) {
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return nil, fmt.Errorf("launch %s: %w", id, err)
	}
	l := &Launch{id: id, bundle: bundle, exited: make(chan struct{}),
		pidFile: filepath.Join(bundle, "init.pid"), logFile: filepath.Join(bundle, "runtime.log")}
	cfg := configFile(bundle)
	for _, p := range []string{cfg, l.pidFile, l.logFile} {
		_ = os.Remove(p)
	}
	args := []string{"--root", r.Root, "--log", l.logFile, "run", "--detach", "--bundle", bundle}
	if r.readsSpecOnce() {
		// runc writes a pid file with O_SYNC, which on a journaling
		// filesystem waits for a commit of everything else dirty (the
		// new dataset's metadata, say): several ms. Its state file, which
		// it writes anyway, has the pid.
		l.stateFile = filepath.Join(r.Root, id, "state.json")
	} else {
		args = append(args, "--pid-file", l.pidFile)
	}
	// Not CommandContext: a cancelled caller aborts the launch itself,
	// and a started zone must not be killed with the caller's context.
	l.cmd = exec.Command(r.Binary, append(args, id)...)
	// The zone must not die with the process that started it.
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if !r.readsSpecOnce() {
		// Started by Run: keep the stdio the caller closes.
		for _, f := range []*os.File{stdin, stdout} {
			d, err := unix.Dup(int(f.Fd()))
			if err != nil {
				l.closeStdio()
				return nil, fmt.Errorf("launch %s: %w", id, err)
			}
			unix.CloseOnExec(d)
			l.stdio = append(l.stdio, os.NewFile(uintptr(d), f.Name()))
		}
		l.cmd.Stdin, l.cmd.Stdout, l.cmd.Stderr = l.stdio[0], l.stdio[1], l.stdio[1]
		return l, nil
	}
	if err := unix.Mkfifo(cfg, 0o600); err != nil {
		return nil, fmt.Errorf("launch %s: config fifo: %w", id, err)
	}
	fifo, err := os.OpenFile(cfg, os.O_RDWR, 0)
	if err != nil {
		os.Remove(cfg)
		return nil, fmt.Errorf("launch %s: config fifo: %w", id, err)
	}
	l.fifo = fifo
	l.cmd.Stdin, l.cmd.Stdout, l.cmd.Stderr = stdin, stdout, stdout
	if err := l.start(); err != nil {
		fifo.Close()
		os.Remove(cfg)
		return nil, err
	}
	if ctx.Err() != nil {
		l.Abort()
		return nil, ctx.Err()
	}
	return l, nil
}

// start starts the runtime process and a goroutine that reaps it.
func (l *Launch) start() error {
	// A zone's rlimits are set inside its user namespace, where a hard
	// limit can only be lowered: give the runtime unlimited hard limits
	// to lower from.
	raiseHardLimits()
	if err := l.cmd.Start(); err != nil {
		return fmt.Errorf("%s run %s: %w", l.cmd.Path, l.id, err)
	}
	go func() {
		l.err = l.cmd.Wait()
		close(l.exited)
	}()
	return nil
}

func (l *Launch) started() bool { return l.cmd.Process != nil }

func (l *Launch) closeStdio() {
	for _, f := range l.stdio {
		f.Close()
	}
	l.stdio = nil
}

// Run hands the spec to the runtime and waits for it to start the zone.
// It returns the init's host pid.
func (l *Launch) Run(spec []byte) (int, error) {
	if !l.started() {
		return l.runWithFile(spec)
	}
	defer l.closeFIFO()
	if _, err := l.fifo.Write(spec); err != nil {
		l.Abort()
		return 0, fmt.Errorf("run %s: hand over spec: %w", l.id, err)
	}
	// Close the writing end only once the runtime has read the whole
	// spec: before it opens the FIFO, closing would discard what is in
	// it. After that the runtime sees end-of-file, whether it reads a
	// JSON document (runc) or a whole file (crun).
	fd := int(l.fifo.Fd()) // TIOCINQ (FIONREAD): bytes not yet read
drain:
	for wait := 20 * time.Microsecond; ; wait = min(2*wait, time.Millisecond) {
		if left, err := unix.IoctlGetInt(fd, unix.TIOCINQ); err != nil || left == 0 {
			break
		}
		select {
		case <-l.exited: // it will read no more
			break drain
		case <-time.After(wait):
		}
	}
	l.closeFIFO()
	return l.wait(spec)
}

// runWithFile writes the spec to config.json, then starts the runtime.
func (l *Launch) runWithFile(spec []byte) (int, error) {
	defer l.closeStdio()
	if err := os.WriteFile(configFile(l.bundle), spec, 0o600); err != nil {
		return 0, fmt.Errorf("run %s: %w", l.id, err)
	}
	if err := l.start(); err != nil {
		return 0, err
	}
	l.closeStdio()
	return l.wait(nil)
}

// wait waits for the runtime to exit and returns the init's pid. A spec
// handed over the FIFO is written to config.json in its place.
func (l *Launch) wait(spec []byte) (int, error) {
	<-l.exited
	if l.err != nil {
		return 0, fmt.Errorf("%s run %s: %v: %s", filepath.Base(l.cmd.Path), l.id, l.err, runtimeLogError(l.logFile))
	}
	if spec != nil {
		// The spec as a file in the FIFO's place: the runtime's exec
		// reads it from the bundle.
		cfg := configFile(l.bundle)
		if err := os.WriteFile(cfg+".tmp", spec, 0o600); err != nil {
			return 0, fmt.Errorf("run %s: %w", l.id, err)
		}
		if err := os.Rename(cfg+".tmp", cfg); err != nil {
			return 0, fmt.Errorf("run %s: %w", l.id, err)
		}
	}
	return l.initPID()
}

// initPID reads the pid of the zone's init from the runtime's state or
// pid file.
func (l *Launch) initPID() (int, error) {
	if l.stateFile != "" {
		b, err := os.ReadFile(l.stateFile)
		if err != nil {
			return 0, fmt.Errorf("read init pid of %s: %w", l.id, err)
		}
		var st struct {
			PID int `json:"init_process_pid"`
		}
		if err := json.Unmarshal(b, &st); err != nil || st.PID <= 0 {
			return 0, fmt.Errorf("read init pid of %s: no pid in %s", l.id, l.stateFile)
		}
		return st.PID, nil
	}
	b, err := os.ReadFile(l.pidFile)
	if err != nil {
		return 0, fmt.Errorf("read init pid of %s: %w", l.id, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("parse init pid of %s: %w", l.id, err)
	}
	return pid, nil
}

// Abort stops a launch whose spec was never handed over: the runtime is
// killed before it made anything, and the FIFO removed. Safe to call
// after Run (it does nothing then).
func (l *Launch) Abort() {
	if !l.started() {
		l.closeStdio()
		return
	}
	select {
	case <-l.exited:
	default:
		// The runtime leads its own session: kill the group, so that
		// nothing it forked outlives it.
		_ = unix.Kill(-l.cmd.Process.Pid, unix.SIGKILL)
		<-l.exited
	}
	if l.closeFIFO() {
		_ = os.Remove(configFile(l.bundle))
	}
}

// closeFIFO closes the node's end once; it reports whether this call did.
func (l *Launch) closeFIFO() bool {
	if l.fifo == nil {
		return false
	}
	l.fifo.Close()
	l.fifo = nil
	return true
}

// ReleaseConfig frees a runtime that a node which died left waiting on
// bundle's config FIFO, and removes the FIFO. A runtime blocked opening
// it is let through by this open and then reads end-of-file; one that
// comes later finds no file. Either fails without making anything. A
// regular config.json is left alone.
func ReleaseConfig(bundle string) error {
	cfg := configFile(bundle)
	st, err := os.Lstat(cfg)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode()&os.ModeNamedPipe == 0 {
		return nil
	}
	f, err := os.OpenFile(cfg, os.O_RDWR|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("release %s: %w", cfg, err)
	}
	defer f.Close()
	if err := os.Remove(cfg); err != nil {
		return fmt.Errorf("release %s: %w", cfg, err)
	}
	return nil
}
