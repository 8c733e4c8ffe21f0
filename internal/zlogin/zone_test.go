package zlogin_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"hull/internal/node/nodetest"
	"hull/internal/testenv"
)

// zlogin runs the zlogin command against the test's node with stdin,
// and returns its output and exit status.
func zlogin(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	c := exec.Command(testenv.HullBinary(t), append([]string{"zlogin"}, args...)...)
	c.Stdin = strings.NewReader(stdin)
	out, err := c.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return string(out), c.ProcessState.ExitCode()
}

// TestCommands runs commands in a zone as zlogin does: through the
// zone's shell, as its root, with stdin and the exit status passed
// through; -n, -l and -S; SmartOS's messages for unknown and stopped
// zones.
func TestCommands(t *testing.T) {
	n := nodetest.New(t)
	uuid := nodetest.Create(t, n, `{"brand":"joyent-minimal","alias":"cmds","image_uuid":"`+nodetest.BusyboxUUID+`"}`)
	tests := []struct {
		stdin string
		args  []string
		out   string
		code  int
	}{
		{"", []string{"cmds", "echo", "$((6*7))"}, "42\n", 0},
		{"", []string{uuid, "id", "-u"}, "0\n", 0},
		{"", []string{"cmds", "exit 3"}, "", 3},
		{"", []string{"cmds", "false"}, "", 1},
		{"", []string{"cmds", "kill -9 $$"}, "", 137},
		{"from stdin\n", []string{"cmds", "cat"}, "from stdin\n", 0},
		{"not read\n", []string{"-n", "cmds", "cat"}, "", 0},
		{"", []string{"cmds", "echo $HOME $PWD"}, "/root /root\n", 0},
		{"", []string{"-S", "cmds", "echo $HOME"}, "/\n", 0},
		{"", []string{"cmds", "echo alice:x:1000:1000::/home/alice:/bin/sh >>/etc/passwd; echo alice:x:1000: >>/etc/group; mkdir -p /home/alice"}, "", 0},
		{"", []string{"-l", "alice", "cmds", "id -un; echo $HOME"}, "alice\n/home/alice\n", 0},
		{"", []string{"-l", "root", "cmds", "id -un"}, "root\n", 0},
		{"echo in-shell\n", []string{"cmds"}, "in-shell\n", 0},
		{"", []string{"nope", "true"}, "zlogin: zone 'nope' unknown\n", 1},
		{"", []string{"-C", "-l", "alice", "cmds"}, "zlogin: -l may not be specified for console login\n", 2},
	}
	for _, tt := range tests {
		out, code := zlogin(t, tt.stdin, tt.args...)
		if code != tt.code || (tt.code == 2 && !strings.HasPrefix(out, tt.out)) || (tt.code != 2 && out != tt.out) {
			t.Errorf("zlogin %q: %q exit %d, want %q exit %d", tt.args, out, code, tt.out, tt.code)
		}
	}
	if err := n.Stop(context.Background(), uuid, true, 0); err != nil {
		t.Fatal(err)
	}
	if out, code := zlogin(t, "", "cmds", "true"); code != 1 || out != "zlogin: login allowed only to running zones (cmds is 'installed').\n" {
		t.Errorf("stopped zone: %q %d", out, code)
	}
}

// TestConsoleQuietAndEscape attaches with -Q (no banners) and -e #.
func TestConsoleQuietAndEscape(t *testing.T) {
	n := nodetest.New(t)
	nodetest.Create(t, n, `{"brand":"lx","alias":"qcon","kernel_version":"4.3.0","image_uuid":"`+nodetest.BusyboxUUID+`"}`)
	tm, c := startOnPTY(t, "zlogin", "-Q", "-e", "#", "-C", "qcon")
	time.Sleep(500 * time.Millisecond)
	tm.send("\r")
	tm.send("echo q-$((3+4))\r")
	tm.expect("q-7")
	tm.send("\r~.\r")
	tm.send("echo still-$((1+1))\r")
	tm.expect("still-2")
	tm.send("\r#.")
	if code := waitExit(t, c); code != 0 {
		t.Fatalf("zlogin -C exit status %d after #.", code)
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if s := tm.out.String(); strings.Contains(s, "[Connected") || strings.Contains(s, "[Connection") {
		t.Fatalf("-Q printed a banner:\n%s", s)
	}
}

// TestDockerConsole: a docker zone's log is kept as entries of SmartOS's
// stdio.log; its console shows the program's text, not the entries.
func TestDockerConsole(t *testing.T) {
	n := nodetest.New(t)
	nodetest.Create(t, n, `{"brand":"joyent-minimal","alias":"dcon","docker":true,"image_uuid":"`+nodetest.BusyboxUUID+`",
		"internal_metadata":{"docker:cmd":"[\"/bin/sh\"]","docker:tty":"true","docker:open_stdin":"true"}}`)
	tm, c := startOnPTY(t, "zlogin", "-C", "dcon")
	time.Sleep(500 * time.Millisecond)
	tm.send("echo d-$((3+4))\r")
	tm.expect("d-7")
	detach(t, tm, c)
	// Again: the earlier output is shown from the log, as text.
	tm, c = startOnPTY(t, "zlogin", "-C", "dcon")
	tm.expect("d-7")
	detach(t, tm, c)
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if s := tm.out.String(); strings.Contains(s, `"stream"`) {
		t.Fatalf("the console showed the log's entries:\n%s", s)
	}
}
