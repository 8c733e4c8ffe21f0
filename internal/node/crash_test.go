package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"hull/internal/testenv"
)

// hull runs the hull binary against the node's root.
func hull(t *testing.T, n *Node, env []string, stdin string, args ...string) (string, error) {
	t.Helper()
	c := exec.Command(testenv.HullBinary(t), args...)
	c.Env = append(os.Environ(), append([]string{"HULL_ROOT=" + n.Root}, env...)...)
	c.Stdin = strings.NewReader(stdin)
	out, err := c.CombinedOutput()
	return string(out), err
}

// reopen opens the node again, as the next hull command would: that is
// when interrupted operations are undone or finished.
func reopen(t *testing.T, n *Node) *Node {
	t.Helper()
	m, err := Open(n.Root)
	if err != nil {
		t.Fatal(err)
	}
	m.Reconcile(context.Background(), testLogger(t))
	return m
}

// TestKillDuringCreate kills vmadm create at every step; afterwards the VM
// is gone and nothing of it is left.
func TestKillDuringCreate(t *testing.T) {
	n := newNode(t)
	for _, fp := range []string{"start/launched", "create/after-ids", "create/after-clone", "create/after-config", "start/before-run", "start/after-run", "create/after-start"} {
		t.Run(strings.ReplaceAll(fp, "/", "-"), func(t *testing.T) {
			uuid := "8a1f2e3d-" + map[string]string{
				"create/after-ids": "0001", "create/after-clone": "0002", "create/after-config": "0003",
				"start/before-run": "0004", "start/after-run": "0005", "create/after-start": "0006",
				"start/launched": "0007",
			}[fp] + "-4000-8000-000000000000"
			payload := `{"uuid":"` + uuid + `","brand":"joyent-minimal","image_uuid":"` + BusyboxUUID + `"}`
			out, err := hull(t, n, []string{"HULL_FAILPOINT=" + fp}, payload, "vmadm", "create")
			if err == nil {
				t.Fatalf("vmadm create survived its failpoint: %s", out)
			}
			// Until it is undone, the half-made VM is seen as SmartOS
			// shows one being made.
			if fp == "create/after-config" || fp == "create/after-start" {
				if out, err := hull(t, n, nil, "", "vmadm", "list", "-H", "-o", "uuid,state", "uuid="+uuid); err != nil || strings.Join(strings.Fields(out), " ") != uuid+" provisioning" {
					t.Errorf("vmadm list: %v %q", err, out)
				}
				if out, err := hull(t, n, nil, "", "vmadm", "get", uuid); err != nil || !strings.Contains(out, `"state": "provisioning"`) || !strings.Contains(out, `"transition_to": "running"`) || !strings.Contains(out, `"transition_expire": `) {
					t.Errorf("vmadm get: %v %s", err, out)
				}
			}
			m := reopen(t, n)
			if _, err := m.Get(uuid); err == nil {
				t.Fatalf("VM exists after a crash at %s", fp)
			}
			checkNoLeaks(t, m, uuid)
		})
	}
}

// TestKillDuringCreateDelegated: killed once a delegated dataset is made,
// a create is undone child first, leaving no dataset.
func TestKillDuringCreateDelegated(t *testing.T) {
	n := newNodeWithConfig(t, "pool_driver=btrfs\n")
	for i, fp := range []string{"create/after-clone", "create/after-config", "create/after-start"} {
		uuid := fmt.Sprintf("8a1f2e3d-d%03d-4000-8000-000000000000", i)
		payload := `{"uuid":"` + uuid + `","brand":"joyent-minimal","delegate_dataset":true,"image_uuid":"` + BusyboxUUID + `"}`
		if out, err := hull(t, n, []string{"HULL_FAILPOINT=" + fp}, payload, "vmadm", "create"); err == nil {
			t.Fatalf("vmadm create survived %s: %s", fp, out)
		}
		m := reopen(t, n)
		if _, err := m.Get(uuid); err == nil {
			t.Fatalf("VM exists after a crash at %s", fp)
		}
		checkNoLeaks(t, m, uuid)
	}
}

func TestKillDuringDeleteFinishesIt(t *testing.T) {
	n := newNode(t)
	for _, fp := range []string{"delete/after-stop", "delete/after-destroy"} {
		uuid := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`"}`)
		if out, err := hull(t, n, []string{"HULL_FAILPOINT=" + fp}, "", "vmadm", "delete", uuid); err == nil {
			t.Fatalf("delete survived %s: %s", fp, out)
		}
		m := reopen(t, n)
		if _, err := m.Get(uuid); err == nil {
			t.Fatalf("VM still exists after a crash at %s", fp)
		}
		checkNoLeaks(t, m, uuid)
	}
}

func TestKillDuringUpdateRestoresObject(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","max_lwps":100,"image_uuid":"`+BusyboxUUID+`"}`)
	if out, err := hull(t, n, []string{"HULL_FAILPOINT=update/after-save"}, "", "vmadm", "update", uuid, "max_lwps=300"); err == nil {
		t.Fatalf("update survived: %s", out)
	}
	m := reopen(t, n)
	v, err := m.Get(uuid)
	if err != nil {
		t.Fatal(err)
	}
	if v.MaxLwps != 100 || v.State != "running" {
		t.Fatalf("after crash: max_lwps %d state %s", v.MaxLwps, v.State)
	}
}

func TestKillDuringStopLeavesItStopped(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`"}`)
	if out, err := hull(t, n, []string{"HULL_FAILPOINT=stop/before-cleanup"}, "", "vmadm", "stop", "-F", uuid); err == nil {
		t.Fatalf("stop survived: %s", out)
	}
	m := reopen(t, n)
	if s := state(t, m, uuid); s != "stopped" {
		t.Fatalf("state %s", s)
	}
	if err := m.Start(context.Background(), uuid); err != nil {
		t.Fatalf("start after crashed stop: %v", err)
	}
}

// TestZonesOutliveHulld kills hulld with SIGKILL; the zone keeps running,
// and a new hulld adopts it.
func TestZonesOutliveHulld(t *testing.T) {
	n := newNode(t)
	start := func() *exec.Cmd {
		c := exec.Command(testenv.HullBinary(t), "hulld")
		c.Env = append(os.Environ(), "HULL_ROOT="+n.Root)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(n.Socket()); err == nil {
				return c
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("hulld did not come up")
		return nil
	}
	d := start()
	out, err := hull(t, n, nil, `{"brand":"joyent-minimal","alias":"survivor","image_uuid":"`+BusyboxUUID+`"}`, "vmadm", "create")
	if err != nil {
		t.Fatal(out)
	}
	uuid, err := n.Resolve("survivor")
	if err != nil {
		t.Fatal(err)
	}
	d.Process.Kill()
	d.Wait()
	if s := state(t, n, uuid); s != "running" {
		t.Fatalf("zone %s after hulld was killed", s)
	}
	d = start()
	defer func() { d.Process.Signal(os.Interrupt); d.Wait() }()
	if out, err := hull(t, n, nil, "", "zlogin", "survivor", "echo", "alive"); err != nil || strings.TrimSpace(out) != "alive" {
		t.Fatalf("zlogin after hulld restart: %v %s", err, out)
	}
	out, _ = hull(t, n, nil, "", "vmadm", "list", "-H", "-o", "alias,state")
	if !strings.Contains(out, "survivor") || !strings.Contains(out, "running") {
		t.Fatalf("vmadm list: %s", out)
	}
	// With hulld up, vmadm's operations go through its socket, with the
	// same messages and exit codes.
	for _, step := range []struct{ args, want string }{
		{"stop " + uuid, "Successfully completed stop for VM " + uuid},
		{"stop " + uuid, "VM " + uuid + " is already not 'running' (currently: stopped)"},
		{"start " + uuid, "Successfully started VM " + uuid},
		{"start " + uuid, "Unable to start VM " + uuid + ": VM " + uuid + " is already 'running'"},
		{"update " + uuid + " max_lwps=400", "Successfully updated VM " + uuid},
	} {
		out, err := hull(t, n, nil, "", append([]string{"vmadm"}, strings.Fields(step.args)...)...)
		if err != nil || strings.TrimSpace(out) != step.want {
			t.Fatalf("vmadm %s: %v %q", step.args, err, out)
		}
	}
	if v, _ := n.Get(uuid); v.MaxLwps != 400 || v.State != "running" {
		t.Fatalf("after updates through hulld: max_lwps %d state %s", v.MaxLwps, v.State)
	}
}
