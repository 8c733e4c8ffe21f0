package vmadm

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"hull/internal/node"
)

func runCLI(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	env := Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Open: func() (*node.Node, error) { return nil, errors.New("no node in this test") },
	}
	code = Main(args, env)
	return code, out.String(), errb.String()
}

func TestUsageAndExitCodes(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStderr string
		inStdout string
	}{
		{nil, 2, "Usage: vmadm", ""},
		{[]string{"help"}, 0, "", "Usage: vmadm"},
		{[]string{"-h"}, 0, "", "Usage: vmadm"},
		{[]string{"frobnicate"}, 2, `Invalid command: "frobnicate"`, ""},
		{[]string{"get"}, 2, "Usage", ""},
		{[]string{"get", "not-a-uuid"}, 2, "Invalid UUID", ""},
		{[]string{"start", "1234"}, 2, "Invalid UUID", ""},
		{[]string{"stop", "-t"}, 2, "-t requires", ""},
		{[]string{"kill", "-s", "NOPE", "0a1b2c3d-0000-4000-8000-000000000001"}, 1, "Invalid signal", ""},
		{[]string{"lookup", "-o", "uuid"}, 2, "-o can only be used with -j", ""},
		{[]string{"list", "-x"}, 2, "Unknown option", ""},
		{[]string{"validate"}, 2, "requires an action", ""},
		{[]string{"validate", "frob"}, 2, "Invalid action", ""},
		{[]string{"create-snapshot", "x", "y"}, 2, "Invalid UUID", ""},
		{[]string{"create-snapshot", "0a1b2c3d-0000-4000-8000-000000000001"}, 2, `Wrong number of parameters to "create-snapshot"`, ""},
		{[]string{"rollback-snapshot", "0a1b2c3d-0000-4000-8000-000000000001", "a", "b"}, 2, `Wrong number of parameters to "rollback-snapshot"`, ""},
		{[]string{"create-snapshot", "0a1b2c3d-0000-4000-8000-000000000001", "bad name"}, 1, "Invalid snapshot name", ""},
		{[]string{"delete-snapshot", "0a1b2c3d-0000-4000-8000-000000000001", "x/y"}, 1, "Invalid snapshot name", ""},
		{[]string{"rollback-snapshot", "0a1b2c3d-0000-4000-8000-000000000001", strings.Repeat("a", 65)}, 1, "Invalid snapshot name", ""},
		{[]string{"create-snapshot", "0a1b2c3d-0000-4000-8000-000000000001", strings.Repeat("a", 64)}, 1, "no node in this test", ""},
		{[]string{"create-snapshot", "0a1b2c3d-0000-4000-8000-000000000001", "A-z_0.9:%"}, 1, "no node in this test", ""},
		{[]string{"send"}, 2, "Expected exactly one uuid", ""},
		{[]string{"send", "nope"}, 2, "Invalid UUID", ""},
		{[]string{"receive", "extra"}, 2, "Unexpected arguments", ""},
		{[]string{"recv"}, 1, "no node in this test", ""},
		{[]string{"get", "0a1b2c3d-0000-4000-8000-000000000001"}, 1, "no node in this test", ""},
	}
	for _, tt := range tests {
		code, out, errs := runCLI("", tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.inStderr) || !strings.Contains(out, tt.inStdout) {
			t.Errorf("vmadm %v: code %d stdout %q stderr %q", tt.args, code, out, errs)
		}
	}
}

func TestValidate(t *testing.T) {
	code, out, _ := runCLI(`{"brand":"joyent","image_uuid":"dc0688f0-0f6b-4b10-9a1e-2d9fa4ad9d22"}`, "validate", "create")
	if code != 0 || strings.TrimSpace(out) != "VALID 'create' payload for joyent brand VMs." {
		t.Fatalf("valid create: %d %q", code, out)
	}
	code, out, _ = runCLI(`{"brand":"sparse","alias":"x"}`, "validate", "create")
	if code != 0 || strings.TrimSpace(out) != "VALID 'create' payload for sparse brand VMs." {
		t.Fatalf("valid sparse: %d %q", code, out)
	}
	code, out, _ = runCLI(`{"brand":"nope"}`, "validate", "create")
	if code != 1 || !strings.Contains(out, `"bad_brand"`) {
		t.Fatalf("bad brand: %d %q", code, out)
	}
	code, out, _ = runCLI(`{"brand":"joyent","max_lwps":"lots","image_uuid":"dc0688f0-0f6b-4b10-9a1e-2d9fa4ad9d22"}`, "validate", "create")
	if code != 1 || !strings.Contains(out, `"bad_values"`) || !strings.Contains(out, "max_lwps") {
		t.Fatalf("bad value: %d %q", code, out)
	}
	code, out, _ = runCLI(`{"max_lwps": 10}`, "validate", "update", "joyent")
	if code != 0 || strings.TrimSpace(out) != "VALID 'update' payload for joyent brand VMs." {
		t.Fatalf("valid update: %d %q", code, out)
	}
	code, _, errs := runCLI(`{nope`, "validate", "create")
	if code != 1 || !strings.Contains(errs+out, "Invalid JSON") {
		t.Fatalf("bad json: %d %q", code, errs)
	}
}

func TestPayloadFromTTYRefused(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main([]string{"create"}, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, StdinIsTTY: true,
		Open: func() (*node.Node, error) { return nil, errors.New("unused") }})
	if code != 1 || !strings.Contains(errb.String(), "Will not create from stdin when stdin is a tty.") {
		t.Fatalf("%d %q", code, errb.String())
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]int{"KILL": 9, "SIGKILL": 9, "term": 15, "9": 9, "HUP": 1, "USR1": 10} {
		s, err := parseSignal(in)
		if err != nil || int(s) != want {
			t.Errorf("%s → %d %v", in, s, err)
		}
	}
	for _, bad := range []string{"", "NOPE", "0", "99"} {
		if _, err := parseSignal(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
