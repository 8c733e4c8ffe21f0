package hulld

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"hull/internal/cgroup"
	"hull/internal/node"
	"hull/internal/node/nodetest"
	"hull/internal/testenv"
	"hull/internal/zone"
)

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func vmState(n *node.Node, uuid string) string {
	v, err := n.Get(uuid)
	if err != nil {
		return err.Error()
	}
	return v.State
}

// TestAutobootAndNoHostProcess: as after a node reboot, hulld boots the
// stopped VMs whose autoboot is set (and only those), serves the API,
// keeps no host process per zone, bounds console logs, and leaves the
// zones running when it stops.
func TestAutobootAndNoHostProcess(t *testing.T) {
	n := nodetest.New(t)
	ctx := context.Background()
	on := nodetest.Create(t, n, `{"brand":"joyent-minimal","alias":"on","image_uuid":"`+nodetest.BusyboxUUID+`"}`)
	off := nodetest.Create(t, n, `{"brand":"joyent-minimal","alias":"off","autoboot":false,"image_uuid":"`+nodetest.BusyboxUUID+`"}`)
	// A stop clears autoboot (as in SmartOS); setting it again leaves a
	// stopped VM that wants to run, as a host reboot does.
	if err := n.Stop(ctx, on, true, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Update(ctx, on, []byte(`{"autoboot":true}`)); err != nil {
		t.Fatal(err)
	}
	if s, s2 := vmState(n, on), vmState(n, off); s != "stopped" || s2 != "stopped" {
		t.Fatalf("before hulld: %s %s", s, s2)
	}

	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(rctx, n, quiet) }()
	waitFor(t, "autoboot", func() bool { return vmState(n, on) == "running" })
	if s := vmState(n, off); s != "stopped" {
		t.Errorf("autoboot false VM is %s", s)
	}

	// The API answers on the socket.
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", n.Socket())
	}}}
	waitFor(t, "the API", func() bool {
		r, err := c.Get("http://hulld/vms/" + on)
		if err != nil {
			return false
		}
		defer r.Body.Close()
		var v struct{ State string }
		return json.NewDecoder(r.Body).Decode(&v) == nil && v.State == "running"
	})

	// No host process stands for a zone: whatever names the zone on its
	// command line is the zone's own (in its cgroup).
	mine := map[int]bool{}
	for _, pid := range cgroup.Procs(n.Cgroups, zone.CgroupsPath(on)) {
		mine[pid] = true
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(on)) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil && !mine[pid] {
			t.Errorf("host process %d for the zone: %s", pid, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}

	// hulld keeps console logs bounded: past ConsoleMax the log moves to
	// .0 and starts again, while the zone goes on appending.
	log := n.ConsoleLog(on)
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(bytes.Repeat([]byte("x"), 2*ConsoleMax))
	f.Close()
	waitFor(t, "console rotation", func() bool {
		st, err := os.Stat(log)
		old, err0 := os.Stat(log + ".0")
		return err == nil && err0 == nil && st.Size() <= ConsoleMax && old.Size() >= 2*ConsoleMax
	})

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(n.Socket()); !os.IsNotExist(err) {
		t.Errorf("socket left after hulld stopped: %v", err)
	}
	if s := vmState(n, on); s != "running" {
		t.Fatalf("zone %s after hulld stopped", s)
	}
}

// TestSecondHulldRefused: one node, one hulld.
func TestSecondHulldRefused(t *testing.T) {
	n := nodetest.New(t)
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(rctx, n, quiet) }()
	waitFor(t, "the socket", func() bool { _, err := os.Stat(n.Socket()); return err == nil })
	time.Sleep(200 * time.Millisecond)
	if err := Run(context.Background(), n, quiet); err == nil || !strings.Contains(err.Error(), "another hulld is serving") {
		t.Errorf("second hulld: %v", err)
	}
	cancel()
	<-done
}

// TestSystemdUnit: the shipped unit runs hulld, restarts it, and stops
// only hulld (KillMode=process), never the zones; systemd-analyze, where
// the host has it, finds nothing wrong with it.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("../../dist/hulld.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"\nExecStart=/usr/local/bin/hulld\n", "\nKillMode=process\n", "\nRestart=always\n", "\nWantedBy=multi-user.target\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return
	}
	// Verified with ExecStart pointing at this build, installed or not.
	p := filepath.Join(t.TempDir(), "hulld.service")
	os.WriteFile(p, []byte(strings.Replace(unit, "/usr/local/bin/hulld", testenv.HullBinary(t)+" hulld", 1)), 0o644)
	if out, err := exec.Command(analyze, "verify", p).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestMainArgs(t *testing.T) {
	open := func() (*node.Node, error) { t.Fatal("opened the node"); return nil, nil }
	var out, errb bytes.Buffer
	if code := Main([]string{"-h"}, open, &out, &errb); code != 0 || out.String() != usage || errb.Len() != 0 {
		t.Errorf("-h: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := Main([]string{"-x"}, open, &out, &errb); code != 2 || out.Len() != 0 || !strings.HasPrefix(errb.String(), "hulld: unexpected argument \"-x\"\n") {
		t.Errorf("-x: %d %q %q", code, out.String(), errb.String())
	}
}
