package mdata

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hull/internal/metadata/protocol"
	"hull/internal/smf/manifest"
)

// inTemp points the services' files into a test directory.
func inTemp(t *testing.T) string {
	d := t.TempDir()
	old := []string{OperatorScript, UserScript, UserData}
	OperatorScript, UserScript, UserData = filepath.Join(d, "op"), filepath.Join(d, "user"), filepath.Join(d, "db/data")
	t.Cleanup(func() { OperatorScript, UserScript, UserData = old[0], old[1], old[2] })
	return d
}

// Fetch writes what the VM has and removes what it no longer has.
func TestFetch(t *testing.T) {
	inTemp(t)
	os.WriteFile(UserScript, []byte("#!/bin/sh\necho stale\n"), 0o755)
	c, err := protocol.Dial(socket(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var log bytes.Buffer
	if err := Fetch(c, &log); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(UserData); err != nil || string(b) != "hello" {
		t.Errorf("user-data: %q %v", b, err)
	}
	if st, err := os.Stat(UserData); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("user-data mode: %v %v", st, err)
	}
	for _, p := range []string{UserScript, OperatorScript} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it gone", p, err)
		}
	}
	if got := ExecTimeout(c); got != DefaultExecTimeout*time.Second {
		t.Errorf("default exec timeout %v", got)
	}
}

func TestExecute(t *testing.T) {
	d := inTemp(t)
	script := func(p, body string) { os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755) }
	tests := []struct {
		name, op, user string
		timeout        time.Duration
		code           int
		log            string
	}{
		{"nothing", "", "", 0, 0, ""},
		{"both, in order", "echo op >> " + d + "/order; exit 4", "echo \"user in $(pwd)\" >> " + d + "/order", 0, 0,
			"WARNING: operator-script failed: exit status 4"},
		{"failing user-script", "", "exit 2", 0, exitFatal, "user-script failed: exit status 2"},
		{"timeout", "", "sleep 30", 200 * time.Millisecond, exitFatal, "did not finish within mdata_exec_timeout (200ms)"},
	}
	for _, tt := range tests {
		os.Remove(OperatorScript)
		os.Remove(UserScript)
		if tt.op != "" {
			script(OperatorScript, tt.op+"\n")
		}
		if tt.user != "" {
			script(UserScript, tt.user+"\n")
		}
		var log bytes.Buffer
		start := time.Now()
		if code := Execute(tt.timeout, &log); code != tt.code {
			t.Errorf("%s: exit %d, want %d (%s)", tt.name, code, tt.code, log.String())
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("%s: took %v", tt.name, time.Since(start))
		}
		if !strings.Contains(log.String(), tt.log) {
			t.Errorf("%s: log %q lacks %q", tt.name, log.String(), tt.log)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(d, "order")); string(b) != "op\nuser in /\n" {
		t.Errorf("order: %q", b)
	}
}

func TestServicesManifest(t *testing.T) {
	m := ServicesManifest("/.hull/hull")
	b, err := manifest.Parse("mdata", []byte(m))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Services) != 1 || len(b.Services[0].Configs()) != 2 {
		t.Errorf("services %+v", b.Services)
	}
	for _, want := range []string{`exec="/.hull/hull mdata-fetch"`, `exec="/.hull/hull mdata-execute"`,
		`<service_fmri value="svc:/smartdc/mdata:fetch"/>`} {
		if !strings.Contains(m, want) {
			t.Errorf("manifest lacks %s", want)
		}
	}
}
