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
	"hull/internal/smf/smftest"
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
	if err := n.Stop(ctx, uuid, false, 0); err != nil {
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

// site is a manifest for the zone scenario: a service with a start and
// a stop method, extra elements, and a duration.
func site(name, start, stop, duration, extra string) string {
	return `<?xml version="1.0"?>
<service_bundle type="manifest" name="` + name + `">
  <service name="site/` + name + `" type="service" version="1">
    <create_default_instance enabled="true"/>
` + extra + `
    <exec_method type="method" name="start" exec="` + start + `" timeout_seconds="10"/>
    <exec_method type="method" name="stop" exec="` + stop + `" timeout_seconds="2"/>
    <property_group name="startd" type="framework"><propval name="duration" type="astring" value="` + duration + `"/></property_group>
  </service>
</service_bundle>
`
}

// TestZoneScenario runs real manifests under the restarter as PID 1 of
// a real zone, driven from the host with svcs -z and svcadm -z: a
// postboot script from /opt/custom/smf, a daemon chain, a crashing
// service and one that fails until fixed (maintenance, svcs -x, svcadm
// clear), a bad manifest the others survive, restart_on=error, a stop
// that times out, no zombies and a clean halt.
func TestZoneScenario(t *testing.T) {
	n := nodetest.New(t)
	uuid := nodetest.Create(t, n, `{"brand":"joyent-minimal","alias":"scenario","autoboot":false,"image_uuid":"`+nodetest.BusyboxUUID+`"}`)
	root := filepath.Join(n.Zonepath(uuid), "root")
	files := map[string]string{
		"opt/custom/smf/postboot.xml":      site("postboot", "echo postboot &gt;&gt; /var/tmp/order", ":true", "transient", ""),
		"var/svc/manifest/site/db.xml":     site("db", "echo db &gt;&gt; /var/tmp/order; sleep 1000 &amp;", ":kill", "contract", ""),
		"var/svc/manifest/site/app.xml":    site("app", "echo app &gt;&gt; /var/tmp/order; sleep 1001 &amp;", ":kill", "contract", `<dependency name="db" grouping="require_all" restart_on="error" type="service"><service_fmri value="svc:/site/db"/></dependency>`),
		"var/svc/manifest/site/crash.xml":  site("crash", "sleep 0.05 &amp;", ":kill", "contract", ""),
		"var/svc/manifest/site/fixme.xml":  site("fixme", "test -f /var/tmp/fixed || exit 1; sleep 1002 &amp;", ":kill", "contract", ""),
		"var/svc/manifest/site/slow.xml":   site("slow", "sleep 1003 &amp;", "sleep 900", "contract", ""),
		"var/svc/manifest/site/broken.xml": "<service_bundle type='manifest' name='broken'>\n<service name='site/broken'\n",
	}
	for f, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := n.Start(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	hull := func(args ...string) string {
		t.Helper()
		out, err := nodetest.Hull(t, "", args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return out
	}
	field := func(col, fmri string) string {
		return strings.TrimSpace(hull("svcs", "-z", uuid, "-H", "-o", col, fmri))
	}
	wait := func(fmri, state string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); field("state", fmri) != state; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s never %s:\n%s", fmri, state, hull("svcs", "-z", uuid, "-xv"))
			}
		}
	}
	for _, f := range []string{"app", "postboot"} {
		wait(f, "online")
	}
	wait("crash", "maintenance")
	wait("fixme", "maintenance")
	b, _ := os.ReadFile(filepath.Join(root, "var/tmp/order"))
	if db, app := strings.Index(string(b), "db\n"), strings.Index(string(b), "app\n"); db < 0 || app < db || !strings.Contains(string(b), "postboot\n") {
		t.Errorf("start order %q", b)
	}
	if b, _ := os.ReadFile(n.ConsoleLog(uuid)); !strings.Contains(string(b), "broken.xml:3: XML syntax error") {
		t.Errorf("the bad manifest is not reported on the console:\n%s", b)
	}
	x := hull("svcs", "-z", uuid, "-x")
	for _, want := range []string{
		"svc:/site/crash:default (?)\n  Zone: " + uuid + "\n State: maintenance since ",
		"Reason: Restarting too quickly.\n   See: http://illumos.org/msg/SMF-8000-L5\n   See: " + root + "/var/svc/log/site-crash:default.log\n",
		"Reason: Start method failed repeatedly, last exited with status 1.\n",
	} {
		if !strings.Contains(x, want) {
			t.Errorf("svcs -x lacks %q:\n%s", want, x)
		}
	}
	// Fixed and cleared, it comes up.
	hull("zlogin", uuid, "touch /var/tmp/fixed")
	hull("svcadm", "-z", uuid, "clear", "fixme")
	wait("fixme", "online")
	// db's daemon dies: db is restarted, and app with it (restart_on=error).
	appCtid := field("ctid", "app")
	procs := strings.Fields(strings.Split(hull("svcs", "-z", uuid, "-H", "-p", "db"), "\n")[1])
	hull("zlogin", uuid, "kill -9 "+procs[1])
	for deadline := time.Now().Add(30 * time.Second); field("ctid", "app") == appCtid || field("state", "app") != "online"; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("app not restarted:\n%s", hull("svcs", "-z", uuid, "-v"))
		}
	}
	// A stop method that overruns its 2 s: killed, with the service's processes.
	start := time.Now()
	hull("svcadm", "-z", uuid, "disable", "-s", "slow")
	if d := time.Since(start); d < 2*time.Second || d > 10*time.Second {
		t.Errorf("disable -s of a slow stop took %v", d)
	}
	if out, _ := nodetest.Hull(t, "", "zlogin", uuid, "ps"); strings.Contains(out, "sleep 1003") || strings.Contains(out, "sleep 900") {
		t.Errorf("slow's processes survived:\n%s", out)
	}
	v, err := n.Get(uuid)
	if err != nil {
		t.Fatal(err)
	}
	if zs := smftest.Zombies(v.PID); len(zs) > 0 {
		t.Errorf("zombies under the zone's init: %v", zs)
	}
	start = time.Now()
	if err := n.Stop(ctx, uuid, false, 0); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("halt took %v", d)
	}
	if b, _ := os.ReadFile(n.ConsoleLog(uuid)); !strings.Contains(string(b), "svc.startd: halted") {
		t.Errorf("no clean halt on the console:\n%s", b)
	}
}
