package zone

import (
	"context"
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
type Launch struct {
	id, bundle string
	fifo       *os.File
	cmd        *exec.Cmd
	exited     chan struct{} // closed when the runtime process is reaped
	err        error         // its exit, once exited is closed
	pidFile    string
	logFile    string
}

// configFile is the spec's place in a bundle.
func configFile(bundle string) string { return filepath.Join(bundle, "config.json") }

// Launch starts `run --detach` for container id on bundle, whose
// config.json it makes a FIFO. The zone's init gets stdin and stdout as
// its stdio (real files: a pipe would tie the zone to this process).
// Either Run or Abort must follow.
func (r *Runtime) Launch(ctx context.Context, id, bundle string, stdin, stdout *os.File) (*Launch, error) {
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return nil, fmt.Errorf("launch %s: %w", id, err)
	}
	cfg := configFile(bundle)
	_ = os.Remove(cfg)
	if err := unix.Mkfifo(cfg, 0o600); err != nil {
		return nil, fmt.Errorf("launch %s: config fifo: %w", id, err)
	}
	fifo, err := os.OpenFile(cfg, os.O_RDWR, 0)
	if err != nil {
		os.Remove(cfg)
		return nil, fmt.Errorf("launch %s: config fifo: %w", id, err)
	}
	l := &Launch{id: id, bundle: bundle, fifo: fifo, exited: make(chan struct{}),
		pidFile: filepath.Join(bundle, "init.pid"), logFile: filepath.Join(bundle, "runtime.log")}
	_ = os.Remove(l.pidFile)
	_ = os.Remove(l.logFile)
	// Not CommandContext: a cancelled caller aborts the launch itself,
	// and a started zone must not be killed with the caller's context.
	c := exec.Command(r.Binary, "--root", r.Root, "--log", l.logFile,
		"run", "--detach", "--bundle", bundle, "--pid-file", l.pidFile, id)
	c.Stdin, c.Stdout, c.Stderr = stdin, stdout, stdout
	// A zone's rlimits are set inside its user namespace, where a hard
	// limit can only be lowered: give the runtime unlimited hard limits
	// to lower from.
	raiseHardLimits()
	// The zone must not die with the process that started it.
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		fifo.Close()
		os.Remove(cfg)
		return nil, fmt.Errorf("%s run %s: %w", r.Binary, id, err)
	}
	l.cmd = c
	go func() {
		l.err = c.Wait()
		close(l.exited)
	}()
	if ctx.Err() != nil {
		l.Abort()
		return nil, ctx.Err()
	}
	return l, nil
}

// Run hands the spec to the runtime and waits for it to start the zone.
// It returns the init's host pid.
func (l *Launch) Run(spec []byte) (int, error) {
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
	<-l.exited
	if l.err != nil {
		return 0, fmt.Errorf("%s run %s: %v: %s", filepath.Base(l.cmd.Path), l.id, l.err, runtimeLogError(l.logFile))
	}
	// The spec as a file in the FIFO's place: the runtime's exec reads
	// it from the bundle.
	cfg := configFile(l.bundle)
	if err := os.WriteFile(cfg+".tmp", spec, 0o600); err != nil {
		return 0, fmt.Errorf("run %s: %w", l.id, err)
	}
	if err := os.Rename(cfg+".tmp", cfg); err != nil {
		return 0, fmt.Errorf("run %s: %w", l.id, err)
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
	select {
	case <-l.exited:
	default:
		_ = l.cmd.Process.Kill()
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
