package zoneadm

import (
	"bytes"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"hull/internal/hulld"
	"hull/internal/node"
	"hull/internal/node/nodetest"
	"hull/internal/vm"
)

func TestRender(t *testing.T) {
	vms := []*vm.VM{
		{UUID: "b", Zonename: "b", Brand: "joyent", State: "stopped", ZoneState: "installed", Zonepath: "/zones/b"},
		{UUID: "a", Zonename: "web:1", Brand: "lx", State: "running", ZoneState: "running", Zonepath: "/zones/a:x", PID: 300},
		{UUID: "c", Brand: "joyent-minimal", State: "running", ZoneState: "running", Zonepath: "/zones/c", PID: 20},
	}
	for _, tc := range []struct {
		name                             string
		zone                             string
		all, noGlobal, parsable, verbose bool
		want                             string
	}{
		{name: "running", want: "global\nc\nweb:1\n"},
		{name: "all, no global", all: true, noGlobal: true, want: "c\nweb:1\nb\n"},
		{name: "parsable", all: true, parsable: true, want: "0:global:running:/::linux:shared\n" +
			"20:c:running:/zones/c:c:joyent-minimal:excl\n" +
			`300:web:1:running:/zones/a\:x:a:lx:excl` + "\n" +
			"-:b:installed:/zones/b:b:joyent:excl\n"},
		{name: "verbose, one zone", zone: "b", verbose: true, want: "  ID NAME             STATUS     PATH                           BRAND    IP    \n" +
			"   - b                installed  /zones/b                       joyent   excl  \n"},
	} {
		got := render(listEntries(vms, tc.zone, tc.all, tc.noGlobal), tc.parsable, tc.verbose)
		if got != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, got, tc.want)
		}
	}
}

// TestZoneadm boots, halts, shuts down and reboots a real zone with
// zoneadm, whose autoboot stays as it was, and lists it.
func TestZoneadm(t *testing.T) {
	n := nodetest.New(t)
	uuid := nodetest.Create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+nodetest.BusyboxUUID+`","autoboot":true}`)
	env := Env{View: func() (*node.Node, error) { return n, nil }, Open: func() (*node.Node, error) { return n, nil }}
	run := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		env.Stdout, env.Stderr = &o, &e
		code := Main(args, env)
		return code, o.String(), e.String()
	}
	state := func() (string, bool) {
		v, err := n.Get(uuid)
		if err != nil {
			t.Fatal(err)
		}
		return v.State, vm.Bool(v.Autoboot, true)
	}
	for _, step := range []struct {
		args      []string
		code      int
		errOut    string
		state     string
		listedRun bool
	}{
		{[]string{"-z", uuid, "boot"}, 1, "zoneadm: zone '" + uuid + "': zone is already booted\n", "running", true},
		{[]string{"-z", uuid, "halt"}, 0, "", "stopped", false},
		{[]string{"-z", uuid, "halt"}, 0, "", "stopped", false},
		{[]string{"-z", uuid, "shutdown"}, 1, "zoneadm: zone '" + uuid + "': not running\n", "stopped", false},
		{[]string{"-z", uuid, "reboot"}, 1, "zoneadm: zone '" + uuid + "': not running\n", "stopped", false},
		{[]string{"-u", uuid, "boot"}, 0, "", "running", true},
		{[]string{"-z", uuid, "shutdown", "-r"}, 0, "", "running", true},
		{[]string{"-z", uuid, "reboot"}, 0, "", "running", true},
		{[]string{"-z", uuid, "shutdown"}, 0, "", "stopped", false},
	} {
		code, _, errOut := run(step.args...)
		st, autoboot := state()
		if code != step.code || errOut != step.errOut || st != step.state || !autoboot {
			t.Fatalf("zoneadm %s: exit %d %q, state %s, autoboot %v; want %d %q %s", strings.Join(step.args, " "), code, errOut, st, autoboot, step.code, step.errOut, step.state)
		}
		_, out, _ := run("list")
		if strings.Contains(out, uuid) != step.listedRun {
			t.Fatalf("after %s, zoneadm list:\n%s", strings.Join(step.args, " "), out)
		}
	}
	if code, out, _ := run("list", "-ip"); code != 0 || !strings.Contains(out, "-:"+uuid+":installed:"+n.Zonepath(uuid)+":"+uuid+":joyent-minimal:excl\n") {
		t.Errorf("list -ip: %d\n%s", code, out)
	}
	for _, c := range []struct {
		args   []string
		code   int
		errOut string
	}{
		{[]string{"-z", "nope", "boot"}, 1, "zoneadm: nope: No such zone configured\n"},
		{[]string{"-z", "nope", "list"}, 1, "zoneadm: nope: No such zone configured\n"},
		{[]string{"-z", "global", "halt"}, 1, "zoneadm: zone 'global': halt operation is invalid for the global zone.\n"},
		{[]string{"boot"}, 1, "zoneadm: no zone specified\n"},
		{[]string{"list", "-pv"}, 1, "zoneadm: list -p and -v are mutually exclusive.\n"},
		{[]string{"-z", uuid, "list", "-c"}, 2, "usage:\tzoneadm -z <zone> list [-pv]\n"},
		{[]string{"-z", uuid, "halt", "now"}, 2, "usage:\tzoneadm -z <zone> halt\n"},
		{[]string{"frob"}, 2, "*"},
	} {
		code, _, errOut := run(c.args...)
		if code != c.code || c.errOut != "*" && errOut != c.errOut {
			t.Errorf("zoneadm %s: exit %d %q, want %d %q", strings.Join(c.args, " "), code, errOut, c.code, c.errOut)
		}
	}
}

// TestZoneadmThroughHulld: with a hulld answering, zoneadm's actions are
// its; autoboot stays as it was.
func TestZoneadmThroughHulld(t *testing.T) {
	n := nodetest.New(t)
	uuid := nodetest.Create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+nodetest.BusyboxUUID+`"}`)
	sock := filepath.Join(t.TempDir(), "hulld.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: hulld.API(n)}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	d := hulld.Dial(sock)
	if d == nil {
		t.Fatal("no hulld on the socket")
	}
	opened := false
	env := Env{View: func() (*node.Node, error) { return n, nil }, Daemon: func() Daemon { return d },
		Open: func() (*node.Node, error) { opened = true; return n, nil }}
	for _, step := range []struct{ sub, state string }{{"halt", "stopped"}, {"boot", "running"}, {"reboot", "running"}} {
		var o, e bytes.Buffer
		env.Stdout, env.Stderr = &o, &e
		if code := Main([]string{"-z", uuid, step.sub}, env); code != 0 {
			t.Fatalf("zoneadm %s: %d %s", step.sub, code, e.String())
		}
		if v, _ := n.Get(uuid); v.State != step.state || !vm.Bool(v.Autoboot, true) {
			t.Fatalf("after %s: %s, autoboot %v", step.sub, v.State, v.Autoboot)
		}
	}
	if opened {
		t.Error("zoneadm acted on the node itself with a hulld running")
	}
}
