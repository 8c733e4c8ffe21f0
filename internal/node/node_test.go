package node

import (
	"context"
	"encoding/json"
	"fmt"
	"hull/internal/vm"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/image"
	"hull/internal/image/imagetest"
	"hull/internal/testenv"
	"hull/internal/zone"
)

// BusyboxUUID is the fixed uuid of the busybox test image.
const BusyboxUUID = "dc0688f0-0f6b-4b10-9a1e-2d9fa4ad9d22"

// newNode opens a node under a fresh root with the busybox image
// installed, and checks at the end that deleting its VMs left nothing
// behind.
func newNode(t *testing.T) *Node { return newNodeWithConfig(t, "") }

// newNodeWithConfig is newNode with a node config file written first.
func newNodeWithConfig(t *testing.T, config string) *Node {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "runc")
	t.Setenv("HULL_BINARY", testenv.HullBinary(t))
	root := t.TempDir()
	os.Chmod(filepath.Dir(root), 0o711)
	if config != "" {
		if err := os.WriteFile(filepath.Join(root, "config"), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	m, f := imagetest.Busybox(t)
	if _, err := n.Images.Install(context.Background(), m, f, image.InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		vms, _ := n.List()
		for _, v := range vms {
			if err := n.Delete(context.Background(), v.UUID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
			checkNoLeaks(t, n, v.UUID)
		}
		_ = n.Images.Delete(BusyboxUUID)
		if err := n.ClosePool(); err != nil {
			t.Errorf("cleanup: close pool: %v", err)
		}
		unmountAll(root)
	})
	return n
}

// unmountAll detaches whatever is still mounted under root (image
// datasets), deepest first.
func unmountAll(root string) {
	for _, m := range MountsUnder(root) {
		_ = unmount(m)
	}
}

// checkNoLeaks asserts that a deleted VM left nothing behind.
func checkNoLeaks(t *testing.T, n *Node, uuid string) {
	t.Helper()
	for _, l := range n.Leaks(uuid) {
		t.Errorf("%s: left behind: %s", uuid, l)
	}
}

func create(t *testing.T, n *Node, payload string) string {
	t.Helper()
	v, err := n.Create(context.Background(), []byte(payload))
	if err != nil {
		t.Fatalf("create %s: %v", payload, err)
	}
	return v.UUID
}

// zexec runs a shell command inside a zone and returns its output.
func zexec(t *testing.T, n *Node, uuid, script string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := n.Runtime.Exec(ctx, zone.ContainerID(uuid), zone.ExecOptions{}, []string{"/bin/sh", "-c", script})
	out, err := c.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func mustExec(t *testing.T, n *Node, uuid, script string) string {
	t.Helper()
	out, err := zexec(t, n, uuid, script)
	if err != nil {
		t.Fatalf("zone %s: %q: %v\n%s", uuid, script, err, out)
	}
	return out
}

func state(t *testing.T, n *Node, uuid string) string {
	t.Helper()
	v, err := n.Get(uuid)
	if err != nil {
		t.Fatal(err)
	}
	return v.State
}

// TestZoneHaltsItself: an init that halts (reboot(2), as a distribution's
// init does last) ends its zone and only its zone.
func TestZoneHaltsItself(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"lx","alias":"h1","kernel_version":"6.1.0","image_uuid":"`+BusyboxUUID+`"}`)
	other := create(t, n, `{"brand":"joyent-minimal","alias":"h2","image_uuid":"`+BusyboxUUID+`"}`)
	zexec(t, n, uuid, "poweroff -f")
	deadline := time.Now().Add(10 * time.Second)
	for state(t, n, uuid) != "stopped" {
		if time.Now().After(deadline) {
			t.Fatalf("zone still %s after its init halted", state(t, n, uuid))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := state(t, n, other); s != "running" {
		t.Errorf("the other zone is %s", s)
	}
	if _, err := os.Stat("/proc/1"); err != nil {
		t.Errorf("host: %v", err)
	}
}

func TestLifecycleEachBrand(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	payloads := map[string]string{
		"joyent":         `{"brand":"joyent","alias":"j1","hostname":"j1","image_uuid":"` + BusyboxUUID + `"}`,
		"joyent-minimal": `{"brand":"joyent-minimal","alias":"m1","hostname":"m1","image_uuid":"` + BusyboxUUID + `"}`,
		"lx":             `{"brand":"lx","alias":"l1","hostname":"l1","kernel_version":"6.1.0","image_uuid":"` + BusyboxUUID + `"}`,
		"sparse":         `{"brand":"sparse","alias":"s1","hostname":"s1"}`,
	}
	for brand, p := range payloads {
		t.Run(brand, func(t *testing.T) {
			uuid := create(t, n, p)
			if s := state(t, n, uuid); s != "running" {
				t.Fatalf("state after create: %s", s)
			}
			host := mustExec(t, n, uuid, "hostname")
			var want struct{ Hostname string }
			json.Unmarshal([]byte(p), &want)
			if host != want.Hostname {
				t.Errorf("hostname %q, want %q", host, want.Hostname)
			}
			if id := mustExec(t, n, uuid, "id -u"); id != "0" {
				t.Errorf("zlogin uid %s", id)
			}
			if brand == "sparse" {
				// the host's /usr, read-only
				if out, err := zexec(t, n, uuid, "touch /usr/hull-test"); err == nil {
					t.Errorf("wrote to the host's /usr: %s", out)
				}
				mustExec(t, n, uuid, "touch /etc/own && ls /usr/bin/env")
			}
			if brand != "lx" {
				mustExec(t, n, uuid, "grep -q svc.startd /proc/1/cmdline")
				// SMF's own commands, as in a SmartOS zone.
				if st := mustExec(t, n, uuid, "svcs -H -o state milestone/multi-user"); st != "online" {
					t.Errorf("svcs in the zone: %q", st)
				}
			}
			if err := n.Stop(ctx, uuid, false, 0); err != nil {
				t.Fatal(err)
			}
			if s := state(t, n, uuid); s != "stopped" {
				t.Fatalf("state after stop: %s", s)
			}
			v, _ := n.Get(uuid)
			if v.Autoboot == nil || *v.Autoboot {
				t.Error("stop did not clear autoboot")
			}
			if err := n.Start(ctx, uuid); err != nil {
				t.Fatal(err)
			}
			if s := state(t, n, uuid); s != "running" {
				t.Fatalf("state after start: %s", s)
			}
			if err := n.Reboot(ctx, uuid, true); err != nil {
				t.Fatal(err)
			}
			if s := state(t, n, uuid); s != "running" {
				t.Fatalf("state after reboot: %s", s)
			}
			if err := n.Delete(ctx, uuid); err != nil {
				t.Fatal(err)
			}
			checkNoLeaks(t, n, uuid)
			if _, err := n.Get(uuid); err == nil || !strings.Contains(err.Error(), "No such zone configured") {
				t.Errorf("get after delete: %v", err)
			}
		})
	}
}

func TestDataSurvivesStopStart(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	uuid := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`"}`)
	mustExec(t, n, uuid, "echo kept > /root/data")
	if err := n.Stop(ctx, uuid, false, 0); err != nil {
		t.Fatal(err)
	}
	// A stop records the halt as SmartOS does: exit_status 0 and when.
	if v := mustGet(t, n, uuid); v.ExitStatus == nil || *v.ExitStatus != 0 || v.ExitTimestamp == "" {
		t.Errorf("after stop: exit_status %v exit_timestamp %q", v.ExitStatus, v.ExitTimestamp)
	}
	if err := n.Start(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	if v := mustGet(t, n, uuid); v.ExitStatus != nil || v.ExitTimestamp != "" {
		t.Errorf("running: exit_status %v exit_timestamp %q", v.ExitStatus, v.ExitTimestamp)
	}
	if got := mustExec(t, n, uuid, "cat /root/data"); got != "kept" {
		t.Fatalf("data %q", got)
	}
}

func TestStartScriptsAndCleanHalt(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	uuid := create(t, n, `{"brand":"joyent-minimal","autoboot":false,"image_uuid":"`+BusyboxUUID+`"}`)
	root := filepath.Join(n.Zonepath(uuid), "root")
	script := "#!/bin/sh\necho \"$1\" >> /root/rc.log\n"
	if err := os.WriteFile(filepath.Join(root, "etc/rc.d/S10test"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/rc.d/K10test"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if out, _ := zexec(t, n, uuid, "cat /root/rc.log"); out == "start" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	if err := n.Stop(ctx, uuid, false, 0); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("graceful stop took %v", d)
	}
	b, _ := os.ReadFile(filepath.Join(root, "root/rc.log"))
	if got := strings.Fields(string(b)); len(got) != 2 || got[0] != "start" || got[1] != "stop" {
		t.Errorf("rc.log %q", b)
	}
}

func TestCreateWithoutImageFails(t *testing.T) {
	n := newNode(t)
	_, err := n.Create(context.Background(), []byte(`{"brand":"joyent","image_uuid":"11111111-2222-4333-8444-555555555555"}`))
	if err == nil || err.Error() != "Invalid value(s) for: image_uuid" {
		t.Fatalf("got %v", err)
	}
	_, err = n.Create(context.Background(), []byte(`{"brand":"joyent","image_uuid":"`+BusyboxUUID+`","zpool":"data"}`))
	if err == nil || err.Error() != "Invalid value(s) for: zpool" {
		t.Fatalf("other pool: got %v", err)
	}
	vms, _ := n.List()
	if len(vms) != 0 {
		t.Fatalf("a failed create left %d VMs", len(vms))
	}
}

func TestParallelCreates(t *testing.T) {
	n := newNode(t)
	const count = 20
	errs := make(chan error, count)
	for i := range count {
		go func() {
			_, err := n.Create(context.Background(), []byte(fmt.Sprintf(`{"brand":"joyent-minimal","alias":"p%d","max_physical_memory":64,"image_uuid":"%s"}`, i, BusyboxUUID)))
			errs <- err
		}()
	}
	for range count {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	vms, _ := n.List()
	ranges := map[uint32]string{}
	for _, v := range vms {
		if v.State != "running" {
			t.Errorf("%s %s", v.Alias, v.State)
		}
		r, _, _ := n.IDs.Lookup(v.UUID)
		if other, dup := ranges[r.HostID]; dup {
			t.Errorf("%s and %s share uid range %d", v.UUID, other, r.HostID)
		}
		ranges[r.HostID] = v.UUID
	}
	if len(vms) != count {
		t.Fatalf("%d VMs", len(vms))
	}
}

func unmount(p string) error { return unix.Unmount(p, unix.MNT_DETACH) }

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestEventsRecorded(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	uuid := create(t, n, `{"brand":"joyent-minimal","alias":"ev","image_uuid":"`+BusyboxUUID+`"}`)
	if err := n.Stop(ctx, uuid, true, 0); err != nil {
		t.Fatal(err)
	}
	if err := n.Delete(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(n.EventLog())
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("bad event line %q: %v", line, err)
		}
		if e.UUID == uuid {
			types = append(types, e.Type)
		}
	}
	if strings.Join(types, ",") != "create,modify,delete" {
		t.Fatalf("events %v", types)
	}
}

func TestParseExit(t *testing.T) {
	for _, tt := range []struct {
		marker, reason string
		status         int // -1: unknown
	}{
		{"halt\n", "halt", 0}, {"reboot\n", "reboot", -1}, {"exit 7", "exit", 7},
		{"exit x", "exit", -1}, {"", "", -1},
	} {
		reason, status := parseExit(tt.marker)
		got := -1
		if status != nil {
			got = *status
		}
		if reason != tt.reason || got != tt.status {
			t.Errorf("parseExit(%q) = %q %d, want %q %d", tt.marker, reason, got, tt.reason, tt.status)
		}
	}
}

// reconcileUntil runs the reaper until cond holds on the VM.
func reconcileUntil(t *testing.T, n *Node, uuid string, d time.Duration, cond func(v *vm.VM) bool) *vm.VM {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	deadline := time.Now().Add(d)
	for {
		n.Reconcile(context.Background(), log)
		v, err := n.Get(uuid)
		if err != nil {
			t.Fatal(err)
		}
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("zone never got there: %s restarts=%v exit=%v", v.State, v.InitRestarts, v.ExitStatus)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestInitExitRecorded: a zone that halts itself is stopped with
// exit_status 0 and an exit_timestamp; an init that keeps dying is
// restarted (init_restarts counts it) until it dies too quickly, then
// the zone is left stopped.
func TestInitExitRecorded(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`"}`)
	// The shell may itself be ended by the shutdown it starts (143).
	zexec(t, n, uuid, "poweroff")
	v := reconcileUntil(t, n, uuid, 30*time.Second, func(v *vm.VM) bool { return v.State == "stopped" })
	if v.ExitStatus == nil || *v.ExitStatus != 0 || v.ExitTimestamp == "" {
		t.Fatalf("after an in-zone halt: exit_status %v exit_timestamp %q", v.ExitStatus, v.ExitTimestamp)
	}

	uuid = create(t, n, `{"brand":"lx","kernel_version":"4.3.0","autoboot":false,"init_name":"/sbin/dying","image_uuid":"`+BusyboxUUID+`"}`)
	script := "#!/bin/sh\nsleep 1\nexit 7\n"
	if err := os.WriteFile(filepath.Join(n.Zonepath(uuid), "root/sbin/dying"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background(), uuid); err != nil {
		t.Fatal(err)
	}
	reconcileUntil(t, n, uuid, 30*time.Second, func(v *vm.VM) bool { return v.InitRestarts != nil && *v.InitRestarts >= 2 })
	v = reconcileUntil(t, n, uuid, 60*time.Second, func(v *vm.VM) bool { return v.State == "stopped" })
	if v.ExitTimestamp == "" {
		t.Fatal("no exit_timestamp after init gave up")
	}
}

// TestQuotaEnforcedAndLive: a zone fills its quota and gets a write
// error; raising the quota with update lets it write again, while it
// runs. Needs a pool with quotas (btrfs, the default).
func TestQuotaEnforcedAndLive(t *testing.T) {
	n := newNode(t)
	testenv.Require(t, n.Pool.Name() == "btrfs", "a btrfs pool (btrfs in the kernel and mkfs.btrfs)")
	uuid := create(t, n, `{"brand":"joyent-minimal","quota":1,"image_uuid":"`+BusyboxUUID+`"}`)
	if _, err := zexec(t, n, uuid, "dd if=/dev/zero of=/root/fill bs=1M count=1200"); err == nil {
		t.Fatal("writing 1200 MiB into a 1 GiB quota succeeded")
	}
	mustExec(t, n, uuid, "rm -f /root/fill; sync")
	if _, err := n.Update(context.Background(), uuid, []byte(`{"quota":2}`)); err != nil {
		t.Fatal(err)
	}
	mustExec(t, n, uuid, "dd if=/dev/zero of=/root/fill bs=1M count=1200 && rm /root/fill")
}

// TestPoolFullDuringCreate fills a small pool from inside one zone; a
// create then fails with a clear error and leaves nothing behind.
func TestPoolFullDuringCreate(t *testing.T) {
	n := newNodeWithConfig(t, "pool_size=300M\n")
	testenv.Require(t, n.Pool.Name() == "btrfs", "a btrfs pool (btrfs in the kernel and mkfs.btrfs)")
	filler := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`"}`)
	zexec(t, n, filler, "dd if=/dev/urandom of=/root/big bs=1M count=400; sync")
	_, err := n.Create(context.Background(), []byte(`{"brand":"joyent-minimal","alias":"late","image_uuid":"`+BusyboxUUID+`"}`))
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("create on a full pool: %v", err)
	}
	vms, _ := n.List()
	if len(vms) != 1 {
		t.Fatalf("a failed create left a VM: %d VMs", len(vms))
	}
	ds, _ := n.Pool.List()
	for _, d := range ds {
		if !strings.Contains(d.Name, filler) && !strings.Contains(d.Name, BusyboxUUID) {
			t.Errorf("a failed create left dataset %s", d.Name)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(n.Root, "journal")); len(ents) > 0 {
		t.Errorf("journal entries left: %v", ents)
	}
}

// TestZoneShutdownTools: a zone's halt, poweroff, reboot and shutdown do
// what they say, as in a SmartOS zone, and so do busybox's own;
// single-user has no meaning in a zone and is refused.
func TestZoneShutdownTools(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	uuid := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`"}`)
	pid := func() int {
		v, err := n.Get(uuid)
		if err != nil {
			t.Fatal(err)
		}
		return v.PID
	}
	// (busybox's shell runs its own halt, poweroff and reboot; the
	// zone's, SmartOS's, are in /usr/sbin.)
	for _, cmd := range []string{"reboot", "/usr/sbin/reboot", "shutdown -y -g0 -i6"} {
		old := pid()
		zexec(t, n, uuid, cmd) // the shell may be ended by the shutdown
		reconcileUntil(t, n, uuid, 30*time.Second, func(v *vm.VM) bool {
			return v.State == "running" && v.PID != 0 && v.PID != old
		})
	}
	for _, cmd := range []string{"halt", "poweroff", "/usr/sbin/halt", "/usr/sbin/poweroff", "shutdown -y -g 0 -i 5"} {
		zexec(t, n, uuid, cmd)
		reconcileUntil(t, n, uuid, 30*time.Second, func(v *vm.VM) bool { return v.State == "stopped" })
		if err := n.Start(ctx, uuid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := zexec(t, n, uuid, "shutdown -y -g0"); err == nil || !strings.Contains(out, "has no meaning in a zone") {
		t.Errorf("shutdown to single-user: %v %s", err, out)
	}
	if v, _ := n.Get(uuid); v.State != "running" {
		t.Errorf("after a refused shutdown: %s", v.State)
	}
	// SMF's commands are where SmartOS has them, for the zone's users.
	out, err := zexec(t, n, uuid, "svcs -H -o state milestone/multi-user; /usr/sbin/svcadm restart network/loopback && echo restarted; /usr/sbin/svccfg validate /dev/null; ls -l /usr/bin/svcs")
	for _, want := range []string{"online\nrestarted\n", "svccfg: /dev/null: no <service_bundle> element", "/usr/bin/svcs -> /.hull/hull"} {
		if !strings.Contains(out, want) {
			t.Errorf("svcs, svcadm and svccfg in the zone: %v, no %q in:\n%s", err, want, out)
		}
	}
}
