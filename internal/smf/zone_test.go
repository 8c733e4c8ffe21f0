package smf_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"hull/internal/node"
	"hull/internal/node/nodetest"
)

const sleeperManifest = `<?xml version="1.0"?>
<!DOCTYPE service_bundle SYSTEM "/usr/share/lib/xml/dtd/service_bundle.dtd.1">
<service_bundle type="manifest" name="sleeper">
  <service name="site/sleeper" type="service" version="1">
    <create_default_instance enabled="true"/>
    <dependency name="fs" grouping="require_all" restart_on="none" type="service">
      <service_fmri value="svc:/system/filesystem/local"/>
    </dependency>
    <exec_method type="method" name="start" exec="/bin/sh -c 'sleep 1000 &amp;'" timeout_seconds="10"/>
    <exec_method type="method" name="stop" exec=":kill" timeout_seconds="10"/>
  </service>
</service_bundle>
`

// TestServicesInAZone boots a real zone whose PID 1 is the restarter,
// with a site manifest in /var/svc/manifest: the service comes online,
// svcs and svcadm work through zlogin and from the host with -z, a killed
// daemon is restarted, and the zone stops cleanly.
func TestServicesInAZone(t *testing.T) {
	n := nodetest.New(t)
	uuid := nodetest.Create(t, n, `{"brand":"joyent-minimal","alias":"smf","autoboot":false,"image_uuid":"`+nodetest.BusyboxUUID+`"}`)
	dir := filepath.Join(n.Zonepath(uuid), "root/var/svc/manifest/site")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sleeper.xml"), []byte(sleeperManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := n.Start(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				out, _ := nodetest.Hull(t, "", "zlogin", uuid, "/.hull/hull svcs -a")
				t.Fatalf("%s never happened; svcs -a:\n%s", what, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	state := func() string {
		out, _ := nodetest.Hull(t, "", "svcs", "-z", uuid, "-H", "-o", "state", "site/sleeper")
		return strings.TrimSpace(out)
	}
	waitFor("sleeper online", func() bool { return state() == "online" })
	// The daemon dies: the restarter starts it again.
	if out, err := nodetest.Hull(t, "", "zlogin", uuid, "killall sleep"); err != nil {
		t.Fatalf("killall: %v %s", err, out)
	}
	waitFor("sleeper restarted", func() bool {
		out, _ := nodetest.Hull(t, "", "zlogin", uuid, "pidof sleep")
		return strings.TrimSpace(out) != "" && state() == "online"
	})
	if out, err := nodetest.Hull(t, "", "svcadm", "-z", uuid, "disable", "-s", "site/sleeper"); err != nil {
		t.Fatalf("svcadm disable: %v %s", err, out)
	}
	if s := state(); s != "disabled" {
		t.Fatalf("after disable: %q", s)
	}
	start := time.Now()
	if err := n.Stop(ctx, uuid, false, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("clean stop took %v", d)
	}
}

// bootZone makes and starts a joyent-minimal zone with the given site
// manifests, and waits until its multi-user milestone is online.
func bootZone(t *testing.T, manifests map[string]string) (*node.Node, string) {
	t.Helper()
	n := nodetest.New(t)
	uuid := nodetest.Create(t, n, `{"brand":"joyent-minimal","alias":"smf","autoboot":false,"image_uuid":"`+nodetest.BusyboxUUID+`"}`)
	dir := filepath.Join(n.Zonepath(uuid), "root/var/svc/manifest/site")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range manifests {
		if err := os.WriteFile(filepath.Join(dir, name+".xml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Start(context.Background(), uuid); err != nil {
		t.Fatal(err)
	}
	waitOnline(t, uuid, "milestone/multi-user")
	return n, uuid
}

// waitOnline polls svcs -z until fmri is online.
func waitOnline(t *testing.T, uuid, fmri string) {
	t.Helper()
	var out string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, _ = nodetest.Hull(t, "", "svcs", "-z", uuid, "-H", "-o", "state", fmri)
		if out == "online\n" {
			return
		}
	}
	all, _ := nodetest.Hull(t, "", "svcs", "-z", uuid, "-a")
	t.Fatalf("%s not online: %q\n%s", fmri, out, all)
}

func daemon(name string) string {
	return strings.ReplaceAll(sleeperManifest, "site/sleeper", name)
}

// TestCommandsFromTheHost runs svcs, svcadm and svccfg with -z against a
// real zone, also after it was killed (which leaves its control socket
// behind), with SmartOS's output and exit codes.
func TestCommandsFromTheHost(t *testing.T) {
	n, uuid := bootZone(t, map[string]string{"sleeper": sleeperManifest})
	ctx := context.Background()
	if err := n.Stop(ctx, uuid, true, time.Second); err != nil {
		t.Fatal(err)
	}
	if out, err := nodetest.Hull(t, "", "svcs", "-z", uuid); err == nil || !strings.Contains(out, "is not running") {
		t.Errorf("svcs -z on a stopped zone: %v %q", err, out)
	}
	if err := n.Start(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	waitOnline(t, uuid, "site/sleeper")

	run := func(want int, args ...string) string {
		t.Helper()
		out, err := nodetest.Hull(t, "", args...)
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if code != want {
			t.Errorf("%v: exit %d, want %d: %s", args, code, want, out)
		}
		return out
	}
	if out := run(0, "svcs", "-z", uuid, "-a"); !strings.HasPrefix(out, "STATE          STIME    FMRI\n") || !strings.Contains(out, "svc:/site/sleeper:default") {
		t.Errorf("svcs -a:\n%s", out)
	}
	if out := run(0, "svcs", "-z", uuid, "-p", "sleeper"); !strings.Contains(out, " sleep\n") {
		t.Errorf("svcs -p shows no sleep process:\n%s", out)
	}
	if out := run(1, "svcs", "-z", uuid, "nosuch"); !strings.Contains(out, "svcs: Pattern 'nosuch' doesn't match any instances") {
		t.Errorf("svcs nosuch: %q", out)
	}
	if out := run(1, "svcadm", "-z", uuid, "restart", "nosuch"); !strings.Contains(out, "svcadm: Pattern 'nosuch' doesn't match any instances") {
		t.Errorf("svcadm restart nosuch: %q", out)
	}
	run(2, "svcadm", "-z", uuid, "frobnicate", "sleeper")
	run(0, "svcadm", "-z", uuid, "disable", "-s", "sleeper")
	if out := run(0, "svcs", "-z", uuid, "-x", "sleeper"); !strings.Contains(out, "Reason: Disabled by an administrator.") {
		t.Errorf("svcs -x after disable:\n%s", out)
	}
	run(0, "svcadm", "-z", uuid, "enable", "-s", "sleeper")
	before := run(0, "svcs", "-z", uuid, "-H", "-o", "ctid", "sleeper")
	run(0, "svcadm", "-z", uuid, "restart", "sleeper")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		after := run(0, "svcs", "-z", uuid, "-H", "-o", "state,ctid", "sleeper")
		if strings.HasPrefix(after, "online") && !strings.HasSuffix(after, " "+before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restart: contract %q, then %q", before, after)
		}
	}
	// svccfg imports a host file into the zone.
	f := filepath.Join(t.TempDir(), "other.xml")
	if err := os.WriteFile(f, []byte(daemon("site/other")), 0o644); err != nil {
		t.Fatal(err)
	}
	run(0, "svccfg", "-z", uuid, "import", f)
	waitOnline(t, uuid, "site/other")
	if out := run(0, "svccfg", "-z", uuid, "export", "site/other"); !strings.Contains(out, "<service name='site/other'") {
		t.Errorf("svccfg export:\n%s", out)
	}
}

// cpuTicks is a process's user+system time in clock ticks (1/100 s).
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.Atoi(f[11])
	k, _ := strconv.Atoi(f[12])
	return u + k
}

// TestIdleInit: an idle zone's PID 1 (the restarter, with daemons to
// watch) uses next to no CPU. The bound is loose for a loaded machine;
// a restarter that polls /proc or collects garbage in a loop spends
// tens of ticks in the same time.
func TestIdleInit(t *testing.T) {
	ms := map[string]string{}
	for k := range 5 {
		ms[fmt.Sprintf("d%d", k)] = daemon(fmt.Sprintf("site/d%d", k))
	}
	n, uuid := bootZone(t, ms)
	for k := range 5 {
		waitOnline(t, uuid, fmt.Sprintf("site/d%d", k))
	}
	v, err := n.Get(uuid)
	if err != nil || v.PID <= 0 {
		t.Fatalf("zone pid: %v %v", v, err)
	}
	time.Sleep(2 * time.Second)
	a := cpuTicks(t, v.PID)
	time.Sleep(3 * time.Second)
	if d := cpuTicks(t, v.PID) - a; d >= 5 {
		t.Errorf("idle zone init used %d ticks of CPU in 3 s, want < 5", d)
	} else {
		t.Logf("idle zone init: %d ticks in 3 s", d)
	}
}
