package dockerinit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"hull/internal/image"
	"hull/internal/image/registrytest"
	"hull/internal/node"
	"hull/internal/node/nodetest"
	"hull/internal/stdiolog"
	"hull/internal/testenv"
)

// payload is a docker VM create payload from the image, with the
// image's config in internal_metadata as the docker API puts it, and
// overrides on top. The brand is joyent-minimal unless override names
// one (SmartOS's docker API makes lx zones).
func payload(t *testing.T, n *node.Node, uuid string, override map[string]string) string {
	img, err := n.Images.Get(uuid)
	if err != nil {
		t.Fatal(err)
	}
	md := image.DockerInternalMetadata(img.Manifest)
	if md == nil {
		md = map[string]string{}
	}
	brand := "joyent-minimal"
	for k, v := range override {
		if k == "brand" {
			brand = v
			continue
		}
		md[k] = v
	}
	p := map[string]any{"brand": brand, "docker": true, "image_uuid": uuid, "internal_metadata": md}
	if brand == "lx" {
		p["kernel_version"] = "4.3.0" // lx requires it; the docker API sets it
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// pushAndImport pushes img to reg as ref and imports it into the node,
// deleting its layers when the test ends; it returns their uuids, base
// first.
func pushAndImport(t *testing.T, n *node.Node, reg *registrytest.Registry, ref string, img v1.Image) []string {
	t.Helper()
	reg.Push(t, ref, img)
	src, err := image.NewDocker(reg.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	im := &image.Importer{Store: n.Images, Sources: []image.Source{src}}
	if _, err := im.ImportDocker(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	uuids := registrytest.LayerUUIDs(t, img)
	t.Cleanup(func() {
		for i := len(uuids) - 1; i >= 0; i-- {
			n.Images.Delete(uuids[i])
		}
	})
	return uuids
}

// busyboxImage is a busybox image, pushed as ref to a registry on
// loopback and imported into n: its top layer.
func busyboxImage(t *testing.T, n *node.Node, ref string) string {
	reg := registrytest.Start(t, false)
	img := registrytest.Image(t, v1.Config{Cmd: []string{"/bin/true"}}, registrytest.BusyboxLayer(t))
	return pushAndImport(t, n, reg, ref, img)[0]
}

// output is what the zone's program wrote, from its log.
func output(n *node.Node, uuid string) string {
	b, _ := os.ReadFile(n.ConsoleLog(uuid))
	return stdiolog.Decode(b)
}

// waitExit reaps the zone (as hulld does) until it has stopped.
func waitExit(t *testing.T, n *node.Node, uuid string) *int {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		n.Reconcile(context.Background(), log)
		v, err := n.Get(uuid)
		if err != nil {
			t.Fatal(err)
		}
		if v.State == "stopped" && v.ExitTimestamp != "" {
			return v.ExitStatus
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("zone %s did not exit", uuid)
	return nil
}

func TestDockerBrand(t *testing.T) {
	n := nodetest.New(t)
	reg := registrytest.Start(t, false)
	a, b := registrytest.TestImages(t)
	reg.Push(t, "hull/a:1.0", a)
	reg.Push(t, "hull/b:1.0", b)
	src, err := image.NewDocker(reg.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	im := &image.Importer{Store: n.Images, Sources: []image.Source{src}}
	ua, ub := registrytest.LayerUUIDs(t, a), registrytest.LayerUUIDs(t, b)
	for _, ref := range []string{"hull/a:1.0", "hull/b:1.0"} {
		if _, err := im.ImportDocker(context.Background(), ref); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, u := range []string{ua[1], ub[1], ua[0]} {
			n.Images.Delete(u)
		}
	})

	tests := []struct {
		name     string
		override map[string]string
		out      string
	}{
		{"image config", nil, "greeting=hello pwd=/app user=0 args=from-image"},
		{"overridden", map[string]string{"docker:cmd": `["x","y"]`, "docker:env": `["GREETING=bye"]`,
			"docker:workdir": "/tmp", "docker:user": "65534"}, "greeting=bye pwd=/tmp user=65534 args=x y"},
		{"lx brand", map[string]string{"brand": "lx"}, "greeting=hello pwd=/app user=0 args=from-image"},
		{"lx brand overridden", map[string]string{"brand": "lx", "docker:cmd": `["x","y"]`, "docker:env": `["GREETING=bye"]`,
			"docker:workdir": "/tmp", "docker:user": "65534"}, "greeting=bye pwd=/tmp user=65534 args=x y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uuid := nodetest.Create(t, n, payload(t, n, ua[1], tt.override))
			st := waitExit(t, n, uuid)
			if st == nil || *st != 7 {
				t.Errorf("exit_status %v, want 7", st)
			}
			log := output(n, uuid)
			if !strings.Contains(log, tt.out) {
				t.Errorf("console log %q lacks %q", log, tt.out)
			}
			v, _ := n.Get(uuid)
			if v.RestartInit == nil || *v.RestartInit {
				t.Errorf("restart_init: %v", v.RestartInit)
			}
		})
	}

	// The entrypoint replaced: PID 1's child sleeps; stop asks it with
	// SIGTERM and the zone halts well within the grace period.
	uuid := nodetest.Create(t, n, payload(t, n, ub[1], map[string]string{"docker:cmd": `["/bin/sleep","1000"]`}))
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if err := n.Stop(context.Background(), uuid, false, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stop took %s", d)
	}
	if v, _ := n.Get(uuid); v.ExitStatus == nil || *v.ExitStatus != -15 || v.ExitTimestamp == "" {
		t.Errorf("after stop: exit_status %v exit_timestamp %q, want -15 (SIGTERM)", v.ExitStatus, v.ExitTimestamp)
	}
	// A program that ignores SIGTERM is killed after docker's 10 s, the
	// default grace of a docker VM's stop (an OS VM's is 60 s).
	uuid = nodetest.Create(t, n, payload(t, n, ub[1], map[string]string{"docker:cmd": `["/bin/sh","-c","trap '' TERM; while :; do sleep 1; done"]`}))
	time.Sleep(500 * time.Millisecond)
	start = time.Now()
	if err := n.Stop(context.Background(), uuid, false, 0); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 9*time.Second || d > 30*time.Second {
		t.Errorf("stop of a program that ignores SIGTERM took %s, want about 10 s", d)
	}
	if v, _ := n.Get(uuid); v.ExitStatus == nil || *v.ExitStatus != -9 {
		t.Errorf("after a stop that killed: exit_status %v, want -9", v.ExitStatus)
	}
	// docker:logdriver "none": no log is kept, as SmartOS keeps none.
	uuid = nodetest.Create(t, n, payload(t, n, ua[1], map[string]string{"docker:logdriver": "none"}))
	waitExit(t, n, uuid)
	if log, _ := os.ReadFile(n.ConsoleLog(uuid)); strings.Contains(string(log), "greeting") {
		t.Errorf("logdriver none kept the program's output: %q", log)
	}
	if v, _ := n.Get(uuid); v.ZlogMode != "---" {
		t.Errorf("zlog_mode %q, want ---", v.ZlogMode)
	}
	// A program killed by a signal: SmartOS's exit_status, minus the
	// signal number.
	uuid = nodetest.Create(t, n, payload(t, n, ub[1], map[string]string{"docker:cmd": `["/bin/sh","-c","kill -KILL $$"]`}))
	if st := waitExit(t, n, uuid); st == nil || *st != -9 {
		t.Errorf("exit_status of a program killed by SIGKILL: %v, want -9", st)
	}
	// Image b's own command, the file of its top layer.
	uuid = nodetest.Create(t, n, payload(t, n, ub[1], nil))
	if st := waitExit(t, n, uuid); st == nil || *st != 0 {
		t.Errorf("image b exit_status %v", st)
	}
	if log := output(n, uuid); !strings.Contains(log, "image b") {
		t.Errorf("image b console: %q", log)
	}
}

// A docker zone's hosts, hostname and resolv.conf are written by the
// host from the VM object and mounted over the image's, as on SmartOS:
// the zone sees them (and may write them), an update of docker:extraHosts
// reaches the running zone, and bad extraHosts are refused at create.
func TestDockerHostConf(t *testing.T) {
	n := nodetest.New(t)
	reg := registrytest.Start(t, false)
	// The image's /etc/resolv.conf is a symlink out of its tree.
	img := registrytest.Image(t, v1.Config{Cmd: []string{"/bin/sleep", "1000"}}, registrytest.BusyboxLayer(t),
		registrytest.Layer(t, registrytest.File{Name: "etc/resolv.conf", Link: "/run/systemd/resolve/stub-resolv.conf"}))
	uuids := pushAndImport(t, n, reg, "hull/hosts:1", img)

	bad := map[string]any{"brand": "joyent-minimal", "docker": true, "image_uuid": uuids[1],
		"internal_metadata": map[string]string{"docker:cmd": `["/bin/true"]`, "docker:extraHosts": `["nocolon"]`}}
	b, _ := json.Marshal(bad)
	if _, err := n.Create(context.Background(), b); err == nil || !strings.Contains(err.Error(), `entry is not of the form "NAME:IP"`) {
		t.Fatalf("create with bad extraHosts: %v", err)
	}

	p := map[string]any{"brand": "joyent-minimal", "docker": true, "image_uuid": uuids[1], "hostname": "web",
		"resolvers": []string{"10.0.0.53"}, "dns_domain": "example.org",
		"internal_metadata": map[string]string{
			// The zone's root may write the files, as in docker.
			"docker:cmd":        `["/bin/sh","-c","echo '# zone' >> /etc/hostname && echo hostname-writable; exec sleep 1000"]`,
			"docker:extraHosts": `["db:10.1.2.3","v6:fe80::1"]`, "docker:dnssearch": `["svc.example.com"]`,
			"docker:linkHosts": "10.9.9.9\tlinked\n"}}
	b, _ = json.Marshal(p)
	uuid := nodetest.Create(t, n, string(b))
	v, err := n.Get(uuid)
	if err != nil || v.PID == 0 {
		t.Fatalf("zone not running: %v %+v", err, v)
	}
	for i := 0; ; i++ {
		if log := output(n, uuid); strings.Contains(log, "hostname-writable") {
			break
		} else if i == 100 {
			t.Fatalf("zone could not write its /etc/hostname: %q", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	inZone := func(f string) string {
		t.Helper()
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root%s", v.PID, f))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	wantHosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n" +
		"ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n" +
		"10.1.2.3\tdb\nfe80::1\tv6\n10.9.9.9\tlinked\n"
	for f, want := range map[string]string{
		"/etc/hosts":       wantHosts,
		"/etc/resolv.conf": "nameserver 10.0.0.53\nsearch svc.example.com example.org\n",
		"/etc/hostname":    "web\n# zone\n",
	} {
		if got := inZone(f); got != want {
			t.Errorf("zone's %s = %q, want %q", f, got, want)
		}
	}

	// An update reaches the running zone.
	if _, err := n.Update(context.Background(), uuid, []byte(`{"set_internal_metadata":{"docker:extraHosts":"[\"cache:10.4.4.4\"]"}}`)); err != nil {
		t.Fatal(err)
	}
	if got := inZone("/etc/hosts"); !strings.Contains(got, "10.4.4.4\tcache\n") || strings.Contains(got, "db") {
		t.Errorf("zone's /etc/hosts after update: %q", got)
	}
	// A bad value is refused and changes nothing.
	if _, err := n.Update(context.Background(), uuid, []byte(`{"set_internal_metadata":{"docker:extraHosts":"{}"}}`)); err == nil || !strings.Contains(err.Error(), "is not an array") {
		t.Errorf("update with bad extraHosts: %v", err)
	}
	if got := inZone("/etc/hosts"); !strings.Contains(got, "10.4.4.4\tcache\n") {
		t.Errorf("zone's /etc/hosts after a refused update: %q", got)
	}
	// vmadm update killed once the files are rewritten: the next open
	// of the node puts back the object and the files with it.
	c := exec.Command(testenv.HullBinary(t), "vmadm", "update", uuid)
	c.Stdin = strings.NewReader(`{"set_internal_metadata":{"docker:extraHosts":"[\"lost:10.5.5.5\"]"}}`)
	c.Env = append(os.Environ(), "HULL_FAILPOINT=update/after-hostconf", "HULL_DIRECT=1")
	if out, err := c.CombinedOutput(); err == nil {
		t.Fatalf("update survived its failpoint: %s", out)
	}
	if got := inZone("/etc/hosts"); !strings.Contains(got, "lost") {
		t.Fatalf("the killed update did not get to the files: %q", got)
	}
	if _, err := node.Open(n.Root); err != nil {
		t.Fatal(err)
	}
	if got := inZone("/etc/hosts"); !strings.Contains(got, "10.4.4.4\tcache\n") || strings.Contains(got, "lost") {
		t.Errorf("zone's /etc/hosts after recovery: %q", got)
	}
	if err := n.Stop(context.Background(), uuid, true, 0); err != nil {
		t.Fatal(err)
	}
}

// TestDockerTerminal: docker:tty gives the program a terminal of its own
// (its output, through it, in the zone's log) and docker:open_stdin the
// zone's console input, which stays open; either way a program reading
// stdin waits, as in a detached `docker run -t` or `-i`, where without
// them it reads /dev/null and ends. What is written to the console
// input (zlogin -C) reaches a program with -i, through its terminal with
// -it.
func TestDockerTerminal(t *testing.T) {
	n := nodetest.New(t)
	top := busyboxImage(t, n, "hull/term:1")
	cmd := `["/bin/sh","-c","if [ -t 1 ]; then echo out-on-a-terminal; fi; tty; read x; echo read-ended $x"]`
	for _, c := range []struct {
		name  string
		md    map[string]string
		waits bool
		log   []string
	}{
		{"tty", map[string]string{"docker:tty": "true"}, true, []string{"out-on-a-terminal\r\n", "/dev/pts/0\r\n"}},
		{"tty, lx brand", map[string]string{"docker:tty": "true", "brand": "lx"}, true, []string{"out-on-a-terminal\r\n", "/dev/pts/0\r\n"}},
		{"open stdin", map[string]string{"docker:open_stdin": "true"}, true, []string{"not a tty\n"}},
		{"neither", nil, false, []string{"not a tty\n", "read-ended\n"}},
		{"tty, typed", map[string]string{"docker:tty": "true", "docker:open_stdin": "true"}, false, []string{"/dev/pts/0\r\n", "typed\r\n", "read-ended typed\r\n"}},
		{"stdin, typed", map[string]string{"docker:open_stdin": "true"}, false, []string{"not a tty\n", "read-ended typed\n"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			md := map[string]string{"docker:cmd": cmd}
			for k, v := range c.md {
				md[k] = v
			}
			uuid := nodetest.Create(t, n, payload(t, n, top, md))
			if strings.HasSuffix(c.name, "typed") {
				time.Sleep(500 * time.Millisecond)
				f, err := os.OpenFile(n.ConsoleInput(uuid), os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString("typed\n")
				f.Close()
			}
			if !c.waits {
				waitExit(t, n, uuid)
			} else {
				time.Sleep(time.Second)
				if v, _ := n.Get(uuid); v.State != "running" {
					t.Fatalf("state %s: the program did not wait on its stdin", v.State)
				}
				if err := n.Stop(context.Background(), uuid, false, 0); err != nil {
					t.Fatal(err)
				}
			}
			log := output(n, uuid)
			for _, want := range c.log {
				if !strings.Contains(log, want) {
					t.Errorf("console log %q lacks %q", log, want)
				}
			}
			if c.waits && strings.Contains(log, "read-ended") {
				t.Errorf("the read ended: %q", log)
			}
		})
	}
}
