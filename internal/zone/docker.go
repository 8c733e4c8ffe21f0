package zone

import (
	"encoding/json"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hull/internal/dockerlog"
	"hull/internal/vm"
)

// IsDocker reports whether the VM is a docker zone.
func IsDocker(v *vm.VM) bool { return vm.Bool(v.Docker, false) }

// dockerArray decodes a docker:cmd or docker:entrypoint value (a JSON
// array of strings); a value that is not one is taken as one word.
func dockerArray(v *vm.VM, key string) []string {
	s, ok := v.InternalMetadata[key]
	if !ok {
		return nil
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return []string{s}
	}
	return out
}

// DockerInit is the argv of a docker zone's PID 1: hull's dockerinit
// running docker:entrypoint followed by docker:cmd, as docker:user, on a
// terminal of its own with docker:tty (docker's -t), with a stdin that
// stays open with docker:open_stdin (-i).
func DockerInit(v *vm.VM) []string {
	argv := []string{HullBin, "dockerinit"}
	if u := v.InternalMetadata["docker:user"]; u != "" {
		argv = append(argv, "-u", u)
	}
	if vm.DockerFlag(v.InternalMetadata, "docker:tty") {
		argv = append(argv, "-t")
	}
	if vm.DockerFlag(v.InternalMetadata, "docker:open_stdin") {
		argv = append(argv, "-i")
	}
	// SmartOS's dockerinit holds the program back while this is set
	// (docker attach removes it): dockerinit watches it in the metadata.
	if _, ok := v.InternalMetadata["docker:wait_for_attach"]; ok {
		argv = append(argv, "-w")
	}
	if spec, ok := DockerLogger(v); ok {
		b, _ := json.Marshal(spec)
		argv = append(argv, "-l", string(b))
	}
	argv = append(argv, "--")
	argv = append(argv, dockerArray(v, "docker:entrypoint")...)
	return append(argv, dockerArray(v, "docker:cmd")...)
}

// DockerLogger is the logger a docker zone runs (in dockerinit) for its
// docker:logdriver, when that is not json-file or none: SmartOS's
// in-zone logger, given docker:logconfig and the container's
// description as SmartOS's dockerinit gives it to its logger.
func DockerLogger(v *vm.VM) (dockerlog.Spec, bool) {
	im := v.InternalMetadata
	// zlog_mode's third letter: a logger in the zone.
	if vm.DockerZlogMode(im)[2] != 'n' {
		return dockerlog.Spec{}, false
	}
	created, _ := time.Parse(time.RFC3339Nano, v.CreateTimestamp)
	return dockerlog.Spec{
		Driver: im["docker:logdriver"],
		Config: im["docker:logconfig"],
		Info: dockerlog.Info{
			FullID:    im["docker:id"],
			Name:      v.Alias,
			FullImage: im["docker:imageid"],
			Image:     im["docker:imagename"],
			Command:   append(dockerArray(v, "docker:entrypoint"), dockerArray(v, "docker:cmd")...),
			Created:   created,
			Env:       dockerArray(v, "docker:env"),
		},
	}, true
}

// applyDocker gives a docker zone's process docker's environment
// (docker:env on top of hull's, which it may override, plus HOSTNAME)
// and working directory (docker:workdir).
func applyDocker(v *vm.VM, s *specs.Spec) {
	if !IsDocker(v) {
		return
	}
	env := append([]string(nil), s.Process.Env...)
	env = setEnv(env, "HOSTNAME="+s.Hostname)
	for _, kv := range dockerArray(v, "docker:env") {
		env = setEnv(env, kv)
	}
	s.Process.Env = env
	if wd := v.InternalMetadata["docker:workdir"]; wd != "" && wd[0] == '/' {
		s.Process.Cwd = wd
	}
}

// setEnv sets K=V in env, replacing an earlier K.
func setEnv(env []string, kv string) []string {
	k := kv
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			k = kv[:i]
			break
		}
	}
	for i, e := range env {
		if len(e) > len(k) && e[:len(k)] == k && e[len(k)] == '=' {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}
