package node

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hull/internal/cgroup"
	"hull/internal/testenv"
	"hull/internal/zone"
)

// runLeaks lists what a run of a stopped VM may leave on the host: its
// run record, bundle, runtime state and processes, cgroup and idmapped
// root. A stopped VM has none of them.
func runLeaks(n *Node, uuid string) []string {
	var out []string
	for _, p := range []string{n.stateFile(uuid), n.bundle(uuid), filepath.Join(n.Runtime.Root, zone.ContainerID(uuid))} {
		if _, err := os.Stat(p); err == nil {
			out = append(out, "file "+p)
		}
	}
	for _, m := range MountsUnder(n.rootFS(uuid)) {
		out = append(out, "mount "+m)
	}
	if cgroup.Exists(n.Cgroups, zone.CgroupsPath(uuid)) {
		out = append(out, "cgroup "+zone.CgroupsPath(uuid))
	}
	for _, pid := range runtimeProcesses(n.bundle(uuid)) {
		out = append(out, "runtime process "+pid)
	}
	if ents, _ := os.ReadDir(filepath.Join(n.Root, "journal")); len(ents) > 0 {
		out = append(out, "journal entries")
	}
	return out
}

// TestKillDuringStart kills vmadm start at every step of a boot: the next
// hull command finds the VM stopped, with nothing of the run left, and it
// boots and stops normally.
func TestKillDuringStart(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","autoboot":false,"image_uuid":"`+BusyboxUUID+`"}`)
	ctx := context.Background()
	for _, fp := range []string{"start/launched", "start/before-run", "start/after-run"} {
		t.Run(strings.ReplaceAll(fp, "/", "-"), func(t *testing.T) {
			if out, err := hull(t, n, []string{"HULL_FAILPOINT=" + fp}, "", "vmadm", "start", uuid); err == nil {
				t.Fatalf("vmadm start survived its failpoint: %s", out)
			}
			m := reopen(t, n)
			if s := state(t, m, uuid); s != "stopped" {
				t.Fatalf("state %s after a crash at %s", s, fp)
			}
			for _, l := range runLeaks(m, uuid) {
				t.Errorf("left behind: %s", l)
			}
			if err := m.Start(ctx, uuid); err != nil {
				t.Fatalf("start after the crash: %v", err)
			}
			if err := m.Stop(ctx, uuid, true, 0); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestKillDuringUpdateRestoresLimits: a live update killed after the new
// object was saved is undone, limits on the running zone included.
func TestKillDuringUpdateRestoresLimits(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","max_lwps":100,"cpu_cap":50,"image_uuid":"`+BusyboxUUID+`"}`)
	if out, err := hull(t, n, []string{"HULL_FAILPOINT=update/after-save"}, "", "vmadm", "update", uuid, "max_lwps=300", "cpu_cap=0"); err == nil {
		t.Fatalf("update survived: %s", out)
	}
	m := reopen(t, n)
	v, err := m.Get(uuid)
	if err != nil || v.MaxLwps != 100 || v.CPUCap != 50 || v.State != "running" {
		t.Fatalf("after the crash: %+v %v", v, err)
	}
	if got := cgroupValue(t, m, uuid, "pids.max"); got != "100" {
		t.Errorf("pids.max %s after the crash, want 100", got)
	}
	if got := cgroupValue(t, m, uuid, "cpu.cfs_quota_us", "cpu.max"); !strings.HasPrefix(got, "50000") {
		t.Errorf("cpu quota %s after the crash, want 50000", got)
	}
}

// TestKillHulldDuringCreate: hulld killed while it creates a VM for
// vmadm; vmadm fails, and the next hulld finds the VM gone, nothing of it
// left, and creates others.
func TestKillHulldDuringCreate(t *testing.T) {
	n := newNode(t)
	// startHulld starts hulld for the subtest t (stopped when it ends).
	startHulld := func(t *testing.T, env ...string) *exec.Cmd {
		c := exec.Command(testenv.HullBinary(t), "hulld")
		c.Env = append(os.Environ(), append([]string{"HULL_ROOT=" + n.Root}, env...)...)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Signal(os.Interrupt); c.Wait() })
		// Up when it answers: its socket exists (or a dead one's is
		// left) before it serves.
		hc := http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", n.Socket())
		}}}
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if r, err := hc.Get("http://hulld/ping"); err == nil {
				r.Body.Close()
				return c
			}
		}
		t.Fatal("hulld did not come up")
		return nil
	}
	for i, fp := range []string{"create/after-ids", "create/after-clone", "create/after-config", "start/after-run"} {
		t.Run(strings.ReplaceAll(fp, "/", "-"), func(t *testing.T) {
			d := startHulld(t, "HULL_FAILPOINT="+fp)
			uuid := fmt.Sprintf("8a1f2e3d-0000-4000-8000-%012d", i+1)
			out, err := hull(t, n, nil, `{"uuid":"`+uuid+`","brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`"}`, "vmadm", "create")
			if err == nil {
				t.Fatalf("create through a hulld killed at %s succeeded: %s", fp, out)
			}
			if err := d.Wait(); err == nil {
				t.Fatalf("hulld survived %s", fp)
			}
			startHulld(t)
			if out, err := hull(t, n, nil, "", "vmadm", "get", uuid); err == nil {
				t.Fatalf("VM exists after hulld died at %s: %s", fp, out)
			}
			checkNoLeaks(t, n, uuid)
			out, err = hull(t, n, nil, `{"brand":"joyent-minimal","alias":"after","image_uuid":"`+BusyboxUUID+`"}`, "vmadm", "create")
			if err != nil {
				t.Fatalf("create after recovery: %v %s", err, out)
			}
			after, err := n.Resolve("after")
			if err != nil {
				t.Fatal(err)
			}
			if out, err := hull(t, n, nil, "", "vmadm", "delete", after); err != nil {
				t.Fatalf("delete: %v %s", err, out)
			}
		})
	}
}
