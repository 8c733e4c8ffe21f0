package zlogin

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"hull/internal/node"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args []string
		want options // zone, command and flags checked
		err  string  // a usage error's message
	}{
		{[]string{"z"}, options{zone: "z", escape: '~'}, ""},
		{[]string{"z", "ls", "-l", "/"}, options{zone: "z", command: []string{"ls", "-l", "/"}, escape: '~'}, ""},
		{[]string{"-C", "z"}, options{zone: "z", console: true, escape: '~'}, ""},
		{[]string{"-CQE", "z"}, options{zone: "z", console: true, quiet: true, noEscape: true, escape: '~'}, ""},
		{[]string{"-e", "#", "-C", "z"}, options{zone: "z", console: true, escape: '#'}, ""},
		{[]string{"-e^", "-C", "z"}, options{zone: "z", console: true, escape: '^'}, ""},
		{[]string{"-e", `\035`, "-C", "z"}, options{zone: "z", console: true, escape: 035}, ""},
		{[]string{"-e", `\\`, "-C", "z"}, options{zone: "z", console: true, escape: '\\'}, ""},
		{[]string{"-l", "admin", "z", "id"}, options{zone: "z", user: "admin", command: []string{"id"}, escape: '~'}, ""},
		{[]string{"-ladmin", "z"}, options{zone: "z", user: "admin", escape: '~'}, ""},
		{[]string{"-n", "z", "true"}, options{zone: "z", nullIn: true, command: []string{"true"}, escape: '~'}, ""},
		{[]string{"-S", "z"}, options{zone: "z", failsafe: true, escape: '~'}, ""},
		{[]string{"-t", "z", "tty"}, options{zone: "z", forceTTY: true, command: []string{"tty"}, escape: '~'}, ""},
		{[]string{"--", "-z"}, options{zone: "-z", escape: '~'}, ""},

		{nil, options{}, ""},
		{[]string{"-Q"}, options{}, ""},
		{[]string{"-x", "z"}, options{}, "zlogin: illegal option -- x\n"},
		{[]string{"-l"}, options{}, "zlogin: option requires an argument -- l\n"},
		{[]string{"-e"}, options{}, "zlogin: option requires an argument -- e\n"},
		{[]string{"-e", `\9`, "z"}, options{}, `zlogin: Unrecognized escape character option \9` + "\n"},
		{[]string{"-e", `\777`, "z"}, options{}, `zlogin: Octal escape character '\777' too large` + "\n"},
		{[]string{"-C", "-l", "u", "z"}, options{}, "zlogin: -l may not be specified for console login\n"},
		{[]string{"-Cn", "z"}, options{}, "zlogin: -n may not be specified for console login\n"},
		{[]string{"-CS", "z"}, options{}, "zlogin: -S may not be specified for console login\n"},
		{[]string{"-S", "-l", "u", "z"}, options{}, "zlogin: -l may not be specified for failsafe login\n"},
		{[]string{"-n", "z"}, options{}, "zlogin: -n may not be specified for interactive login\n"},
		{[]string{"-C", "z", "ls"}, options{}, "zlogin: Commands may not be specified for console login.\n"},
	}
	for _, tt := range tests {
		got, err := parseArgs(tt.args)
		if tt.want.zone == "" {
			var ue usageError
			if !errors.As(err, &ue) || string(ue) != tt.err {
				t.Errorf("%q: error %v, want usage error %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: %+v %v, want %+v", tt.args, got, err, tt.want)
		}
	}
}

// TestUsageExits: usage errors exit 2 with the message and the usage on
// stderr, before any node is opened; help exits 0.
func TestUsageExits(t *testing.T) {
	for _, args := range [][]string{nil, {"-x", "z"}, {"-C", "z", "ls"}, {"-n", "z"}, {"-e"}} {
		var out, errb bytes.Buffer
		code := Main(args, Env{Stdout: &out, Stderr: &errb, Open: func() (*node.Node, error) {
			t.Fatalf("%q opened the node", args)
			return nil, nil
		}})
		if code != 2 || out.Len() != 0 || !strings.HasSuffix(errb.String(), usage) {
			t.Errorf("zlogin %q: %d %q %q", args, code, out.String(), errb.String())
		}
	}
	var out bytes.Buffer
	if code := Main([]string{"-h"}, Env{Stdout: &out}); code != 0 || out.String() != usage {
		t.Errorf("zlogin -h: %d %q", code, out.String())
	}
	var errb bytes.Buffer
	code := Main([]string{"z"}, Env{Stderr: &errb, Open: func() (*node.Node, error) { return nil, errors.New("no node") }})
	if code != 1 || errb.String() != "zlogin: no node\n" {
		t.Errorf("no node: %d %q", code, errb.String())
	}
}

func TestArgvAndEnv(t *testing.T) {
	tests := []struct {
		o    options
		tty  bool
		argv []string
		ptty bool
		home string
	}{
		{options{}, true, []string{"/bin/sh", "-l"}, true, "/root"},
		{options{}, false, []string{"/bin/sh", "-l"}, false, "/root"},
		{options{failsafe: true}, true, []string{"/bin/sh"}, true, "/"},
		{options{command: []string{"echo", "$HOME"}}, true, []string{"/bin/sh", "-c", "echo $HOME"}, false, "/root"},
		{options{command: []string{"tty"}, forceTTY: true}, true, []string{"/bin/sh", "-c", "tty"}, true, "/root"},
		{options{command: []string{"tty"}, forceTTY: true}, false, []string{"/bin/sh", "-c", "tty"}, false, "/root"},
		{options{user: "root", command: []string{"id"}}, false, []string{"/bin/sh", "-c", "id"}, false, "/root"},
		{options{user: "admin", command: []string{"id", "-u"}}, false, []string{"/bin/su", "-", "admin", "-c", "id -u"}, false, "/root"},
		{options{user: "admin"}, true, []string{"/bin/su", "-", "admin"}, true, "/root"},
	}
	for _, tt := range tests {
		if got := argv(tt.o); !reflect.DeepEqual(got, tt.argv) {
			t.Errorf("%+v: argv %q, want %q", tt.o, got, tt.argv)
		}
		e := execOptions(tt.o, tt.tty)
		if e.TTY != tt.ptty || e.Cwd != tt.home || e.Env[0] != "HOME="+tt.home {
			t.Errorf("%+v tty=%v: %+v", tt.o, tt.tty, e)
		}
	}
}
