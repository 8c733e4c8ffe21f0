package dockerlog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

var testInfo = Info{
	FullID:    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	Name:      "web",
	FullImage: "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
	Image:     "busybox:latest",
	Command:   []string{"/bin/sh", "-c", "echo hi"},
	Created:   time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
	Env:       []string{"APP=shop", "TIER=front", "SECRET=x"},
	Hostname:  "zonehost",
}

var at = time.Date(2026, 12, 7, 10, 15, 2, 670423000, time.UTC)

func TestOptions(t *testing.T) {
	for _, c := range []struct {
		driver string
		cfg    map[string]string
		err    string // "" for none
	}{
		{"syslog", map[string]string{"syslog-address": "udp://10.0.0.1"}, ""},
		{"syslog", map[string]string{"syslog-address": "tcp://10.0.0.1:601", "syslog-facility": "local3", "syslog-format": "rfc5424", "tag": "{{.Name}}"}, ""},
		{"syslog", nil, "syslog-address is required for the syslog log driver"},
		{"syslog", map[string]string{"syslog-address": "unix:///dev/log"}, `syslog-address: unsupported protocol "unix" (udp, tcp)`},
		{"syslog", map[string]string{"syslog-address": "10.0.0.1:514"}, `syslog-address should be in form proto://address, got "10.0.0.1:514"`},
		{"syslog", map[string]string{"syslog-address": "udp://h", "syslog-facility": "nope"}, "invalid syslog facility"},
		{"syslog", map[string]string{"syslog-address": "udp://h", "syslog-format": "rfc9999"}, "Invalid syslog format"},
		{"syslog", map[string]string{"syslog-address": "udp://h", "max-size": "1m"}, "unknown log opt 'max-size' for syslog log driver"},
		{"gelf", map[string]string{"gelf-address": "udp://10.0.0.1:12201", "gelf-compression-type": "zlib"}, ""},
		{"gelf", map[string]string{"gelf-address": "udp://h", "gelf-compression-level": "10"}, `gelf-compression-level: "10" is not a level from -1 to 9`},
		{"gelf", map[string]string{"gelf-address": "udp://h", "gelf-compression-type": "lz4"}, `gelf-compression-type: unknown value "lz4" (gzip, zlib, none)`},
		{"gelf", nil, "gelf-address is required for the gelf log driver"},
		{"fluentd", map[string]string{"fluentd-address": "10.0.0.1:24224", "fluentd-async": "true"}, ""},
		{"fluentd", map[string]string{"fluentd-address": "tcp://10.0.0.1"}, ""},
		{"fluentd", nil, "fluentd-address is required for the fluentd log driver"},
		{"fluentd", map[string]string{"fluentd-address": "h:1", "tag": "{{.Nope}}"}, "tag: template: log-tag:1:2: executing \"log-tag\" at <.Nope>: can't evaluate field Nope in type dockerlog.Info"},
		{"journald", nil, "logger: no log driver named 'journald' is registered"},
	} {
		d, err := New(c.driver, c.cfg, testInfo)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			d.Close()
		}
		if got != c.err {
			t.Errorf("%s %v: error %q, want %q", c.driver, c.cfg, got, c.err)
		}
	}
}

func TestTag(t *testing.T) {
	for tmpl, want := range map[string]string{
		"":                                 "0123456789ab",
		"{{.ID}}":                          "0123456789ab",
		"{{.FullID}}":                      testInfo.FullID,
		"{{.Name}}/{{.ImageName}}":         "web/busybox:latest",
		"{{.ImageID}}":                     "fedcba987654",
		"{{.DaemonName}}.{{.ImageFullID}}": "docker." + testInfo.FullImage,
	} {
		if got, err := Tag(tmpl, testInfo); err != nil || got != want {
			t.Errorf("Tag(%q) = %q, %v; want %q", tmpl, got, err, want)
		}
	}
}

func TestSyslogFormats(t *testing.T) {
	for _, c := range []struct {
		cfg  map[string]string
		m    Message
		want string
	}{
		{nil, Message{"stdout", []byte("hello"), at}, "<30>Dec  7 10:15:02 0123456789ab[42]: hello\n"},
		{nil, Message{"stderr", []byte("oops"), at}, "<27>Dec  7 10:15:02 0123456789ab[42]: oops\n"},
		{map[string]string{"syslog-facility": "local0", "syslog-format": "rfc3164"}, Message{"stdout", []byte("hi"), at}, "<134>Dec  7 10:15:02 zonehost 0123456789ab[42]: hi\n"},
		{map[string]string{"syslog-format": "rfc5424", "tag": "{{.Name}}"}, Message{"stdout", []byte("hi"), at}, "<30>1 2026-12-07T10:15:02Z zonehost web 42 web - hi\n"},
		{map[string]string{"syslog-format": "rfc5424micro", "syslog-facility": "1"}, Message{"stderr", []byte("hi"), at}, "<11>1 2026-12-07T10:15:02.670423Z zonehost 0123456789ab 42 0123456789ab - hi\n"},
	} {
		cfg := map[string]string{"syslog-address": "udp://127.0.0.1:9"}
		for k, v := range c.cfg {
			cfg[k] = v
		}
		d, err := New("syslog", cfg, testInfo)
		if err != nil {
			t.Fatal(err)
		}
		s := d.(*syslogDriver)
		s.pid = 42
		if got := s.line(c.m); got != c.want {
			t.Errorf("%v: %q, want %q", c.cfg, got, c.want)
		}
		d.Close()
	}
}

func TestGelfMessage(t *testing.T) {
	d, err := New("gelf", map[string]string{"gelf-address": "udp://127.0.0.1:9", "env": "APP", "env-regex": "^TI"}, testInfo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var got map[string]any
	if err := json.Unmarshal(d.(*gelfDriver).message(Message{"stderr", []byte("oops"), at}), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"version": "1.1", "host": "zonehost", "short_message": "oops", "timestamp": 1796638502.67, "level": 3.0,
		"_container_id": testInfo.FullID, "_container_name": "web", "_image_id": testInfo.FullImage,
		"_image_name": "busybox:latest", "_command": "/bin/sh -c echo hi", "_tag": "0123456789ab",
		"_created": "2026-12-07T10:00:00Z", "_APP": "shop", "_TIER": "front",
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v", k, got[k], v)
		}
	}
}

// TestGelfPackets: a message is compressed as asked, and one too big for
// a datagram is cut in chunks that join up again.
func TestGelfPackets(t *testing.T) {
	big := make([]byte, 9000)
	for i := range big {
		big[i] = byte('a' + i*7919%26) // compresses, but not to one datagram
	}
	for _, c := range []struct {
		ctype string
		line  []byte
		open  func(io.Reader) (io.Reader, error)
	}{
		{"", []byte("hi"), func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }},
		{"zlib", []byte("hi"), func(r io.Reader) (io.Reader, error) { return zlib.NewReader(r) }},
		{"none", big, func(r io.Reader) (io.Reader, error) { return r, nil }},
	} {
		d, err := New("gelf", map[string]string{"gelf-address": "udp://127.0.0.1:9", "gelf-compression-type": c.ctype}, testInfo)
		if err != nil {
			t.Fatal(err)
		}
		pkts, err := d.(*gelfDriver).packets(Message{"stdout", c.line, at})
		d.Close()
		if err != nil {
			t.Fatal(err)
		}
		var whole []byte
		if len(pkts) == 1 {
			whole = pkts[0]
		} else {
			for i, p := range pkts {
				if len(p) > gelfChunkSize || p[0] != 0x1e || p[1] != 0x0f || int(p[10]) != i || int(p[11]) != len(pkts) || !bytes.Equal(p[2:10], pkts[0][2:10]) {
					t.Fatalf("%s: chunk %d of %d: bad header % x", c.ctype, i, len(pkts), p[:12])
				}
				whole = append(whole, p[12:]...)
			}
		}
		r, err := c.open(bytes.NewReader(whole))
		if err != nil {
			t.Fatalf("%s: %v", c.ctype, err)
		}
		b, _ := io.ReadAll(r)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || m["short_message"] != string(c.line) {
			t.Errorf("%s: %d packets decode to %.80q (%v)", c.ctype, len(pkts), b, err)
		}
	}
}

func TestFluentdMessage(t *testing.T) {
	d, err := New("fluentd", map[string]string{"fluentd-address": "127.0.0.1:9", "tag": "app.{{.Name}}"}, testInfo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got := d.(*fluentdDriver).message(Message{"stdout", []byte("hi"), at})
	var want []byte
	want = append(want, 0x93, 0xa7)
	want = append(want, "app.web"...)
	want = append(want, 0xd3, 0, 0, 0, 0, 0x6b, 0x16, 0x87, 0x26) // 1796638502 seconds
	want = append(want, 0x84)
	for _, kv := range [][2]string{{"container_id", testInfo.FullID}, {"container_name", "/web"}, {"log", "hi"}, {"source", "stdout"}} {
		want = mpString(mpString(want, kv[0]), kv[1])
	}
	if !bytes.Equal(got, want) {
		t.Errorf("message\n% x\nwant\n% x", got, want)
	}
	d.(*fluentdDriver).subSecond = true
	got = d.(*fluentdDriver).message(Message{"stdout", []byte("hi"), at})
	if i := 1 + 8; !bytes.Equal(got[i:i+10], []byte{0xd7, 0, 0x6b, 0x16, 0x87, 0x26, 0x27, 0xf5, 0xd7, 0xd8}) {
		t.Errorf("EventTime % x", got[i:i+10])
	}
}

func TestMsgpackLengths(t *testing.T) {
	for _, n := range []int{0, 31, 32, 255, 256, 65535, 65536} {
		b := mpString(nil, strings.Repeat("x", n))
		head := len(b) - n
		if want := map[bool]int{true: 1}[n < 32] + map[bool]int{true: 2}[n >= 32 && n < 256] + map[bool]int{true: 3}[n >= 256 && n < 65536] + map[bool]int{true: 5}[n >= 65536]; head != want {
			t.Errorf("string of %d: header of %d bytes, want %d", n, head, want)
		}
	}
}

// TestSend: each driver's messages reach a server on loopback, over
// udp and tcp, in order; a server that is not there drops messages
// without blocking the sender.
func TestSend(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	d, err := New("syslog", map[string]string{"syslog-address": "udp://" + udp.LocalAddr().String()}, testInfo)
	if err != nil {
		t.Fatal(err)
	}
	d.Log(Message{"stdout", []byte("one"), at})
	d.Log(Message{"stderr", []byte("two"), at})
	d.Close()
	buf := make([]byte, 2048)
	for _, want := range []string{"]: one\n", "]: two\n"} {
		udp.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := udp.ReadFrom(buf)
		if err != nil || !strings.HasSuffix(string(buf[:n]), want) {
			t.Fatalf("udp: %q %v, want ...%q", buf[:n], err, want)
		}
	}

	d, err = New("gelf", map[string]string{"gelf-address": "tcp://" + tcp.Addr().String()}, testInfo)
	if err != nil {
		t.Fatal(err)
	}
	d.Log(Message{"stdout", []byte("three"), at})
	d.Log(Message{"stdout", []byte("four"), at})
	c, err := tcp.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	for _, want := range []string{"three", "four"} {
		b, err := r.ReadBytes(0)
		var m map[string]any
		if err != nil || json.Unmarshal(b[:len(b)-1], &m) != nil || m["short_message"] != want {
			t.Fatalf("tcp: %q %v, want %q", b, err, want)
		}
	}
	d.Close()
	c.Close()

	// Nothing listens: Log returns at once and Close within its bound.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := l.Addr().String()
	l.Close()
	d, err = New("fluentd", map[string]string{"fluentd-address": gone}, testInfo)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 2 * queueLen {
		d.Log(Message{"stdout", []byte("lost"), at})
	}
	d.Close()
	if time.Since(start) > closeWait+time.Second {
		t.Errorf("logging to no server took %s", time.Since(start))
	}
}
