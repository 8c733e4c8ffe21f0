package zlogin_test

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/node/nodetest"
	"hull/internal/testenv"
)

// term is the controlling side of a pseudo-terminal that a command runs
// on, with everything the command wrote collected.
type term struct {
	t      *testing.T
	master *os.File
	mu     sync.Mutex
	out    bytes.Buffer
}

// startOnPTY runs the hull binary with args on a new pty, as a user at a
// terminal would.
func startOnPTY(t *testing.T, args ...string) (*term, *exec.Cmd) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	num, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(num), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	c := exec.Command(testenv.HullBinary(t), args...)
	c.Env = append(os.Environ(), "TERM=vt100")
	c.Stdin, c.Stdout, c.Stderr = slave, slave, slave
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	tm := &term{t: t, master: master}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := master.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:k])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		c.Process.Kill()
		master.Close()
	})
	return tm, c
}

func (tm *term) send(s string) {
	if _, err := tm.master.WriteString(s); err != nil {
		tm.t.Fatal(err)
	}
}

// expect waits until the terminal has shown want.
func (tm *term) expect(want string) {
	tm.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		tm.mu.Lock()
		got := tm.out.String()
		tm.mu.Unlock()
		if strings.Contains(got, want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.t.Fatalf("terminal never showed %q; it shows:\n%s", want, tm.out.String())
}

// detach leaves a console with ~. and checks that zlogin ends well.
func detach(t *testing.T, tm *term, c *exec.Cmd) {
	t.Helper()
	tm.send("\r~.")
	if code := waitExit(t, c); code != 0 {
		t.Fatalf("zlogin -C exit status %d after ~.", code)
	}
}

func waitExit(t *testing.T, c *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
		return c.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		t.Fatal("command did not exit")
		return -1
	}
}

// TestInteractiveLogin logs into a zone on a terminal: the shell gets a
// pty of its own inside the zone, runs what is typed, and its exit ends
// zlogin with its status.
func TestInteractiveLogin(t *testing.T) {
	n := nodetest.New(t)
	nodetest.Create(t, n, `{"brand":"joyent-minimal","alias":"tty","image_uuid":"`+nodetest.BusyboxUUID+`"}`)
	tm, c := startOnPTY(t, "zlogin", "tty")
	tm.send("echo out-$((6*7)); tty; hostname\r")
	tm.expect("out-42")
	tm.expect("/dev/pts/")
	tm.send("exit 3\r")
	if code := waitExit(t, c); code != 3 {
		t.Fatalf("zlogin exit status %d, want the shell's 3", code)
	}
}

// TestConsoleAttach attaches to the console of an lx zone whose init
// (busybox) offers a shell there, types into it, and detaches with ~.
// leaving the zone running.
func TestConsoleAttach(t *testing.T) {
	n := nodetest.New(t)
	uuid := nodetest.Create(t, n, `{"brand":"lx","alias":"con","kernel_version":"4.3.0","image_uuid":"`+nodetest.BusyboxUUID+`"}`)
	tm, c := startOnPTY(t, "zlogin", "-C", "con")
	tm.expect("[Connected to zone")
	tm.send("\r")
	time.Sleep(500 * time.Millisecond)
	tm.send("echo con-$((2+3))\r")
	tm.expect("con-5")
	detach(t, tm, c)
	if v, err := n.Get(uuid); err != nil || v.State != "running" {
		t.Fatalf("zone after detaching: %v %v", v.State, err)
	}
}
