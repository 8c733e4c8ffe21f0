package zone

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ErrNoContainer means the runtime has no container by that id.
var ErrNoContainer = errors.New("no such container")

// Runtime drives an OCI runtime binary (runc or crun). Both take the same
// command line for everything hull uses.
type Runtime struct {
	Binary string // path of runc or crun
	Root   string // the runtime's state directory (--root)
}

// FindRuntime picks the OCI runtime for this host: crun where the host is
// pure cgroup v2 and crun is installed (it refuses hybrid hosts), runc
// otherwise. HULL_RUNTIME overrides.
func FindRuntime(unifiedCgroups bool) (string, error) {
	if p := os.Getenv("HULL_RUNTIME"); p != "" {
		return exec.LookPath(p)
	}
	if unifiedCgroups {
		if p, err := exec.LookPath("crun"); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("runc")
	if err != nil {
		return "", fmt.Errorf("no OCI runtime found: install runc (apt-get install runc)")
	}
	return p, nil
}

func (r *Runtime) cmd(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, r.Binary, append([]string{"--root", r.Root}, args...)...)
}

// run runs the runtime and returns a useful error containing its stderr.
func (r *Runtime) run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	c := r.cmd(ctx, args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	if err := c.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if strings.Contains(msg, "does not exist") || strings.Contains(msg, "not found") {
			return nil, fmt.Errorf("%s %s: %w", r.Binary, args[0], ErrNoContainer)
		}
		return nil, fmt.Errorf("%s %s: %v: %s", r.Binary, args[0], err, msg)
	}
	return out.Bytes(), nil
}

// State reports the runtime's view of a container.
func (r *Runtime) State(ctx context.Context, id string) (*specs.State, error) {
	out, err := r.run(ctx, nil, "state", id)
	if err != nil {
		return nil, err
	}
	var st specs.State
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("parse state of %s: %w", id, err)
	}
	return &st, nil
}

// Kill sends a signal to the container's init, or with all to every
// process in it.
func (r *Runtime) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	args = append(args, id, strconv.Itoa(int(sig)))
	_, err := r.run(ctx, nil, args...)
	return err
}

// Delete removes the container (and its cgroup). It is idempotent: a
// missing container is not an error.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	args := []string{"delete"}
	if force {
		args = append(args, "--force")
	}
	_, err := r.run(ctx, nil, append(args, id)...)
	if errors.Is(err, ErrNoContainer) {
		return nil
	}
	return err
}

// Update applies new resource limits to a running container.
func (r *Runtime) Update(ctx context.Context, id string, res *specs.LinuxResources) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = r.run(ctx, b, "update", "--resources", "-", id)
	return err
}

// ExecOptions shape a process run inside a zone.
type ExecOptions struct {
	TTY bool     // allocate a pty and proxy the caller's terminal
	Env []string // extra environment
	Cwd string
}

// Exec returns a command that runs argv inside the container, in all its
// namespaces and its cgroup.
func (r *Runtime) Exec(ctx context.Context, id string, o ExecOptions, argv []string) *exec.Cmd {
	args := []string{"exec"}
	if o.TTY {
		args = append(args, "--tty")
	}
	for _, e := range o.Env {
		args = append(args, "--env", e)
	}
	if o.Cwd != "" {
		args = append(args, "--cwd", o.Cwd)
	}
	args = append(args, id)
	return r.cmd(ctx, append(args, argv...)...)
}

// runtimeLogError extracts the last error the runtime logged (its log is
// JSON lines with a "msg" field, or plain text).
func runtimeLogError(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var e struct{ Level, Msg string }
		if json.Unmarshal([]byte(lines[i]), &e) == nil {
			if e.Level == "error" || e.Level == "fatal" {
				return e.Msg
			}
			continue
		}
		if lines[i] != "" {
			return lines[i]
		}
	}
	return ""
}

// MemlockHard is the hard RLIMIT_MEMLOCK zones start under (after
// raiseHardLimits, where the host lets us).
func MemlockHard() uint64 {
	raiseHardLimits()
	var l unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &l) != nil || l.Max == unix.RLIM_INFINITY {
		return 0
	}
	return l.Max
}

// raiseHardLimits lifts this process's hard MEMLOCK limit (inherited by
// the runtime and so by the zone's init before it applies its own).
func raiseHardLimits() {
	var l unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &l) == nil && l.Max != unix.RLIM_INFINITY {
		l.Max = unix.RLIM_INFINITY
		_ = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &l)
	}
}
