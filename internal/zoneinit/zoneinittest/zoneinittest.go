// Package zoneinittest runs a test binary as the PID 1 of a zone, for the
// tests of the zone's init programs (zoneinit, svc.startd): in new pid,
// mount and uts namespaces, with the test's files bound over the host's
// and its console read line by line.
package zoneinittest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Bind is for TestMain in the started binary: it makes its mounts private
// and bind-mounts each {source, target} pair in binds. It exits 100 on
// failure.
func Bind(binds ...[2]string) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Fprintln(os.Stderr, "make mounts private:", err)
		os.Exit(100)
	}
	for _, b := range binds {
		if err := unix.Mount(b[0], b[1], "", unix.MS_BIND, ""); err != nil {
			fmt.Fprintf(os.Stderr, "mount %s: %v\n", b[1], err)
			os.Exit(100)
		}
	}
}

// Console is a PID 1's stdout, line by line.
type Console struct {
	Lines chan string // closed when stdout ends
	Out   []string    // the lines taken from Lines so far
}

// Start starts the test binary itself with env as the PID 1 of new pid,
// mount and uts namespaces, killed when the test process dies; its stderr
// is the test's, its stdout the returned console, which buffers up to
// buffer lines.
func Start(env []string, buffer int) (*exec.Cmd, *Console, error) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
		Pdeathsig:  syscall.SIGKILL,
	}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	c := &Console{Lines: make(chan string, buffer)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.Lines <- sc.Text()
		}
		close(c.Lines)
	}()
	return cmd, c, nil
}

// WaitLine reads lines until one that match accepts; t fails if the
// console ends or d passes first. what names the line in the failure.
func (c *Console) WaitLine(t testing.TB, what string, match func(string) bool, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-c.Lines:
			if !ok {
				t.Fatalf("console ended before %q: %q", what, c.Out)
			}
			c.Out = append(c.Out, l)
			if match(l) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q after %v: %q", what, d, c.Out)
		}
	}
}

// Drain reads the console to its end.
func (c *Console) Drain() {
	for l := range c.Lines {
		c.Out = append(c.Out, l)
	}
}
