package mdata

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hull/internal/metadata"
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
	} {
		out, errs, code := run(tc.stdin, tc.tty, tc.argv...)
		if out != tc.out || errs != tc.err || code != tc.code {
			t.Errorf("%q: stdout %q stderr %q exit %d; want %q %q %d", tc.argv, out, errs, code, tc.out, tc.err, tc.code)
		}
	}
}

func TestNoSocket(t *testing.T) {
	t.Setenv(SocketEnv, filepath.Join(t.TempDir(), "nodir", "metadata.sock"))
	var errb bytes.Buffer
	code := Main("mdata-get", []string{"sdc:uuid"}, Env{Stdout: &errb, Stderr: &errb})
	if code != ExitError || !strings.HasPrefix(errb.String(), "ERROR: could not initialise protocol: ") {
		t.Errorf("exit %d: %q", code, errb.String())
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
