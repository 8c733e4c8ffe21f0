package contract

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"hull/internal/testenv"
)

// A method that daemonizes twice over (fork, setsid, fork, parent exits)
// leaves a grandchild that its contract must still hold.
const daemonize = `sleep 300 </dev/null >/dev/null 2>&1 &
( setsid sh -c 'sleep 301 & exit 0' & ) </dev/null >/dev/null 2>&1
sleep 0.2
exit 0`

var (
	reaperOnce sync.Once
	reaper     *Reaper
)

func trackers(t *testing.T) map[string]Tracker {
	m := map[string]Tracker{"ancestry": NewAncestry()}
	if os.Geteuid() == 0 {
		ct, err := newCgroupTracker("/sys/fs/cgroup", "/proc/self/cgroup", "smf-test-"+t.Name())
		if err != nil {
			t.Fatalf("cgroup tracker: %v", err)
		}
		t.Cleanup(ct.Close)
		m["cgroup"] = ct
	}
	return m
}

// testReaper is the package's one reaper: a process has one subreaper
// role, and a reaper collects every child of the process.
func testReaper() *Reaper {
	reaperOnce.Do(func() { reaper = NewReaper() })
	return reaper
}

// newContract makes a contract named fmri with tr, closed when the test
// ends, and the process attributes that start a method in it.
func newContract(t *testing.T, tr Tracker, fmri string) (Contract, *syscall.ProcAttr) {
	t.Helper()
	c, err := tr.New(fmri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	attr := &syscall.ProcAttr{Env: append(os.Environ(), fmt.Sprintf("%s=%d", EnvVar, c.ID())), Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{Setsid: true}}
	c.Prepare(attr.Sys)
	return c, attr
}

func TestContractHoldsDescendants(t *testing.T) {
	testenv.RequireRoot(t)
	r := testReaper()
	for name, tr := range trackers(t) {
		t.Run(name, func(t *testing.T) {
			c, attr := newContract(t, tr, "svc:/test/daemon:default")
			scanning := make(chan struct{})
			go func() { // as the restarter does while a method runs
				for {
					select {
					case <-scanning:
						return
					case <-time.After(10 * time.Millisecond):
						tr.Scan()
					}
				}
			}()
			pid, done, err := r.Start("/bin/sh", []string{"sh", "-c", daemonize}, attr, c.Add)
			if err != nil {
				t.Fatal(err)
			}
			ws := <-done
			close(scanning)
			if ws.ExitStatus() != 0 {
				t.Fatalf("method: %v", ws)
			}
			pids := c.Pids()
			if len(pids) != 2 || slices.Contains(pids, pid) {
				t.Fatalf("contract members %v, want the two sleeps", pids)
			}
			if n := c.Signal(syscall.SIGKILL); n != 2 {
				t.Errorf("signalled %d", n)
			}
			deadline := time.Now().Add(3 * time.Second)
			for len(c.Pids()) > 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if p := c.Pids(); len(p) > 0 {
				t.Errorf("left after SIGKILL: %v", p)
			}
		})
	}
}

func TestOwnCgroup(t *testing.T) {
	f := t.TempDir() + "/cgroup"
	os.WriteFile(f, []byte("12:pids:/a/b\n11:cpu,cpuacct:/a\n1:name=systemd:/x\n0::/u\n"), 0o644)
	v2, v1, err := ownCgroup(f)
	if err != nil || v2 != "/u" || v1["pids"] != "/a/b" || v1["cpuacct"] != "/a" || v1["name=systemd"] != "/x" {
		t.Errorf("%q %v %v", v2, v1, err)
	}
}

// A member that has died is out of its cgroup at once but is still the
// contract's when the reaper asks, as a zombie; once reaped, it is
// forgotten.
func TestOwnerOfDeadMember(t *testing.T) {
	testenv.RequireRoot(t)
	reaper := testReaper()
	for name, tr := range trackers(t) {
		t.Run(name, func(t *testing.T) {
			c, attr := newContract(t, tr, "svc:/test/owner:default")
			// The method's own process never reaps its child: a
			// killed child stays a zombie.
			leader, _, err := reaper.Start("/bin/sh", []string{"sh", "-c", "sleep 300 & exec sleep 301"}, attr, c.Add)
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Kill(leader, syscall.SIGKILL)
			var child int
			for deadline := time.Now().Add(3 * time.Second); child == 0; time.Sleep(20 * time.Millisecond) {
				for _, p := range c.Pids() {
					if p != leader {
						child = p
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("members %v", c.Pids())
				}
			}
			syscall.Kill(child, syscall.SIGKILL)
			for deadline := time.Now().Add(3 * time.Second); slices.Contains(c.Pids(), child); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d still a member", child)
				}
			}
			if got := tr.Owner(child); got != c.ID() {
				t.Errorf("owner of the zombie %d: %d, want %d", child, got, c.ID())
			}
			// Its parent gone, the zombie is reaped by this process.
			syscall.Kill(leader, syscall.SIGKILL)
			for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if _, err := os.Stat(fmt.Sprintf("/proc/%d", child)); err != nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d not reaped", child)
				}
			}
			c.Pids()
			if got := tr.Owner(child); got != 0 {
				t.Errorf("owner of reaped %d: %d", child, got)
			}
		})
	}
}

// The pid clock moves when a pid is allocated, a moment before the
// process shows in /proc: a scan in between misses the new child and
// the clock then stands still. When its leader exits, the contract must
// still find the child rather than report itself empty.
func TestChildForkedDuringScan(t *testing.T) {
	testenv.RequireRoot(t)
	tr := NewAncestry()
	c, attr := newContract(t, tr, "svc:/test/race:default")
	_, done, err := testReaper().Start("/bin/sh", []string{"sh", "-c", "sleep 300 & exit 0"}, attr, c.Add)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	// As if the last scan had read the clock after the sleep's pid was
	// allocated and listed /proc before the sleep was in it.
	tr.mu.Lock()
	tr.clock.due()
	tr.mu.Unlock()
	pids := c.Pids()
	defer c.Signal(syscall.SIGKILL)
	if len(pids) != 1 {
		t.Fatalf("members %v, want the sleep", pids)
	}
}
