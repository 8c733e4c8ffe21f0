package startd

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/smf/control"
	"hull/internal/smf/smftest"
	"hull/internal/smf/svcadm"
	"hull/internal/smf/svcs"
	"hull/internal/testenv"
	"hull/internal/zoneinit"
	"hull/internal/zoneinit/zoneinittest"
)

// TestMain turns the test binary into PID 1 of new pid and mount
// namespaces when the test starts it so: the test's etc and run go over
// /etc and /run, SMF's directories point into the test's tree.
func TestMain(m *testing.M) {
	if root := os.Getenv("SMF_TEST_ROOT"); root != "" {
		zoneinittest.Bind([2]string{filepath.Join(root, "etc"), "/etc"}, [2]string{filepath.Join(root, "run"), "/run"})
		if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
			fmt.Fprintln(os.Stderr, "mount proc:", err)
			os.Exit(100)
		}
		ManifestDirs = []string{filepath.Join(root, "manifest")}
		LogDir = filepath.Join(root, "log")
		os.Exit(Main(nil))
	}
	os.Exit(m.Run())
}

const xmlHead = `<?xml version="1.0"?>
<!DOCTYPE service_bundle SYSTEM "/usr/share/lib/xml/dtd/service_bundle.dtd.1">
<service_bundle type="manifest" name="%[1]s">
<service name="%[1]s" type="service" version="1">
<create_default_instance enabled="true"/>
<single_instance/>
`

func manifestXML(name, start, stop, duration, deps string) string {
	s := fmt.Sprintf(xmlHead, name) + deps
	s += fmt.Sprintf("<exec_method type=\"method\" name=\"start\" exec=\"%s\" timeout_seconds=\"10\"/>\n", start)
	s += fmt.Sprintf("<exec_method type=\"method\" name=\"stop\" exec=\"%s\" timeout_seconds=\"2\"/>\n", stop)
	s += fmt.Sprintf("<property_group name=\"startd\" type=\"framework\"><propval name=\"duration\" type=\"astring\" value=\"%s\"/></property_group>\n", duration)
	return s + "</service>\n</service_bundle>\n"
}

func dep(name, grouping, restartOn, fmri string) string {
	return fmt.Sprintf("<dependency name=%q grouping=%q restart_on=%q type=\"service\"><service_fmri value=%q/></dependency>\n", name, grouping, restartOn, fmri)
}

type zone struct {
	*zoneinittest.Console
	t      *testing.T
	root   string
	cmd    *exec.Cmd
	socket string
}

func startZone(t *testing.T, manifests map[string]string, rc map[string]string) *zone {
	testenv.RequireRoot(t)
	return startIn(t, t.TempDir(), t.Cleanup, manifests, rc, nil)
}

func startZoneB(b *testing.B, t *testing.T, manifests map[string]string) *zone {
	testenv.RequireRoot(b)
	z := startIn(t, b.TempDir(), b.Cleanup, manifests, nil, nil)
	return z
}

// startIn starts PID 1 over root; env adds to (and overrides) its
// environment. With SMF_SOCKET set empty, it serves on the default
// socket, under root/etc.
func startIn(t *testing.T, root string, cleanup func(func()), manifests map[string]string, rc map[string]string, env []string) *zone {
	z := &zone{t: t, root: root, socket: filepath.Join(root, "startd.sock")}
	if slices.Contains(env, "SMF_SOCKET=") {
		z.socket = filepath.Join(root, strings.TrimPrefix(control.DefaultSocket, "/"))
	}
	for _, d := range []string{"etc/rc.d", "etc/svc", "run", "manifest", "log", "out"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	for _, f := range []string{"passwd", "group"} {
		b, _ := os.ReadFile("/etc/" + f)
		os.WriteFile(filepath.Join(root, "etc", f), b, 0o644)
	}
	for name, body := range manifests {
		body = strings.ReplaceAll(body, "OUTDIR", filepath.Join(root, "out"))
		os.WriteFile(filepath.Join(root, "manifest", name+".xml"), []byte(body), 0o644)
	}
	for name, body := range rc {
		os.WriteFile(filepath.Join(root, "etc", name), []byte(body), 0o755)
	}
	var err error
	z.cmd, z.Console, err = zoneinittest.Start(append([]string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SMF_TEST_ROOT=" + root, "HULL_HOSTNAME=testzone",
		"HULL_STOP_GRACE=5", "SMF_SOCKET=" + z.socket, "SMF_CONTRACTS=ancestry", "OUT=" + filepath.Join(root, "out"),
	}, env...), 1000)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(func() { _ = z.cmd.Process.Kill(); _ = z.cmd.Wait() })
	return z
}

// waitLine reads the console until a line that starts with prefix.
func (z *zone) waitLine(prefix string) {
	z.t.Helper()
	z.WaitLine(z.t, prefix, func(l string) bool { return strings.HasPrefix(l, prefix) }, 30*time.Second)
}

func (z *zone) call(r *control.Request) (*control.Response, error) { return control.Call(z.socket, r) }

func (z *zone) svcs(args ...string) string {
	var out, errb bytes.Buffer
	svcs.Main(args, svcs.Env{Stdout: &out, Stderr: &errb, Call: z.call})
	return out.String() + errb.String()
}

func (z *zone) svcadm(args ...string) int {
	var out bytes.Buffer
	code := svcadm.Main(args, svcadm.Env{Stdout: &out, Stderr: &out, Call: z.call})
	if code != 0 {
		z.t.Logf("svcadm %v: %d %s", args, code, out.String())
	}
	return code
}

// pids are the processes of an instance's contract.
func (z *zone) pids(fmri string) []int {
	z.t.Helper()
	resp, err := z.call(&control.Request{Op: control.OpStatus})
	if err != nil {
		z.t.Fatal(err)
	}
	for _, s := range resp.Instances {
		if s.FMRI == fmri && len(s.Pids) > 0 {
			return s.Pids
		}
	}
	z.t.Fatalf("%s has no processes", fmri)
	return nil
}

// waitState polls svcs until fmri shows state.
func (z *zone) waitState(fmri, state string) {
	z.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if strings.HasPrefix(z.svcs("-H", "-o", "state", fmri), state+"\n") {
			return
		}
	}
	z.t.Fatalf("%s not %s: %s\n%s", fmri, state, z.svcs("-l", fmri), z.svcs("-pv"))
}

func TestPID1(t *testing.T) {
	out := "OUTDIR"
	z := startZone(t, map[string]string{
		"postboot": manifestXML("site/postboot", "echo postboot ran &gt;&gt; "+out+"/postboot", ":true", "transient",
			dep("net", "require_all", "none", "svc:/milestone/network")),
		"db": manifestXML("site/db", "sleep 1000 &amp; echo db &gt;&gt; "+out+"/order", "echo db &gt;&gt; "+out+"/stops; kill %{x/y} $(pgrep -s 0 sleep) 2&gt;/dev/null; pkill -s 0 sleep; :", "contract", ""),
		"app": manifestXML("site/app", "sleep 1001 &amp; echo app &gt;&gt; "+out+"/order", "echo app &gt;&gt; "+out+"/stops", "contract",
			dep("db", "require_all", "error", "svc:/site/db:default")),
		"crash": manifestXML("site/crash", "sleep 0.05 &amp;", ":kill", "contract", ""),
	}, map[string]string{
		"rc.d/S10legacy": "#!/bin/sh\necho legacy $1 >> $OUT/legacy\n",
	})
	z.waitLine("svc.startd: zone testzone is up")

	// Dependency order and the postboot script.
	z.waitState("site/app", "online")
	b, _ := os.ReadFile(filepath.Join(z.root, "out", "order"))
	if string(b) != "db\napp\n" {
		lb, _ := os.ReadFile(filepath.Join(z.root, "log", "site-app:default.log"))
		t.Errorf("start order %q; app log:\n%s", b, lb)
	}
	if b, _ := os.ReadFile(filepath.Join(z.root, "out", "postboot")); string(b) != "postboot ran\n" {
		t.Errorf("postboot %q", b)
	}
	list := z.svcs()
	for _, want := range []string{"legacy_run", "lrc:/etc/rc_d/S10legacy", "online", "svc:/site/app:default", "svc:/milestone/multi-user:default"} {
		if !strings.Contains(list, want) {
			t.Errorf("svcs lacks %q:\n%s", want, list)
		}
	}
	// The crashing service ends in maintenance, and svcs -x says why.
	z.waitState("site/crash", "maintenance")
	x := z.svcs("-x")
	if !strings.Contains(x, "svc:/site/crash:default (?)\n State: maintenance since") || !strings.Contains(x, "Reason: Restarting too quickly.") {
		t.Errorf("svcs -x:\n%s", x)
	}
	// svcadm clear gives it another round.
	if z.svcadm("clear", "crash") != 0 {
		t.Error("clear failed")
	}
	z.waitState("site/crash", "maintenance")

	// Killing db's daemon restarts db, and app with it (restart_on=error).
	// (The pids are the zone's: svcs -p, run here, would look them up
	// in the wrong /proc.)
	appPids := fmt.Sprint(z.pids("svc:/site/app:default"))
	dbPid := z.pids("svc:/site/db:default")[0]
	syscall.Kill(hostPid(t, z.cmd.Process.Pid, dbPid), syscall.SIGKILL)
	time.Sleep(time.Second)
	z.waitState("site/db", "online")
	z.waitState("site/app", "online")
	if got := fmt.Sprint(z.pids("svc:/site/app:default")); got == appPids {
		t.Errorf("app was not restarted: %s", got)
	}
	// svcadm disable -s / enable -s.
	if z.svcadm("disable", "-s", "site/app") != 0 || z.svcadm("enable", "-s", "site/app") != 0 {
		t.Error("disable/enable -s")
	}

	// No zombies among PID 1's children.
	time.Sleep(300 * time.Millisecond)
	if zs := smftest.Zombies(z.cmd.Process.Pid); len(zs) > 0 {
		t.Errorf("zombies: %v", zs)
	}
	// Clean halt: app stops before db.
	z.cmd.Process.Signal(zoneinit.HaltSignal)
	z.Drain()
	err := z.cmd.Wait()
	if err != nil {
		t.Errorf("exit: %v; console %q", err, z.Out)
	}
	if b, _ := os.ReadFile(filepath.Join(z.root, "out", "stops")); !strings.HasSuffix(string(b), "app\ndb\n") {
		t.Errorf("stops %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(z.root, "run", ".hull-exit")); string(b) != "halt\n" {
		t.Errorf("exit marker %q", b)
	}
	if last := z.Out[len(z.Out)-1]; last != "svc.startd: halted" {
		t.Errorf("last line %q", last)
	}
}

// hostPid maps a pid inside the test's pid namespace to the host's.
func hostPid(t *testing.T, pid1, inner int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) == 3 && f[0] == "NSpid:" && f[2] == strconv.Itoa(inner) {
				p, _ := strconv.Atoi(e.Name())
				return p
			}
		}
	}
	t.Fatalf("pid %d not found", inner)
	return 0
}

// TestControlWhileNetworkWaits: a zone killed last time left its control
// socket behind, and this boot waits for a NIC the node has not
// plumbed yet. svcs and svcadm answer all the while, from the fresh
// socket, and a stop request ends the wait.
func TestControlWhileNetworkWaits(t *testing.T) {
	testenv.RequireRoot(t)
	root := t.TempDir()
	stale := filepath.Join(root, strings.TrimPrefix(control.DefaultSocket, "/"))
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // the socket file stays; nothing listens on it
	z := startIn(t, root, t.Cleanup, map[string]string{
		"db": manifestXML("site/db", "sleep 1000 &amp;", ":kill", "contract", ""),
	}, nil, []string{"SMF_SOCKET=", "HULL_NET_WAIT=hullnotyet0"})
	var out string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if out = z.svcs("-a", "-H", "-o", "state,fmri"); strings.Contains(out, "svc:/site/db:default") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("svcs while the network waits: %s", out)
		}
	}
	if !strings.Contains(out, "uninitialized  svc:/site/db:default") {
		t.Errorf("before the network, want site/db uninitialized:\n%s", out)
	}
	// Settings change; nothing starts before the network is there.
	if z.svcadm("disable", "-t", "site/db") != 0 {
		t.Error("svcadm disable -t while the network waits")
	}
	if got := z.svcs("-H", "-o", "state", "site/db"); got != "uninitialized\n" {
		t.Errorf("site/db after disable: %q", got)
	}
	start := time.Now()
	z.cmd.Process.Signal(zoneinit.HaltSignal)
	z.Drain()
	if err := z.cmd.Wait(); err != nil {
		t.Errorf("exit: %v; console %q", err, z.Out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop during the network wait took %v", d)
	}
	if last := z.Out[len(z.Out)-1]; last != "svc.startd: halted" {
		t.Errorf("last line %q", last)
	}
}
