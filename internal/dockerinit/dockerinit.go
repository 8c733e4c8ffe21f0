// Package dockerinit is PID 1 of a docker zone: it runs the image's
// entrypoint and command as its one child, passes stop requests on to it,
// reaps every orphan, and when the child ends notes "exit <status>" in
// the zone's exit marker and exits, which halts the zone (SmartOS's
// dockerinit: when the init process exits the zone halts).
package dockerinit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/dockerlog"
	"hull/internal/stdiolog"
)

// ExitMarker is where the node reads the zone's exit status.
const ExitMarker = "/run/.hull-exit"

// options are how the child runs.
type options struct {
	user      string // docker:user
	tty       bool   // a terminal of its own (docker -t)
	openStdin bool   // a stdin that stays open (docker -i)
	// log is the zone's log, where the program's output goes as
	// entries; nil for none.
	log *stdiolog.Log
}

// Main runs `dockerinit [-u USER] [-t] [-i] [-l LOGGER] [-w] -- ARGV...`,
// LOGGER a dockerlog.Spec in JSON; -w: wait for docker:wait_for_attach
// to go first.
func Main(args []string) int {
	var o options
	var logger string
	wait := false
	for len(args) > 0 && args[0] != "--" {
		switch {
		case args[0] == "-w":
			wait, args = true, args[1:]
		case args[0] == "-u" && len(args) > 1:
			o.user, args = args[1], args[2:]
		case args[0] == "-l" && len(args) > 1:
			logger, args = args[1], args[2:]
		case args[0] == "-t":
			o.tty, args = true, args[1:]
		case args[0] == "-i":
			o.openStdin, args = true, args[1:]
		default:
			fmt.Fprintf(os.Stderr, "dockerinit: unknown argument %q\n", args[0])
			return finish(2)
		}
	}
	if len(args) > 0 {
		args = args[1:]
	}
	// The zone's log (stdout, a file the host appends to) is kept in
	// SmartOS's stdio.log form, unless it is /dev/null (docker:logdriver
	// none): then the program writes there itself.
	if !isDevNull(os.Stdout) {
		o.log = stdiolog.New(os.Stdout)
	}
	var errw io.WriteCloser = os.Stderr
	if o.log != nil {
		errw = o.log.Stream("stderr")
	}
	// SmartOS's docker zone runs a logger for a docker:logdriver with a
	// server (syslog, gelf, fluentd), which gets every line as well; a
	// logger that cannot start stops the zone.
	if logger != "" && o.log != nil {
		d, err := startLogger(logger)
		if err != nil {
			return failed(errw, 1, err)
		}
		defer d.Close()
		o.log.Tee = func(stream string, line []byte, at time.Time) {
			d.Log(dockerlog.Message{Stream: stream, Line: line, Time: at})
		}
	}
	if wait {
		md, err := openMetadata()
		if err != nil {
			return failed(errw, exitMdataInit, fmt.Errorf("metadata: %w", err))
		}
		status, err := waitForAttach(md, time.Now, time.Sleep)
		md.c.Close()
		if err != nil {
			return failed(errw, status, err)
		}
	}
	status, err := run(args, o, errw)
	if err != nil {
		fmt.Fprintf(errw, "dockerinit: %v\n", err)
	}
	errw.Close()
	return finish(status)
}

// failed ends dockerinit before the program runs, telling why in the
// log.
func failed(errw io.WriteCloser, status int, err error) int {
	fmt.Fprintf(errw, "dockerinit: %v\n", err)
	errw.Close()
	return finish(status)
}

// startLogger starts the logger of spec, a dockerlog.Spec in JSON.
func startLogger(spec string) (dockerlog.Driver, error) {
	var s dockerlog.Spec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		return nil, fmt.Errorf("logger: %w", err)
	}
	d, err := s.Start()
	if err != nil {
		return nil, fmt.Errorf("log driver %s: %w", s.Driver, err)
	}
	return d, nil
}

// isDevNull tells whether f is /dev/null.
func isDevNull(f *os.File) bool {
	var st, null unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil || unix.Stat(os.DevNull, &null) != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == null.Rdev
}

// finish writes the exit marker; the zone halts when PID 1 exits. The
// marker has SmartOS's exit_status (a program killed by a signal is the
// negative signal number); dockerinit itself exits as a shell would, with
// 128 + the signal for one.
func finish(status int) int {
	_ = os.MkdirAll("/run", 0o755)
	_ = os.WriteFile(ExitMarker, []byte("exit "+strconv.Itoa(status)+"\n"), 0o644)
	unix.Sync()
	if status < 0 {
		return 128 + (-status)&0x7f
	}
	return status
}

// stopSignals are the ways the node asks a zone's init to stop (SIGTERM,
// and what lx inits take for poweroff); the child gets SIGTERM for each.
var stopSignals = map[os.Signal]bool{
	syscall.SIGTERM: true, syscall.SIGUSR2: true, syscall.SIGPWR: true, syscall.Signal(38): true,
}

// run starts argv and waits for it, reaping any other child on the way.
// The status is SmartOS's exit_status: the exit code, or for a program
// killed by a signal minus the signal number (with 0x80 for a core dump),
// as SmartOS derives it from the zone init's wait status.
func run(argv []string, o options, errw io.Writer) (int, error) {
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
	if o.user != "" {
		cred, err := lookupUser(o.user)
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
	files := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	var child []*os.File // the child's ends, closed here once it runs
	drained := func() {}
	// The zone's stdin is its console input (what `zlogin -C` types):
	// the program reads it with docker:open_stdin (docker -i), and
	// /dev/null without, as docker gives it.
	switch {
	case o.tty:
		// The program's session has a terminal of its own: what it
		// writes there is copied to the zone's console (the log), as
		// docker logs a tty, and the console's input is typed on it
		// with -i. Without -i nothing is: reads wait, as in a detached
		// docker -t.
		master, slave, err := openPTY()
		if err != nil {
			return 126, fmt.Errorf("terminal: %w", err)
		}
		defer master.Close()
		files, child = []*os.File{slave, slave, slave}, []*os.File{slave}
		attr.Setsid, attr.Setctty, attr.Ctty = true, true, 0
		if o.openStdin {
			go io.Copy(master, os.Stdin)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			// A terminal has one stream: docker logs it as stdout.
			var out io.Writer = os.Stdout
			if o.log != nil {
				s := o.log.Stream("stdout")
				defer s.Close()
				out = s
			}
			io.Copy(out, master) // ends with EIO when no one has the terminal
		}()
		// At the program's end its output is drained, but not waited
		// for past a second: a process it left may hold the terminal.
		drained = func() { waitAtMost(done, time.Second) }
	default:
		if !o.openStdin {
			null, err := os.Open(os.DevNull)
			if err != nil {
				return 126, err
			}
			files[0], child = null, []*os.File{null}
		}
		if o.log != nil {
			// stdout and stderr are pipes, read here and logged as
			// entries of their streams.
			var wg sync.WaitGroup
			for i, name := range []string{"stdout", "stderr"} {
				r, w, err := os.Pipe()
				if err != nil {
					return 126, fmt.Errorf("%s: %w", name, err)
				}
				files[1+i], child = w, append(child, w)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer r.Close()
					s := o.log.Stream(name)
					io.Copy(s, r)
					s.Close()
				}()
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			// As with a terminal: the program's output is drained at its
			// end, but not waited for past a second, for a process it
			// left may hold the pipes.
			drained = func() { waitAtMost(done, time.Second) }
		}
	}
	proc, err := os.StartProcess(path, argv, &os.ProcAttr{Env: os.Environ(), Files: files, Sys: attr})
	for _, f := range child {
		f.Close()
	}
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
					drained()
					if ws.Signaled() {
						sig := int(ws.Signal())
						if ws.CoreDump() {
							sig |= 0x80
						}
						return -sig, nil
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

// waitAtMost waits until done is closed or d has passed.
func waitAtMost(done <-chan struct{}, d time.Duration) {
	select {
	case <-done:
	case <-time.After(d):
	}
}

// openPTY opens a new terminal: its master, and its slave (not this
// process's controlling terminal), 80x24.
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlock: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	_ = unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80})
	return m, s, nil
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
