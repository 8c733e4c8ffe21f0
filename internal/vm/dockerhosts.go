package vm

import (
	"encoding/json"
	"fmt"
	"strings"
)

// DockerExtraHostsKey holds a docker VM's `--add-host` entries: a JSON
// array of "NAME:IP" strings, added to its /etc/hosts.
const DockerExtraHostsKey = "docker:extraHosts"

// HostEntry is one line of a hosts file.
type HostEntry struct{ IP, Names string }

// DockerExtraHosts parses the VM's docker:extraHosts (none when unset).
// As SmartOS does, a value that is not an array of "NAME:IP" strings is
// an error; the name is what comes before the first colon, so an IPv6
// address keeps its own colons.
func DockerExtraHosts(im map[string]string) ([]HostEntry, error) {
	s := im[DockerExtraHostsKey]
	if s == "" {
		return nil, nil
	}
	var raw []any
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		var v any
		if json.Unmarshal([]byte(s), &v) == nil {
			return nil, fmt.Errorf("invalid %q internal_metadata: %s: is not an array", DockerExtraHostsKey, jsonString(s))
		}
		return nil, fmt.Errorf("invalid %q internal_metadata: %s: %v", DockerExtraHostsKey, jsonString(s), err)
	}
	out := make([]HostEntry, 0, len(raw))
	for _, e := range raw {
		str, ok := e.(string)
		name, ip, found := strings.Cut(str, ":")
		if !ok || !found {
			b, _ := json.Marshal(e)
			return nil, fmt.Errorf("invalid %q internal_metadata: %s entry is not of the form \"NAME:IP\"", DockerExtraHostsKey, b)
		}
		out = append(out, HostEntry{IP: ip, Names: name})
	}
	return out, nil
}

// checkDockerHosts refuses a docker VM whose docker:extraHosts cannot be
// written to its /etc/hosts, before anything is made or changed.
func checkDockerHosts(v *VM) error {
	if v.Docker == nil || !*v.Docker {
		return nil
	}
	_, err := DockerExtraHosts(v.InternalMetadata)
	return err
}

// DockerZlogMode is SmartOS's zlog_mode of a docker VM with internal
// metadata im: "g" when the host keeps its stdout and stderr (every
// docker:logdriver but "none"; json-file is the default), "t" with
// docker:tty, "n" for a driver that logs from inside the zone.
func DockerZlogMode(im map[string]string) string {
	mode := []byte("---")
	switch d := im["docker:logdriver"]; d {
	case "none":
	case "", "json-file":
		mode[0] = 'g'
	default:
		mode[0], mode[2] = 'g', 'n'
	}
	if DockerFlag(im, "docker:tty") {
		mode[1] = 't'
	}
	return string(mode)
}

// DockerFlag reads a boolean docker key of internal metadata im
// (docker:tty, docker:open_stdin): set, and not "false" or "0".
func DockerFlag(im map[string]string, key string) bool {
	t := im[key]
	return t != "" && t != "false" && t != "0"
}
