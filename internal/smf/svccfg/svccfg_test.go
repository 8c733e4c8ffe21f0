package svccfg

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"hull/internal/smf/control"
)

const good = `<?xml version="1.0"?>
<service_bundle type="manifest" name="x">
  <service name="site/x" type="service" version="1">
    <create_default_instance enabled="true"/>
    <exec_method type="method" name="start" exec="/bin/true" timeout_seconds="1"/>
    <exec_method type="method" name="stop" exec=":kill" timeout_seconds="1"/>
  </service>
</service_bundle>
`

// bad has an unknown element on line 4 and a missing stop method.
const bad = `<?xml version="1.0"?>
<service_bundle type="manifest" name="x">
  <service name="site/x" type="service" version="1">
    <frobnicate/>
    <create_default_instance enabled="true"/>
    <exec_method type="method" name="start" exec="/bin/true" timeout_seconds="1"/>
  </service>
</service_bundle>
`

func TestSvccfg(t *testing.T) {
	dir := t.TempDir()
	g, b := filepath.Join(dir, "good.xml"), filepath.Join(dir, "bad.xml")
	os.WriteFile(g, []byte(good), 0o644)
	os.WriteFile(b, []byte(bad), 0o644)
	tests := []struct {
		args         []string
		stdout, errs string
		code         int
		sent         *control.Request
	}{
		{[]string{"validate", g}, "", "", 0, nil},
		{[]string{"validate", b}, "", "svccfg: " + b + ":4: element <frobnicate> is not allowed in <service>\n", 1, nil},
		{[]string{"validate", filepath.Join(dir, "none.xml")}, "", "svccfg: open " + filepath.Join(dir, "none.xml") + ": no such file or directory\n", 1, nil},
		{[]string{"import", g}, "", "", 0, &control.Request{Op: control.OpImport, Name: g, Manifest: []byte(good)}},
		{[]string{"import", b}, "", "svccfg: " + b + ":4: element <frobnicate> is not allowed in <service>\n", 1, nil},
		{[]string{"export", "site/x"}, "<manifest/>\n", "", 0, &control.Request{Op: control.OpExport, FMRIs: []string{"site/x"}}},
		{[]string{"delete", "site/x"}, "", "", 0, &control.Request{Op: control.OpDelete, FMRIs: []string{"site/x"}}},
		{[]string{"delete", "-f", "site/x"}, "", "", 0, &control.Request{Op: control.OpDelete, FMRIs: []string{"site/x"}, Force: true}},
		{[]string{"delete", "nosuch"}, "", "svccfg: Pattern 'nosuch' doesn't match any instances\n", 1, &control.Request{Op: control.OpDelete, FMRIs: []string{"nosuch"}}},
		{[]string{"frobnicate"}, "", "svccfg: unknown subcommand \"frobnicate\"\n" + usage, 2, nil},
		{[]string{"import"}, "", usage, 2, nil},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		var sent *control.Request
		code := Main(tt.args, Env{Stdout: &out, Stderr: &errb, Call: func(r *control.Request) (*control.Response, error) {
			sent = r
			if len(r.FMRIs) > 0 && r.FMRIs[0] == "nosuch" {
				return &control.Response{}, errors.New("Pattern 'nosuch' doesn't match any instances")
			}
			return &control.Response{Manifest: []byte("<manifest/>\n")}, nil
		}})
		if out.String() != tt.stdout || errb.String() != tt.errs || code != tt.code {
			t.Errorf("svccfg %v = %d\n%q\n%q\nwant %d\n%q\n%q", tt.args, code, out.String(), errb.String(), tt.code, tt.stdout, tt.errs)
		}
		if (sent == nil) != (tt.sent == nil) || sent != nil && (sent.Op != tt.sent.Op || sent.Force != tt.sent.Force ||
			sent.Name != tt.sent.Name || string(sent.Manifest) != string(tt.sent.Manifest) || len(sent.FMRIs) != len(tt.sent.FMRIs)) {
			t.Errorf("svccfg %v sent %+v, want %+v", tt.args, sent, tt.sent)
		}
	}
}
