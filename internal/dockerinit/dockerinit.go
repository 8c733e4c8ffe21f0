// Package dockerinit is PID 1 of a docker zone: it runs the image's
// entrypoint and command as its one child, passes stop requests on to it,
// reaps every orphan, and when the child ends notes "exit <status>" in
// the zone's exit marker and exits, which halts the zone (SmartOS's
// dockerinit: when the init process exits the zone halts).
package dockerinit

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ExitMarker is where the node reads the zone's exit status.
const ExitMarker = "/run/.hull-exit"

// Main runs `dockerinit [-u USER] -- ARGV...`.
func Main(args []string) int {
	user := ""
	for len(args) > 0 && args[0] != "--" {
		if args[0] == "-u" && len(args) > 1 {
			user, args = args[1], args[2:]
			continue
		}
		fmt.Fprintf(os.Stderr, "dockerinit: unknown argument %q\n", args[0])
		return finish(2)
	}
	if len(args) > 0 {
		args = args[1:]
	}
	status, err := run(args, user, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dockerinit: %v\n", err)
	}
	return finish(status)
}

// finish writes the exit marker; the zone halts when PID 1 exits.
func finish(status int) int {
	_ = os.MkdirAll("/run", 0o755)
	_ = os.WriteFile(ExitMarker, []byte("exit "+strconv.Itoa(status)+"\n"), 0o644)
	unix.Sync()
	return status
}

// stopSignals are the ways the node asks a zone's init to stop (SIGTERM,
// and what lx inits take for poweroff); the child gets SIGTERM for each.
var stopSignals = map[os.Signal]bool{
	syscall.SIGTERM: true, syscall.SIGUSR2: true, syscall.SIGPWR: true, syscall.Signal(38): true,
}

// run starts argv and waits for it, reaping any other child on the way.
// The status is docker's: the exit code, or 128+signal.
func run(argv []string, user string, errw io.Writer) (int, error) {
	if len(argv) == 0 {
		return 127, fmt.Errorf("no command: set docker:cmd or docker:entrypoint")
	}
	path := argv[0]
	if !strings.Contains(path, "/") {
		p, err := exec.LookPath(path)
		if err != nil {
			return 127, fmt.Errorf("%s: executable file not found in $PATH", path)
		}
		path = p
	}
	attr := &syscall.SysProcAttr{}
	if user != "" {
		cred, err := lookupUser(user)
		if err != nil {
			return 126, err
		}
		attr.Credential = cred
	}
	if wd, err := os.Getwd(); err == nil {
		_ = os.MkdirAll(wd, 0o755)
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	defer signal.Stop(sigs)
	proc, err := os.StartProcess(path, argv, &os.ProcAttr{
		Env: os.Environ(), Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}, Sys: attr,
	})
	if err != nil {
		if os.IsPermission(err) {
			return 126, err
		}
		return 127, err
	}
	pid := proc.Pid
	for sig := range sigs {
		switch {
		case sig == syscall.SIGCHLD:
			for {
				var ws syscall.WaitStatus
				p, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if err == syscall.EINTR {
					continue
				}
				if err != nil || p <= 0 {
					break
				}
				if p == pid {
					if ws.Signaled() {
						return 128 + int(ws.Signal()), nil
					}
					return ws.ExitStatus(), nil
				}
			}
		case stopSignals[sig]:
			_ = syscall.Kill(pid, syscall.SIGTERM)
		case sig == syscall.SIGURG || sig == syscall.SIGPIPE:
			// The Go runtime's own, and nothing for the child.
		default:
			if s, ok := sig.(syscall.Signal); ok {
				_ = syscall.Kill(pid, s)
			}
		}
	}
	return 1, nil
}

// lookupUser resolves docker's user forms, "name", "uid", "name:group",
// "uid:gid", against the zone's /etc/passwd and /etc/group.
func lookupUser(spec string) (*syscall.Credential, error) {
	u, g, hasGroup := strings.Cut(spec, ":")
	cred := &syscall.Credential{}
	if id, err := strconv.ParseUint(u, 10, 32); err == nil {
		cred.Uid = uint32(id)
		if f := findEntry("/etc/passwd", func(f []string) bool { return f[2] == u }); f != nil {
			gid, _ := strconv.ParseUint(f[3], 10, 32)
			cred.Gid = uint32(gid)
		}
	} else {
		f := findEntry("/etc/passwd", func(f []string) bool { return f[0] == u })
		if f == nil {
			return nil, fmt.Errorf("unable to find user %s: no matching entries in passwd file", u)
		}
		uid, _ := strconv.ParseUint(f[2], 10, 32)
		gid, _ := strconv.ParseUint(f[3], 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
	}
	if hasGroup {
		if id, err := strconv.ParseUint(g, 10, 32); err == nil {
			cred.Gid = uint32(id)
		} else {
			f := findEntry("/etc/group", func(f []string) bool { return f[0] == g })
			if f == nil {
				return nil, fmt.Errorf("unable to find group %s: no matching entries in group file", g)
			}
			gid, _ := strconv.ParseUint(f[2], 10, 32)
			cred.Gid = uint32(gid)
		}
	}
	cred.NoSetGroups = true
	return cred, nil
}

// findEntry returns the colon-separated fields of the first line of file
// that match (lines with at least 4 fields).
func findEntry(file string, match func([]string) bool) []string {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ":")
		if len(fs) >= 4 && match(fs) {
			return fs
		}
	}
	return nil
}
