package zoneinit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"hull/internal/testenv"
	"hull/internal/zoneinit/zoneinittest"
)

// TestMain turns the test binary into a zone's PID 1 when the zone test
// starts it in new pid, mount and uts namespaces: it puts the test's /etc
// (with rc scripts) over /etc, privately, and runs Main.
func TestMain(m *testing.M) {
	if etc := os.Getenv("HULL_ZONEINIT_ETC"); etc != "" {
		zoneinittest.Bind([2]string{etc, "/etc"})
		os.Exit(Main(nil))
	}
	os.Exit(m.Run())
}

type zone struct {
	*zoneinittest.Console
	t    *testing.T
	cmd  *exec.Cmd
	log  string
	exit chan error
}

// startZone runs PID 1 in new namespaces with the given /etc files
// (name → script body; a body starting with "-" is written without the
// execute bit).
func startZone(t *testing.T, files map[string]string) *zone {
	t.Helper()
	testenv.RequireRoot(t)
	tmp := t.TempDir()
	etc := filepath.Join(tmp, "etc")
	if err := os.MkdirAll(filepath.Join(etc, "rc.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		mode := os.FileMode(0o755)
		if strings.HasPrefix(body, "-") {
			mode, body = 0o644, body[1:]
		}
		if err := os.WriteFile(filepath.Join(etc, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	z := &zone{t: t, log: filepath.Join(tmp, "log"), exit: make(chan error, 1)}
	var err error
	z.cmd, z.Console, err = zoneinittest.Start([]string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"HULL_ZONEINIT_ETC=" + etc,
		"HULL_HOSTNAME=testzone",
		"HULL_STOP_GRACE=1",
		"LOG=" + z.log,
	}, 100)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = z.cmd.Process.Kill() // a no-op once it has exited
		select {
		case <-z.exit:
		case <-time.After(10 * time.Second):
		}
	})
	return z
}

// waitLine reads stdout until a line equal to want.
func (z *zone) waitLine(want string) {
	z.t.Helper()
	z.WaitLine(z.t, want, func(l string) bool { return l == want }, 20*time.Second)
}

// wait waits for PID 1 to exit and returns its code.
func (z *zone) wait() int {
	z.t.Helper()
	z.Drain()
	err := z.cmd.Wait()
	z.exit <- err
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	} else if err != nil {
		z.t.Fatal(err)
	}
	return 0
}

func (z *zone) readLog() string {
	b, _ := os.ReadFile(z.log)
	return string(b)
}

// children lists the host pids and states of PID 1's children.
func children(ppid int) map[int]byte {
	m := map[int]byte{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			m[pid] = f[0][0]
		}
	}
	return m
}

func TestZoneLifecycle(t *testing.T) {
	z := startZone(t, map[string]string{
		"rc.d/S10first": "#!/bin/sh\necho \"S10first $1 $(uname -n)\" >> \"$LOG\"\n",
		// Orphans: a short one that must be reaped, a daemon, and one
		// that ignores SIGTERM.
		"rc.d/S20orphans": `#!/bin/sh
( sleep 0.2 & )
sleep 1000 </dev/null >/dev/null 2>&1 &
( trap '' TERM; exec sleep 1001 ) </dev/null >/dev/null 2>&1 &
echo "S20orphans $1" >> "$LOG"
`,
		"rc.d/S15noexec": "-#!/bin/sh\necho S15noexec >> \"$LOG\"\n",
		"rc.d/S30fail":   "#!/bin/sh\nexit 3\n",
		"rc.d/K10stop":   "#!/bin/sh\necho \"K10stop $1\" >> \"$LOG\"\n",
		"rc.d/K20second": "#!/bin/sh\necho \"K20second $1\" >> \"$LOG\"\n",
		"rc.local":       "#!/bin/sh\necho \"rc.local $1\" >> \"$LOG\"\n",
	})
	z.waitLine("zoneinit: zone testzone is up")
	want := "S10first start testzone\nS20orphans start\nrc.local start\n"
	if got := z.readLog(); got != want {
		t.Errorf("start log:\n%s\nwant:\n%s", got, want)
	}
	for _, l := range []string{"zoneinit: S10first start: exit 0", "zoneinit: S30fail start: exit 3", "zoneinit: rc.local start: exit 0"} {
		if !strings.Contains(strings.Join(z.Out, "\n"), l) {
			t.Errorf("stdout lacks %q: %q", l, z.Out)
		}
	}

	// The short orphan is reaped; the two daemons are PID 1's children.
	pid1 := z.cmd.Process.Pid
	var kids map[int]byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		kids = children(pid1)
		zombies := 0
		for _, st := range kids {
			if st == 'Z' {
				zombies++
			}
		}
		if zombies == 0 && len(kids) == 2 {
			break
		}
	}
	if len(kids) != 2 {
		t.Fatalf("PID 1's children: %v, want the 2 daemons and no zombie", kids)
	}

	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid1)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				t.Logf("PID 1 (the test binary running Main) %s", l)
			}
		}
	}

	// A storm of signals PID 1 must shrug off.
	for i := 0; i < 100; i++ {
		for _, s := range []syscall.Signal{syscall.SIGCHLD, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGWINCH, syscall.SIGPIPE, syscall.SIGALRM, syscall.SIGTTOU} {
			_ = syscall.Kill(pid1, s)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if err := syscall.Kill(pid1, 0); err != nil {
		t.Fatalf("PID 1 died in the signal storm: %v", err)
	}

	start := time.Now()
	if err := syscall.Kill(pid1, HaltSignal); err != nil {
		t.Fatal(err)
	}
	code := z.wait()
	took := time.Since(start)
	t.Logf("console:\n%s", strings.Join(z.Out, "\n"))
	if code != 0 {
		t.Errorf("exit code %d, want 0; stdout %q", code, z.Out)
	}
	if last := z.Out[len(z.Out)-1]; last != "zoneinit: halted" {
		t.Errorf("last line %q, want zoneinit: halted", last)
	}
	if got := z.readLog(); got != want+"K10stop stop\nK20second stop\n" {
		t.Errorf("log after stop:\n%s", got)
	}
	// The SIGTERM-proof daemon held the stop for the 1s grace, no more.
	if took < time.Second || took > 6*time.Second {
		t.Errorf("stop took %v, want about the 1s grace", took)
	}
	for pid := range kids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("process %d survived the halt", pid)
		}
	}
}

func TestZoneReboot(t *testing.T) {
	z := startZone(t, map[string]string{
		"rc.d/K10stop": "#!/bin/sh\necho \"K10stop $1\" >> \"$LOG\"\n",
	})
	z.waitLine("zoneinit: zone testzone is up")
	if err := syscall.Kill(z.cmd.Process.Pid, RebootSignal); err != nil {
		t.Fatal(err)
	}
	if code := z.wait(); code != ExitReboot {
		t.Errorf("exit code %d, want %d", code, ExitReboot)
	}
	if last := z.Out[len(z.Out)-1]; last != "zoneinit: rebooting" {
		t.Errorf("last line %q", last)
	}
	if got := z.readLog(); got != "K10stop stop\n" {
		t.Errorf("log %q", got)
	}
}
