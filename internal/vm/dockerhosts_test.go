package vm

import (
	"reflect"
	"strings"
	"testing"
)

func TestDockerExtraHosts(t *testing.T) {
	tests := []struct {
		val  string
		want []HostEntry
		err  string
	}{
		{"", nil, ""},
		{`[]`, []HostEntry{}, ""},
		{`["db:10.0.0.2","v6:fe80::1"]`, []HostEntry{{"10.0.0.2", "db"}, {"fe80::1", "v6"}}, ""},
		{`{"db":"10.0.0.2"}`, nil, `invalid "docker:extraHosts" internal_metadata: "{\"db\":\"10.0.0.2\"}": is not an array`},
		{`["nocolon"]`, nil, `invalid "docker:extraHosts" internal_metadata: "nocolon" entry is not of the form "NAME:IP"`},
		{`[3]`, nil, `3 entry is not of the form "NAME:IP"`},
		{`[`, nil, `invalid "docker:extraHosts" internal_metadata: "[": unexpected end of JSON input`},
	}
	for _, tt := range tests {
		got, err := DockerExtraHosts(map[string]string{DockerExtraHostsKey: tt.val})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.val, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v %v, want %v", tt.val, got, err, tt.want)
		}
	}
}

// Bad extraHosts refuse a docker VM's create and update, and are no
// business of other VMs.
func TestDockerExtraHostsChecked(t *testing.T) {
	now := testNow
	bad := `"internal_metadata":{"docker:extraHosts":"[\"x\"]"}`
	if _, err := NormalizeCreate([]byte(`{"brand":"joyent-minimal","image_uuid":"`+ZeroUUID+`","docker":true,`+bad+`}`), now); err == nil {
		t.Error("docker create with bad extraHosts accepted")
	}
	v, err := NormalizeCreate([]byte(`{"brand":"joyent-minimal","image_uuid":"`+ZeroUUID+`",`+bad+`}`), now)
	if err != nil {
		t.Fatalf("non-docker create: %v", err)
	}
	d, err := NormalizeCreate([]byte(`{"brand":"joyent-minimal","image_uuid":"`+ZeroUUID+`","docker":true}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ApplyUpdate(d, []byte(`{"set_internal_metadata":{"docker:extraHosts":"[\"x\"]"}}`), now); err == nil {
		t.Error("docker update with bad extraHosts accepted")
	}
	if _, _, err := ApplyUpdate(d, []byte(`{"set_internal_metadata":{"docker:extraHosts":"[\"x:1.2.3.4\"]"}}`), now); err != nil {
		t.Errorf("good update: %v", err)
	}
	if _, _, err := ApplyUpdate(v, []byte(`{"docker":true}`), now); err == nil {
		t.Error("docker:true on a VM with bad extraHosts accepted")
	}
}

func TestDockerZlogMode(t *testing.T) {
	for _, tt := range []struct {
		im   map[string]string
		want string
	}{
		{nil, "g--"},
		{map[string]string{"docker:logdriver": "json-file"}, "g--"},
		{map[string]string{"docker:logdriver": "none"}, "---"},
		{map[string]string{"docker:logdriver": "syslog"}, "g-n"},
		{map[string]string{"docker:tty": "true"}, "gt-"},
		{map[string]string{"docker:tty": "true", "docker:logdriver": "none"}, "-t-"},
		{map[string]string{"docker:tty": "true", "docker:logdriver": "gelf"}, "gtn"},
		{map[string]string{"docker:tty": "false"}, "g--"},
	} {
		if got := DockerZlogMode(tt.im); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.im, got, tt.want)
		}
	}
	// Set at create, and kept in step by updates.
	v, err := NormalizeCreate([]byte(`{"brand":"joyent-minimal","image_uuid":"`+ZeroUUID+`","docker":true}`), testNow)
	if err != nil || v.ZlogMode != "g--" {
		t.Fatalf("create: %q %v", v.ZlogMode, err)
	}
	next, _, err := ApplyUpdate(v, []byte(`{"set_internal_metadata":{"docker:logdriver":"none"}}`), testNow)
	if err != nil || next.ZlogMode != "---" {
		t.Errorf("update: %q %v", next.ZlogMode, err)
	}
	// It is read-only: a payload's is not taken.
	if again, _, err := ApplyUpdate(next, []byte(`{"zlog_mode":"gt-"}`), testNow); err != nil || again.ZlogMode != "---" {
		t.Errorf("zlog_mode from a payload: %v %v", again, err)
	}
}
