package mdata

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hull/internal/metadata"
	"hull/internal/metadata/metadatatest"
	"hull/internal/metadata/protocol"
	"hull/internal/testenv"
	"hull/internal/vm"
)

const uuid = "4b2a9a0e-5c5f-4d8e-9e59-2b0c6b8e1a11"

// memSource holds one VM and updates it with vm.ApplyUpdate.
type memSource struct {
	mu sync.Mutex
	v  *vm.VM
}

func (m *memSource) Get(string) (*vm.VM, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, _ := json.Marshal(m.v)
	var c vm.VM
	return &c, json.Unmarshal(b, &c)
}

func (m *memSource) Update(_ context.Context, _ string, p []byte) (*vm.VM, error) {
	cur, _ := m.Get("")
	next, _, err := vm.ApplyUpdate(cur, p, time.Now())
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.v = next
	m.mu.Unlock()
	return next, nil
}

func socket(t *testing.T) string {
	t.Helper()
	src := &memSource{v: &vm.VM{UUID: uuid, Brand: "joyent", Hostname: "web01",
		CustomerMetadata:           map[string]string{"user-data": "hello", "nl": "ends\n"},
		InternalMetadata:           map[string]string{"docker:cmd": "sh"},
		InternalMetadataNamespaces: []string{"docker"}}}
	s := &metadata.Server{Source: src}
	p := filepath.Join(t.TempDir(), "metadata.sock")
	if err := s.Listen(uuid, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return p
}

func TestTools(t *testing.T) {
	p := socket(t)
	run := func(stdin string, tty bool, argv ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := Main(argv[0], argv[1:], Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
			StdinIsTTY: tty, Connect: func() (*protocol.Client, error) { return protocol.Dial(p) }})
		return out.String(), errb.String(), code
	}
	for _, tc := range []struct {
		stdin    string
		tty      bool
		argv     []string
		out, err string
		code     int
	}{
		{argv: []string{"mdata-get", "sdc:uuid"}, out: uuid + "\n"},
		{argv: []string{"mdata-get", "nl"}, out: "ends\n"},
		{argv: []string{"mdata-get", "nope"}, err: "No metadata for 'nope'\n", code: 1},
		{argv: []string{"mdata-get"}, err: "mdata-get: Usage: mdata-get <keyname>\n", code: 3},
		{argv: []string{"/usr/sbin/mdata-get"}, err: "mdata-get: Usage: /usr/sbin/mdata-get <keyname>\n", code: 3},
		{argv: []string{"mdata-put", "color", "blue"}},
		{argv: []string{"mdata-get", "color"}, out: "blue\n"},
		{stdin: "from\nstdin\n", argv: []string{"mdata-put", "color"}},
		{argv: []string{"mdata-get", "color"}, out: "from\nstdin\n"},
		{tty: true, argv: []string{"mdata-put", "color"}, err: "ERROR: either specify the metadata value as the second command-line argument, or pipe content to stdin.\n", code: 2},
		{argv: []string{"mdata-put"}, err: "mdata-put: Usage: mdata-put <keyname> [ <value> ]\n", code: 3},
		{argv: []string{"mdata-put", "sdc:hostname", "x"}, err: "Error putting metadata for key 'sdc:hostname': Cannot update the \"sdc\" Namespace.\n", code: 2},
		{argv: []string{"mdata-put", "docker:cmd", "x"}, err: "Error putting metadata for key 'docker:cmd': Cannot update the \"docker\" Namespace.\n", code: 2},
		{argv: []string{"mdata-list"}, out: "color\nnl\nuser-data\ndocker:cmd\n"},
		{argv: []string{"mdata-delete", "color"}},
		{argv: []string{"mdata-get", "color"}, err: "No metadata for 'color'\n", code: 1},
		{argv: []string{"mdata-delete"}, err: "mdata-delete: Usage: mdata-delete <keyname>\n", code: 3},
		{argv: []string{"mdata-delete", "sdc:uuid"}, err: "Error deleting metadata key 'sdc:uuid': Cannot update the \"sdc\" Namespace.\n", code: 2},
		{argv: []string{"mdata-delete", "never-set"}}, // as vmadm's remove_customer_metadata
		// An empty value is refused by the host, as SmartOS's is.
		{argv: []string{"mdata-put", "color", ""}, err: "Error putting metadata for key 'color': Invalid PUT Request\n", code: 2},
		{argv: []string{"mdata-put", "color"}, err: "Error putting metadata for key 'color': Invalid PUT Request\n", code: 2},
		{argv: []string{"mdata-get", ""}, err: "Error getting metadata for key '': Invalid GET Request\n", code: 2},
		{argv: []string{"mdata-get", "sdc:tags"}, err: "Error getting metadata for key 'sdc:tags': Unable to return non-string value for \"sdc:tags\"\n", code: 2},
		// Extra arguments are ignored, as by mdata-client.
		{argv: []string{"mdata-get", "user-data", "extra"}, out: "hello\n"},
		{argv: []string{"mdata-put", "a_pw", "s3cret", "extra"}},
		{argv: []string{"mdata-get", "a_pw"}, out: "s3cret\n"},
		{argv: []string{"mdata-list", "extra"}, out: "nl\nuser-data\na_pw\ndocker:cmd\n"},
		{argv: []string{"mdata-delete", "a_pw"}},
		{argv: []string{"mdata-get", "a_pw"}, err: "No metadata for 'a_pw'\n", code: 1},
		{argv: []string{"/usr/sbin/mdata-list"}, out: "nl\nuser-data\ndocker:cmd\n"},
	} {
		out, errs, code := run(tc.stdin, tc.tty, tc.argv...)
		if out != tc.out || errs != tc.err || code != tc.code {
			t.Errorf("%q: stdout %q stderr %q exit %d; want %q %q %d", tc.argv, out, errs, code, tc.out, tc.err, tc.code)
		}
	}
}

// Outside a zone there is no socket, nor its directory: the tools fail
// at once, with mdata-client's words.
func TestNoSocket(t *testing.T) {
	t.Setenv(SocketEnv, filepath.Join(t.TempDir(), "nodir", "metadata.sock"))
	var errb bytes.Buffer
	start := time.Now()
	code := Main("mdata-get", []string{"sdc:uuid"}, Env{Stdout: &errb, Stderr: &errb})
	if want := "ERROR: could not initialise protocol: Could not find metadata socket.\n"; code != ExitError || errb.String() != want {
		t.Errorf("exit %d: %q, want %q", code, errb.String(), want)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
}

// A socket that comes late (hulld restarting) is waited for; one that
// refuses connections until the wait is over is "Could not connect".
func TestSocketWait(t *testing.T) {
	defer func(d time.Duration) { connectWait = d }(connectWait)
	connectWait = time.Second
	dir := t.TempDir()
	p := filepath.Join(dir, "metadata.sock")
	t.Setenv(SocketEnv, p)
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // a stale socket: connections are refused
	var errb bytes.Buffer
	code := Main("mdata-get", []string{"sdc:uuid"}, Env{Stdout: &errb, Stderr: &errb})
	if want := "ERROR: could not initialise protocol: Could not connect metadata socket.\n"; code != ExitError || errb.String() != want {
		t.Errorf("stale socket: exit %d: %q, want %q", code, errb.String(), want)
	}

	os.Remove(p)
	connectWait = 10 * time.Second
	go func() {
		time.Sleep(300 * time.Millisecond)
		s := &metadata.Server{Source: &memSource{v: &vm.VM{UUID: uuid}}}
		if err := s.Listen(uuid, p); err != nil {
			t.Error(err)
		}
		t.Cleanup(s.Close)
	}()
	var out bytes.Buffer
	errb.Reset()
	if code := Main("mdata-get", []string{"sdc:uuid"}, Env{Stdout: &out, Stderr: &errb}); code != 0 || out.String() != uuid+"\n" {
		t.Errorf("late socket: exit %d: %q %q", code, out.String(), errb.String())
	}
}

// A request whose connection breaks (hulld restarted under it) is sent
// again on a new connection, as mdata-client resets its protocol.
func TestResetAndRetry(t *testing.T) {
	p := socket(t)
	// A host that negotiates V2, then hangs up on the request.
	brokenHost := func() (*protocol.Client, error) {
		c := protocol.NewClient(metadatatest.Host(func(l string) (string, bool) {
			return "V2_OK\n", strings.HasPrefix(l, "NEGOTIATE")
		}))
		return c, c.Negotiate()
	}
	dials := 0
	connect := func() (*protocol.Client, error) {
		if dials++; dials > 1 {
			return protocol.Dial(p)
		}
		return brokenHost()
	}
	var out, errb bytes.Buffer
	code := Main("mdata-get", []string{"sdc:hostname"}, Env{Stdout: &out, Stderr: &errb, Connect: connect})
	if code != 0 || out.String() != "web01\n" || errb.String() != "receive timeout, resetting protocol...\n" || dials != 2 {
		t.Errorf("exit %d, stdout %q, stderr %q, %d dials", code, out.String(), errb.String(), dials)
	}

	// No new connection: the request fails as mdata-client's does.
	dials = 0
	failing := func() (*protocol.Client, error) {
		if dials++; dials > 1 {
			return nil, ErrNoSocket
		}
		return brokenHost()
	}
	out.Reset()
	errb.Reset()
	code = Main("mdata-list", nil, Env{Stdout: &out, Stderr: &errb, Connect: failing})
	want := "receive timeout, resetting protocol...\nERROR: while resetting connection: Could not find metadata socket.\nERROR: could not execute KEYS\n"
	if code != ExitError || out.String() != "" || errb.String() != want {
		t.Errorf("exit %d, stdout %q, stderr %q\nwant %q", code, out.String(), errb.String(), want)
	}
}

// A host that speaks only V1: GET and KEYS work; PUT and DELETE are
// refused by the tools before they send anything, as mdata-client's are.
func TestV1Host(t *testing.T) {
	s := &metadata.Server{Source: &memSource{v: &vm.VM{UUID: uuid, Hostname: "old",
		Tags: map[string]any{"a": "b"}, CustomerMetadata: map[string]string{"k": "v"}}}}
	connect := func() (*protocol.Client, error) {
		c := protocol.NewClient(metadatatest.V1Host(func(l string) string {
			return s.HandleLine(context.Background(), uuid, l)
		}))
		return c, c.Negotiate()
	}
	for _, tc := range []struct {
		argv     []string
		out, err string
		code     int
	}{
		{argv: []string{"mdata-get", "sdc:hostname"}, out: "old\n"},
		{argv: []string{"mdata-get", "nope"}, err: "No metadata for 'nope'\n", code: 1},
		{argv: []string{"mdata-get", "sdc:tags"}, err: "Error getting metadata for key 'sdc:tags': FAILURE\n", code: 2},
		{argv: []string{"mdata-list"}, out: "k\n"},
		{argv: []string{"mdata-put", "k", "v"}, err: "ERROR: host does not support PUT\n", code: 2},
		{argv: []string{"mdata-delete", "k"}, err: "ERROR: host does not support DELETE\n", code: 2},
	} {
		var out, errb bytes.Buffer
		code := Main(tc.argv[0], tc.argv[1:], Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Connect: connect})
		if out.String() != tc.out || errb.String() != tc.err || code != tc.code {
			t.Errorf("%q: stdout %q stderr %q exit %d; want %q %q %d", tc.argv, out.String(), errb.String(), code, tc.out, tc.err, tc.code)
		}
	}
}

// The static hull binary, run under the tools' names, is the tools.
func TestBinaryPersonalities(t *testing.T) {
	p := socket(t)
	hull := testenv.HullBinary(t)
	dir := t.TempDir()
	for _, n := range []string{"mdata-get", "mdata-put", "mdata-list", "mdata-delete"} {
		if err := os.Symlink(hull, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	run := func(stdin string, args ...string) (string, int) {
		c := exec.Command(filepath.Join(dir, args[0]), args[1:]...)
		c.Env = append(os.Environ(), SocketEnv+"="+p)
		c.Stdin = strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		out   string
		code  int
	}{
		{args: []string{"mdata-get", "sdc:hostname"}, out: "web01\n"},
		{stdin: "v", args: []string{"mdata-put", "k"}},
		{args: []string{"mdata-list"}, out: "k\nnl\nuser-data\ndocker:cmd\n"},
		{args: []string{"mdata-delete", "k"}},
		{args: []string{"mdata-get", "k"}, out: "No metadata for 'k'\n", code: 1},
		{args: []string{"mdata-get"}, out: "mdata-get: Usage: " + filepath.Join(dir, "mdata-get") + " <keyname>\n", code: 3},
	} {
		if out, code := run(tc.stdin, tc.args...); out != tc.out || code != tc.code {
			t.Errorf("%q: %q exit %d, want %q %d", tc.args, out, code, tc.out, tc.code)
		}
	}
}
