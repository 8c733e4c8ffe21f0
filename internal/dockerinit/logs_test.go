package dockerinit_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"hull/internal/node/nodetest"
	"hull/internal/stdiolog"
)

// TestDockerStdioLog: the zone's log is SmartOS's stdio.log, an entry
// per line with its stream (stderr apart from stdout, but for a
// terminal, whose one stream is stdout) and time; dockerinit's own
// errors are entries of stderr.
func TestDockerStdioLog(t *testing.T) {
	n := nodetest.New(t)
	top := busyboxImage(t, n, "hull/stdio:1")
	cmd := `["/bin/sh","-c","echo to-out; echo to-err >&2; printf no-end"]`
	for _, c := range []struct {
		name string
		md   map[string]string
		want map[string]string // log -> stream
	}{
		{"pipes", map[string]string{"docker:cmd": cmd}, map[string]string{"to-out\n": "stdout", "to-err\n": "stderr", "no-end": "stdout"}},
		{"tty", map[string]string{"docker:cmd": cmd, "docker:tty": "true"}, map[string]string{"to-out\r\n": "stdout", "to-err\r\n": "stdout", "no-end": "stdout"}},
		{"no program", map[string]string{"docker:cmd": `["/no/such"]`}, map[string]string{"dockerinit: fork/exec /no/such: no such file or directory\n": "stderr"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := time.Now().Add(-time.Second)
			uuid := nodetest.Create(t, n, payload(t, n, top, c.md))
			waitExit(t, n, uuid)
			// The log is in the zone's dataset, as SmartOS's; the
			// console log, which zlogin -C reads, leads to it.
			b, err := os.ReadFile(filepath.Join(n.Zonepath(uuid), "logs", "stdio.log"))
			if err != nil {
				t.Fatal(err)
			}
			if to, err := os.Readlink(n.ConsoleLog(uuid)); err != nil || to != n.StdioLog(uuid) {
				t.Errorf("console log leads to %q (%v), want %s", to, err, n.StdioLog(uuid))
			}
			got := map[string]string{}
			for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
				var e stdiolog.Entry
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				at, err := time.Parse(time.RFC3339Nano, e.Time)
				if err != nil || at.Before(before) || at.After(time.Now()) || len(e.Time) != len(stdiolog.TimeFormat) {
					t.Errorf("entry %+v: bad time", e)
				}
				got[e.Log] = e.Stream
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("log entries (log: stream) %v, want %v", got, c.want)
			}
		})
	}
}

// TestDockerLogDrivers: a docker:logdriver with a server (syslog, gelf,
// fluentd) gets each line of the program from a logger in the zone, as
// SmartOS's, which sends from the zone's network (here to a server on
// the zone's own loopback); the zone's log is kept too. A logger that
// cannot start (a bad docker:logconfig) stops the zone with its reason.
func TestDockerLogDrivers(t *testing.T) {
	n := nodetest.New(t)
	top := busyboxImage(t, n, "hull/logd:1")
	// Sleeps first: the test's server is made in the zone once it runs.
	cmd := `["/bin/sh","-c","sleep 1; echo to-server; echo oops >&2; sleep 1"]`
	for _, c := range []struct {
		driver, config string
		proto          string
		check          func(t *testing.T, got []string, id string)
	}{
		// (stdout and stderr are two streams: their order is not kept.)
		{"syslog", `{"syslog-address":"udp://127.0.0.1:5514","tag":"{{.Name}}"}`, "udp", func(t *testing.T, got []string, _ string) {
			for _, re := range []*regexp.Regexp{regexp.MustCompile(`^<30>\w{3} [ 0-9]\d \d\d:\d\d:\d\d logd-syslog\[1\]: to-server\n$`),
				regexp.MustCompile(`^<27>\w{3} [ 0-9]\d \d\d:\d\d:\d\d logd-syslog\[1\]: oops\n$`)} {
				if !slices.ContainsFunc(got, re.MatchString) {
					t.Errorf("syslog messages %q, none like %v", got, re)
				}
			}
		}},
		{"gelf", `{"gelf-address":"udp://127.0.0.1:5514","gelf-compression-type":"none"}`, "udp", func(t *testing.T, got []string, id string) {
			levels := map[string]float64{}
			for _, g := range got {
				var m map[string]any
				if json.Unmarshal([]byte(g), &m) != nil || m["_container_id"] != id || m["_container_name"] != "logd-gelf" || m["_image_name"] != "hull/logd:1" {
					t.Errorf("gelf message %q", g)
				}
				levels[fmt.Sprint(m["short_message"])], _ = m["level"].(float64)
			}
			if fmt.Sprint(levels) != "map[oops:3 to-server:6]" {
				t.Errorf("gelf messages: levels %v", levels)
			}
		}},
		{"fluentd", `{"fluentd-address":"127.0.0.1:5514"}`, "tcp", func(t *testing.T, got []string, id string) {
			all := strings.Join(got, "")
			for _, want := range []string{id[:12], id, "/logd-fluentd", "to-server", "oops", "stdout", "stderr"} {
				if !strings.Contains(all, want) {
					t.Errorf("fluentd stream %q lacks %q", all, want)
				}
			}
		}},
	} {
		t.Run(c.driver, func(t *testing.T) {
			p := map[string]any{}
			json.Unmarshal([]byte(payload(t, n, top, map[string]string{"docker:cmd": cmd, "docker:logdriver": c.driver, "docker:logconfig": c.config})), &p)
			p["alias"] = "logd-" + c.driver
			b, _ := json.Marshal(p)
			uuid := nodetest.Create(t, n, string(b))
			v, err := n.Get(uuid)
			if err != nil || v.PID == 0 {
				t.Fatalf("zone not running: %v", err)
			}
			if v.ZlogMode != "g-n" {
				t.Errorf("zlog_mode %q, want g-n", v.ZlogMode)
			}
			got := serveInZone(t, v.PID, c.proto, "127.0.0.1:5514", 5*time.Second)
			c.check(t, got, v.InternalMetadata["docker:id"])
			waitExit(t, n, uuid)
			if log := output(n, uuid); !strings.Contains(log, "to-server\n") || !strings.Contains(log, "oops\n") {
				t.Errorf("the zone's log %q lacks the output", log)
			}
		})
	}
	uuid := nodetest.Create(t, n, payload(t, n, top, map[string]string{"docker:cmd": cmd, "docker:logdriver": "syslog", "docker:logconfig": `{"syslog-address":"udp://127.0.0.1","max-size":"1m"}`}))
	if st := waitExit(t, n, uuid); st == nil || *st != 1 {
		t.Errorf("exit_status %v with a bad docker:logconfig, want 1", st)
	}
	if log := output(n, uuid); !strings.Contains(log, "dockerinit: log driver syslog: unknown log opt 'max-size' for syslog log driver\n") || strings.Contains(log, "to-server") {
		t.Errorf("log of a zone whose logger could not start: %q", log)
	}
}

// serveInZone listens on addr in the network of the zone whose init is
// pid and returns what it receives until wait has passed: a string per
// datagram, or per read of a stream.
func serveInZone(t *testing.T, pid int, proto, addr string, wait time.Duration) []string {
	t.Helper()
	var ln io.Closer
	var pc net.PacketConn
	var sl net.Listener
	err := inNetns(pid, func() (err error) {
		if proto == "udp" {
			pc, err = net.ListenPacket("udp", addr)
			ln = pc
		} else {
			sl, err = net.Listen("tcp", addr)
			ln = sl
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(wait)
	var got []string
	buf := make([]byte, 64<<10)
	if pc != nil {
		for {
			pc.SetReadDeadline(deadline)
			k, _, err := pc.ReadFrom(buf)
			if err != nil {
				return got
			}
			got = append(got, string(buf[:k]))
		}
	}
	sl.(*net.TCPListener).SetDeadline(deadline)
	c, err := sl.Accept()
	if err != nil {
		return got
	}
	defer c.Close()
	for {
		c.SetReadDeadline(deadline)
		k, err := c.Read(buf)
		if k > 0 {
			got = append(got, string(buf[:k]))
		}
		if err != nil {
			return got
		}
	}
}

// inNetns runs f on a thread in the network namespace of pid; sockets
// made there stay in it.
func inNetns(pid int, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := netns.Get()
	if err != nil {
		return err
	}
	defer self.Close()
	zns, err := netns.GetFromPid(pid)
	if err != nil {
		return err
	}
	defer zns.Close()
	if err := netns.Set(zns); err != nil {
		return err
	}
	defer netns.Set(self)
	return f()
}
