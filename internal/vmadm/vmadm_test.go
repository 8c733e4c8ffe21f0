package vmadm

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hull/internal/node"
)

const (
	testUUID  = "0a1b2c3d-0000-4000-8000-000000000001"
	testImage = "dc0688f0-0f6b-4b10-9a1e-2d9fa4ad9d22"
)

// cliRun is one vmadm run without a node: Open fails, so any command
// that gets past its argument checks ends with "no node in this test".
type cliRun struct {
	stdin string
	tty   bool
}

func (r cliRun) run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	env := Env{
		Stdin: strings.NewReader(r.stdin), Stdout: &out, Stderr: &errb, StdinIsTTY: r.tty,
		Open:           func() (*node.Node, error) { return nil, errors.New("no node in this test") },
		ImageInstalled: func(uuid string) (bool, error) { return uuid == testImage, nil },
	}
	code = Main(args, env)
	return code, out.String(), errb.String()
}

func runCLI(stdin string, args ...string) (int, string, string) {
	return cliRun{stdin: stdin}.run(args...)
}

// TestUsageAndExitCodes: every usage error exits 2 with SmartOS's
// message and the usage on stderr; operation errors exit 1 with the
// message alone; help exits 0 with the usage on stdout.
func TestUsageAndExitCodes(t *testing.T) {
	payload := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(payload, []byte(`{}`), 0o600)
	tests := []struct {
		args     []string
		tty      bool
		code     int
		inStderr string
	}{
		{nil, false, 2, "Usage: vmadm <command> [options]"},
		{[]string{"-d"}, false, 2, "Usage: vmadm"},
		{[]string{"frobnicate"}, false, 2, `Invalid command: "frobnicate".`},
		{[]string{"get"}, false, 2, "Invalid or missing UUID for get"},
		{[]string{"json", "not-a-uuid"}, false, 2, "Invalid or missing UUID for get"},
		{[]string{"get", "0a1b2c3d_0000-4000-8000-000000000001"}, false, 2, "Invalid or missing UUID for get"},
		{[]string{"delete"}, false, 2, "Invalid or missing UUID for delete"},
		{[]string{"destroy", "x"}, false, 2, "Invalid or missing UUID for delete"},
		{[]string{"console"}, false, 2, "Invalid or missing UUID for console"},
		{[]string{"start", "1234"}, false, 2, "Invalid or missing UUID for start"},
		{[]string{"boot"}, false, 2, "Invalid or missing UUID for start"},
		{[]string{"start", testUUID, "order=cd"}, false, 2, "Invalid argument to start: order"},
		{[]string{"stop"}, false, 2, "Invalid or missing UUID for stop"},
		{[]string{"install"}, false, 2, "Invalid or missing UUID for install"},
		{[]string{"install", testUUID}, false, 1, "Unable to install VM " + testUUID + ": no receive of it awaits installation"},
		{[]string{"halt", "-F"}, false, 2, "Invalid or missing UUID for stop"},
		{[]string{"reboot", "-F"}, false, 2, "Invalid or missing UUID for reboot"},
		{[]string{"stop", "-t"}, false, 2, "-t requires"},
		{[]string{"stop", testUUID, "-t", "soon"}, false, 2, "Invalid timeout: soon"},
		{[]string{"stop", testUUID, "-X"}, false, 2, "Unknown option: -X"},
		{[]string{"reboot", testUUID, "-t", "5"}, false, 2, "Unknown option: -t"},
		{[]string{"update"}, false, 2, "Invalid or missing UUID for update"},
		{[]string{"update", testUUID, "alias"}, false, 2, "Bad arguments: unable to split alias"},
		{[]string{"update", testUUID, "-f", payload, "alias=x"}, false, 2, "Cannot use -f with property=value arguments"},
		{[]string{"update", testUUID}, true, 2, "Will not update from stdin when stdin is a tty."},
		{[]string{"create"}, true, 2, "Will not create from stdin when stdin is a tty."},
		{[]string{"create", "extra"}, false, 2, "Unexpected arguments: extra"},
		{[]string{"create", "-f"}, false, 2, "-f requires a filename"},
		{[]string{"validate"}, false, 2, "Will not validate without a valid action."},
		{[]string{"validate", "frob"}, false, 2, "Will not validate without a valid action."},
		{[]string{"validate", "update"}, false, 2, "Will not validate without a valid action and brand."},
		{[]string{"validate", "create"}, true, 2, "Will not validate from stdin when stdin is a tty."},
		{[]string{"kill"}, false, 2, "Invalid or missing argument UUID"},
		{[]string{"kill", "-9"}, false, 2, "Invalid or missing argument UUID"},
		{[]string{"kill", "-s"}, false, 2, "Invalid or missing argument UUID"},
		{[]string{"kill", testUUID, testUUID}, false, 2, "Too many arguments."},
		{[]string{"list", "-x"}, false, 2, "Unknown option: -x"},
		{[]string{"list", "-o"}, false, 2, "Option -o requires an argument"},
		{[]string{"list", "-pz"}, false, 2, "Unknown option: -z"},
		{[]string{"lookup", "-p"}, false, 2, "Unknown option: -p"},
		{[]string{"lookup", "-s"}, false, 2, "Unknown option: -s"},
		{[]string{"info"}, false, 2, "Invalid or missing UUID for info"},
		{[]string{"sysrq"}, false, 2, "Invalid or missing UUID for sysrq"},
		{[]string{"sysrq", testUUID}, false, 2, `Wrong number of parameters to "sysrq"`},
		{[]string{"sysrq", testUUID, "reset"}, false, 2, "Invalid sysrq type: reset"},
		{[]string{"events", "-x"}, false, 2, "Unknown option: -x"},
		{[]string{"events", "nope"}, false, 2, "Invalid or missing UUID for events"},
		{[]string{"create-snapshot", "x", "y"}, false, 2, "Invalid or missing UUID for create-snapshot"},
		{[]string{"create-snapshot", testUUID}, false, 2, `Wrong number of parameters to "create-snapshot"`},
		{[]string{"rollback-snapshot", testUUID, "a", "b"}, false, 2, `Wrong number of parameters to "rollback-snapshot"`},
		{[]string{"delete-snapshot"}, false, 2, "Invalid or missing UUID for delete-snapshot"},
		{[]string{"send"}, false, 2, "Invalid or missing UUID for send"},
		{[]string{"receive", "extra"}, false, 2, "Unexpected arguments"},
		{[]string{"reprovision"}, false, 2, "Invalid or missing UUID for reprovision"},
		{[]string{"reprovision", testUUID}, true, 2, "Will not take payload from stdin when stdin is a tty."},

		{[]string{"kill", "-s", "NOPE", testUUID}, false, 1, `Unknown signal "NOPE"`},
		{[]string{"kill", "-NOPE", testUUID}, false, 1, `Unknown signal "NOPE"`},
		{[]string{"kill", "-s", "kill", testUUID}, false, 1, `Unknown signal "kill"`},
		{[]string{"lookup", "-o", "uuid"}, false, 1, "Cannot specify -o without -j"},
		{[]string{"list", "-o", "nics.*.ip"}, false, 1, `Invalid order key: "nics.*.ip"`},
		{[]string{"list", "bogus=1"}, false, 1, `Invalid filter key: "bogus"`},
		{[]string{"lookup", "bogus=1"}, false, 1, `Invalid lookup key: "bogus"`},
		{[]string{"create", "-f", "/nonexistent.json"}, false, 1, "File: /nonexistent.json does not exist."},
		{[]string{"create-snapshot", testUUID, "bad name"}, false, 1, "Invalid snapshot name"},
		{[]string{"delete-snapshot", testUUID, "x/y"}, false, 1, "Invalid snapshot name"},
		{[]string{"rollback-snapshot", testUUID, strings.Repeat("a", 65)}, false, 1, "Invalid snapshot name"},
		{[]string{"create-snapshot", testUUID, strings.Repeat("a", 64)}, false, 1, "no node in this test"},
		{[]string{"create-snapshot", testUUID, "A-z_0.9:%"}, false, 1, "no node in this test"},
		{[]string{"get", testUUID, "ignored"}, false, 1, "no node in this test"},
		{[]string{"-v", "get", testUUID}, false, 1, "no node in this test"},
		{[]string{"kill", "-9", testUUID}, false, 1, "no node in this test"},
		{[]string{"kill", "-s", "HUP", testUUID}, false, 1, "no node in this test"},
		{[]string{"kill", "-SIGUSR1", testUUID}, false, 1, "no node in this test"},
		{[]string{"stop", testUUID, "-F", "-t", "5"}, false, 1, "no node in this test"},
		{[]string{"list", "-pH", "-s", "-ram", "-o", "uuid,alias", "alias=~^w"}, false, 1, "no node in this test"},
		{[]string{"lookup", "-j1", "-o", "uuid", "state=running"}, false, 1, "no node in this test"},
		{[]string{"recv"}, false, 1, "no node in this test"},
		{[]string{"info", testUUID}, false, 1, "Unable to get VM info for VM " + testUUID + ": no node in this test"},
		{[]string{"update", testUUID, "-f", payload}, false, 1, "no node in this test"},
		{[]string{"reprovision", testUUID}, false, 1, "Invalid JSON payload: EOF"},
		{[]string{"reprovision", testUUID, "-f", "/nonexistent.json"}, false, 1, "File: /nonexistent.json does not exist."},
		{[]string{"reprovision", testUUID, "-f", payload}, false, 1, "no node in this test"},
	}
	for _, tt := range tests {
		code, out, errs := cliRun{tty: tt.tty}.run(tt.args...)
		usage := strings.Contains(errs, "Usage: vmadm")
		if code != tt.code || !strings.Contains(errs, tt.inStderr) || out != "" || usage != (tt.code == 2) {
			t.Errorf("vmadm %v: code %d stdout %q stderr %q", tt.args, code, out, errs)
		}
	}
	for _, help := range []string{"help", "-h", "-?", "--help"} {
		code, out, errs := runCLI("", help)
		if code != 0 || !strings.HasPrefix(out, "Usage: vmadm") || errs != "" {
			t.Errorf("vmadm %s: %d %q %q", help, code, out, errs)
		}
	}
}

// TestValidate: vmadm validate reports on stderr, as SmartOS's does:
// the VALID message (exit 0) or the JSON error object (exit 1).
func TestValidate(t *testing.T) {
	tests := []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{`{"brand":"joyent","image_uuid":"` + testImage + `"}`, []string{"create"}, 0, "VALID 'create' payload for joyent brand VMs.\n"},
		{`{"brand":"sparse","alias":"x"}`, []string{"create"}, 0, "VALID 'create' payload for sparse brand VMs.\n"},
		{`{"max_lwps": 10}`, []string{"update", "joyent"}, 0, "VALID 'update' payload for joyent brand VMs.\n"},
		{`{"kernel_version": "5.4"}`, []string{"update", "lx"}, 0, "VALID 'update' payload for lx brand VMs.\n"},
		{`{"brand":"nope"}`, []string{"create"}, 1, "{\n  \"bad_brand\": \"nope\"\n}\n"},
		{`{"alias":"x"}`, []string{"create"}, 1, "{\n  \"bad_brand\": \"undefined\"\n}\n"},
		{`{}`, []string{"update", "nope"}, 1, "{\n  \"bad_brand\": \"nope\"\n}\n"},
		{`{"brand":"joyent","max_lwps":"lots","bogus":1,"image_uuid":"` + testImage + `"}`, []string{"create"}, 1,
			"{\n  \"bad_values\": [\n    \"max_lwps\"\n  ],\n  \"bad_properties\": [\n    \"bogus\"\n  ],\n  \"missing_properties\": []\n}\n"},
		{`{"brand":"lx","image_uuid":"` + testImage + `"}`, []string{"create"}, 1,
			"{\n  \"bad_values\": [],\n  \"bad_properties\": [],\n  \"missing_properties\": [\n    \"kernel_version\"\n  ]\n}\n"},
		// The image must be installed and the pool must exist.
		{`{"brand":"joyent","image_uuid":"11111111-2222-4333-8444-555555555555","zpool":"data"}`, []string{"create"}, 1,
			"{\n  \"bad_values\": [\n    \"image_uuid\",\n    \"zpool\"\n  ],\n  \"bad_properties\": [],\n  \"missing_properties\": []\n}\n"},
		{`{"brand":"joyent"}`, []string{"create"}, 1,
			"{\n  \"bad_values\": [],\n  \"bad_properties\": [],\n  \"missing_properties\": [\n    \"image_uuid\"\n  ]\n}\n"},
		{`{"tags":{"a":"b"}}`, []string{"update", "joyent"}, 1,
			"{\n  \"bad_values\": [],\n  \"bad_properties\": [\n    \"tags\"\n  ],\n  \"missing_properties\": []\n}\n"},
		{`{nope`, []string{"create"}, 1, "Invalid JSON payload: "},
		{`{"brand":"bhyve"}`, []string{"create"}, 1, `brand "bhyve" is not supported on Linux; use kvm`},
	}
	for _, tt := range tests {
		code, out, errs := runCLI(tt.stdin, append([]string{"validate"}, tt.args...)...)
		if code != tt.code || out != "" || !strings.HasPrefix(errs, tt.want) {
			t.Errorf("validate %v %s: code %d stdout %q stderr %q, want %d %q", tt.args, tt.stdin, code, out, errs, tt.code, tt.want)
		}
	}
	f := filepath.Join(t.TempDir(), "payload.json")
	os.WriteFile(f, []byte(`{"brand":"sparse"}`), 0o600)
	if code, _, errs := runCLI("", "validate", "create", "-f", f); code != 0 || errs != "VALID 'create' payload for sparse brand VMs.\n" {
		t.Errorf("validate -f: %d %q", code, errs)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]int{"KILL": 9, "SIGKILL": 9, "TERM": 15, "9": 9, "HUP": 1, "USR1": 10, "SIGUSR2": 12} {
		s, err := parseSignal(in)
		if err != nil || int(s) != want {
			t.Errorf("%s → %d %v", in, s, err)
		}
	}
	for _, bad := range []string{"", "NOPE", "0", "99", "term", "SIG"} {
		if _, err := parseSignal(bad); err == nil || err.Error() != `Unknown signal "`+bad+`"` {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
