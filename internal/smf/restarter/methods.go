package restarter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"hull/internal/smf/contract"
	"hull/internal/smf/graph"
	"hull/internal/smf/manifest"
)

// outcome is how a method run ended.
type outcome struct {
	code     int // exit status; -1 when killed by a signal or not run
	signal   syscall.Signal
	core     bool
	timedOut bool
	err      error // could not run: missing exec, bad credentials (config errors)
}

func (o outcome) ok() bool { return o.err == nil && !o.timedOut && o.code == 0 }

// String says how a method ended, as the instance's log does.
func (o outcome) String() string {
	switch {
	case o.err != nil:
		return o.err.Error()
	case o.timedOut:
		return "timed out"
	case o.code >= 0:
		return fmt.Sprintf("exited with status %d", o.code)
	}
	return fmt.Sprintf("failed due to signal %s", strings.TrimPrefix(unixSignalName(o.signal), "SIG"))
}

// smf says how a method ended as svcs -x's reasons do: "exited with
// status 1", "exited with $SMF_EXIT_ERR_CONFIG", "died on Killed (9)",
// "dumped core on Aborted (6)". A method that timed out was killed.
func (o outcome) smf() string {
	sig := o.signal
	switch {
	case o.err != nil:
		return "failed: " + o.err.Error()
	case o.timedOut:
		sig = syscall.SIGKILL
	case o.code == ExitConfig:
		return "exited with $SMF_EXIT_ERR_CONFIG"
	case o.code == ExitFatal:
		return "exited with $SMF_EXIT_ERR_FATAL"
	case o.code >= 0:
		return fmt.Sprintf("exited with status %d", o.code)
	}
	desc := sig.String()
	if desc != "" {
		desc = strings.ToUpper(desc[:1]) + desc[1:]
	}
	if o.core {
		return fmt.Sprintf("dumped core on %s (%d)", desc, int(sig))
	}
	return fmt.Sprintf("died on %s (%d)", desc, int(sig))
}

// logInst writes a startd line to the instance's log and, with a
// prefix, to the console.
func (r *Restarter) logInst(i *inst, console string, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if f, err := os.OpenFile(r.logPath(i), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
		fmt.Fprintf(f, "[ %s %s ]\n", time.Now().Format("Jan _2 15:04:05"), msg)
		f.Close()
	}
	if console != "" {
		r.cfg.Logf("%s", console)
	}
}

func (r *Restarter) logPath(i *inst) string {
	return filepath.Join(r.cfg.LogDir, manifest.LogName(i.fmri))
}

// expand replaces the method tokens of an exec string.
func expand(exec string, c *manifest.Config, method string) string {
	f, _ := manifest.ParseFMRI(c.FMRI)
	var b strings.Builder
	for k := 0; k < len(exec); k++ {
		ch := exec[k]
		if ch != '%' || k+1 >= len(exec) {
			b.WriteByte(ch)
			continue
		}
		k++
		switch exec[k] {
		case 'r':
			b.WriteString("svc.startd")
		case 'm':
			b.WriteString(method)
		case 's':
			b.WriteString(f.Service)
		case 'i':
			b.WriteString(f.Instance)
		case 'f':
			b.WriteString(c.FMRI)
		case '%':
			b.WriteByte('%')
		case '{':
			end := strings.IndexByte(exec[k:], '}')
			if end < 0 {
				b.WriteString("%{")
				continue
			}
			pg, prop, _ := strings.Cut(exec[k+1:k+end], "/")
			b.WriteString(c.Prop(pg, prop))
			k += end
		default:
			b.WriteByte('%')
			b.WriteByte(exec[k])
		}
	}
	return b.String()
}

// killSignal parses ":kill" and ":kill -SIG" (default SIGTERM).
func killSignal(exec string) (syscall.Signal, bool) {
	f := strings.Fields(exec)
	if len(f) == 0 || f[0] != ":kill" {
		return 0, false
	}
	if len(f) == 1 {
		return syscall.SIGTERM, true
	}
	name := strings.TrimPrefix(strings.TrimPrefix(f[1], "-"), "SIG")
	for s := syscall.Signal(1); s < 32; s++ {
		if strings.EqualFold(strings.TrimPrefix(unixSignalName(s), "SIG"), name) || fmt.Sprint(int(s)) == name {
			return s, true
		}
	}
	return syscall.SIGTERM, true
}

// timeout of a method: 0 or -1 means none.
func timeout(m *manifest.ExecMethod) time.Duration {
	if m == nil || m.Timeout <= 0 {
		return 0
	}
	return time.Duration(m.Timeout) * time.Second
}

// spawn forks a method's process into ct. It does not wait. c is the
// instance's configuration, read under r.mu by the caller: an import
// may replace i.cfg while a method runs.
func (r *Restarter) spawn(i *inst, c *manifest.Config, method string, m *manifest.ExecMethod, ct contract.Contract) (int, <-chan syscall.WaitStatus, error) {
	cmd := expand(m.Exec, c, method)
	mc := m.Context
	if mc == nil {
		mc = c.Context
	}
	// A missing program is a configuration error, not a retryable failure.
	if f := strings.Fields(cmd); len(f) > 0 && strings.HasPrefix(f[0], "/") {
		if st, err := os.Stat(r.cfg.Root + f[0]); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return 0, nil, fmt.Errorf("%s method %q is missing or not executable", method, f[0])
		}
	}
	env := []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"SMF_FMRI=" + c.FMRI, "SMF_METHOD=" + method,
		"SMF_RESTARTER=" + Name, "SMF_ZONENAME=" + r.cfg.Zonename,
		"TZ=" + os.Getenv("TZ"), "LANG=C",
		fmt.Sprintf("%s=%d", contract.EnvVar, ct.ID()),
	}
	sys := &syscall.SysProcAttr{Setsid: true}
	dir := "/"
	home := "/root"
	if mc != nil {
		if c := mc.Credential; c != nil {
			cred, h, err := lookupCredential(r.cfg.Root, c)
			if err != nil {
				return 0, nil, err
			}
			sys.Credential, home = cred, h
			env = append(env, "USER="+c.User, "LOGNAME="+c.User)
		}
		for _, e := range mc.Env {
			env = append(env, e.Name+"="+e.Value)
		}
		if wd := mc.WorkingDirectory; wd != "" && wd != ":default" {
			dir = wd
		} else if wd == ":default" {
			dir = home
		}
	}
	env = append(env, "HOME="+home)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return 0, nil, fmt.Errorf("working directory %q: %v", dir, errOr(err, "not a directory"))
	}
	_ = os.MkdirAll(r.cfg.LogDir, 0o755)
	logf, err := os.OpenFile(r.logPath(i), os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return 0, nil, fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return 0, nil, err
	}
	defer null.Close()
	fmt.Fprintf(logf, "[ %s Executing %s method (\"%s\"). ]\n", time.Now().Format("Jan _2 15:04:05"), method, cmd)
	ct.Prepare(sys)
	attr := &syscall.ProcAttr{Dir: dir, Env: env, Files: []uintptr{null.Fd(), logf.Fd(), logf.Fd()}, Sys: sys}
	return r.cfg.Reaper.Start("/bin/sh", []string{"/bin/sh", "-c", cmd}, attr, ct.Add)
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

// wait waits for a spawned method, killing ct when it times out.
func (r *Restarter) wait(done <-chan syscall.WaitStatus, ct contract.Contract, to time.Duration) outcome {
	var tc <-chan time.Time
	if to > 0 {
		t := time.NewTimer(to)
		defer t.Stop()
		tc = t.C
	}
	scan := time.NewTicker(20 * time.Millisecond) // ancestry tracking sees forks as they happen
	defer scan.Stop()
	for {
		select {
		case ws := <-done:
			r.cfg.Tracker.Scan()
			return status(ws)
		case <-scan.C:
			r.cfg.Tracker.Scan()
		case <-tc:
			ct.Signal(syscall.SIGKILL)
			<-done
			return outcome{code: -1, signal: syscall.SIGKILL, timedOut: true}
		}
	}
}

func status(ws syscall.WaitStatus) outcome {
	if ws.Exited() {
		return outcome{code: ws.ExitStatus()}
	}
	return outcome{code: -1, signal: ws.Signal(), core: ws.CoreDump()}
}

// run runs a method to completion in ct: ":true" succeeds, ":kill"
// signals the instance's contract. c is the instance's configuration, as
// spawn takes it.
func (r *Restarter) run(i *inst, c *manifest.Config, method string, m *manifest.ExecMethod, ct contract.Contract) outcome {
	exec := strings.TrimSpace(m.Exec)
	if exec == ":true" {
		return outcome{}
	}
	if sig, ok := killSignal(exec); ok {
		r.mu.Lock()
		ict := i.ct
		if ict != nil {
			i.signalled = time.Now()
		}
		r.mu.Unlock()
		if ict != nil {
			ict.Signal(sig)
		}
		return outcome{}
	}
	_, done, err := r.spawn(i, c, method, m, ct)
	if err != nil {
		return outcome{code: -1, err: err}
	}
	o := r.wait(done, ct, timeout(m))
	if o.timedOut {
		r.logInst(i, "", "Method or service exit timed out.  Killing contract %d.", ct.ID())
	} else {
		r.logInst(i, "", "Method \"%s\" %s.", method, o)
	}
	return o
}

// drain waits up to d for a contract to empty, then kills what is left.
func (r *Restarter) drain(i *inst, ct contract.Contract, d time.Duration) (killed bool) {
	deadline := time.Now().Add(d)
	for len(ct.Pids()) > 0 {
		if time.Now().After(deadline) {
			r.logInst(i, "", "Method or service exit timed out.  Killing contract %d.", ct.ID())
			ct.Signal(syscall.SIGKILL)
			for end := time.Now().Add(5 * time.Second); len(ct.Pids()) > 0 && time.Now().Before(end); {
				time.Sleep(20 * time.Millisecond)
			}
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

var errNoMethod = errors.New("no such method")

// method returns the named exec_method of an instance.
func method(i *inst, name string) (*manifest.ExecMethod, error) {
	if m := i.cfg.Methods[name]; m != nil {
		return m, nil
	}
	return nil, errNoMethod
}

// legacy states never run methods.
var _ = graph.LegacyRun
