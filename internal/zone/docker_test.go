package zone

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"hull/internal/dockerlog"
	"hull/internal/vm"
)

func TestDockerInit(t *testing.T) {
	base := func(im map[string]string) *vm.VM {
		v := &vm.VM{Alias: "web", CreateTimestamp: "2026-12-07T10:00:00.123Z", InternalMetadata: map[string]string{
			"docker:id": "ab12", "docker:entrypoint": `["/app"]`, "docker:cmd": `["a","b"]`, "docker:env": `["K=V"]`}}
		for k, val := range im {
			v.InternalMetadata[k] = val
		}
		return v
	}
	for _, c := range []struct {
		name   string
		im     map[string]string
		flags  []string // before "--"
		logger *dockerlog.Spec
	}{
		{"plain", nil, nil, nil},
		{"user, tty, stdin", map[string]string{"docker:user": "nobody", "docker:tty": "true", "docker:open_stdin": "1"}, []string{"-u", "nobody", "-t", "-i"}, nil},
		{"json-file", map[string]string{"docker:logdriver": "json-file"}, nil, nil},
		{"wait for attach", map[string]string{"docker:wait_for_attach": "1796672060994"}, []string{"-w"}, nil},
		{"none", map[string]string{"docker:logdriver": "none"}, nil, nil},
		{"syslog", map[string]string{"docker:logdriver": "syslog", "docker:logconfig": `{"syslog-address":"udp://h"}`}, nil,
			&dockerlog.Spec{Driver: "syslog", Config: `{"syslog-address":"udp://h"}`, Info: dockerlog.Info{
				FullID: "ab12", Name: "web", Command: []string{"/app", "a", "b"}, Env: []string{"K=V"},
				Created: time.Date(2026, 12, 7, 10, 0, 0, 123e6, time.UTC)}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			argv := DockerInit(base(c.im))
			i := slices.Index(argv, "--")
			if i < 0 || !slices.Equal(argv[i+1:], []string{"/app", "a", "b"}) {
				t.Fatalf("argv %q", argv)
			}
			flags := argv[2:i]
			if c.logger != nil {
				if len(flags) < 2 || flags[len(flags)-2] != "-l" {
					t.Fatalf("no logger in %q", argv)
				}
				var got dockerlog.Spec
				if err := json.Unmarshal([]byte(flags[len(flags)-1]), &got); err != nil {
					t.Fatal(err)
				}
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(c.logger)
				if string(gb) != string(wb) {
					t.Errorf("logger %s, want %s", gb, wb)
				}
				flags = flags[:len(flags)-2]
			}
			if !slices.Equal(flags, c.flags) {
				t.Errorf("flags %q, want %q", flags, c.flags)
			}
		})
	}
}
