// Package startd is SMF as PID 1 of a zone: it reaps every orphan, runs
// the restarter over the zone's manifests (/var/svc/manifest and
// /opt/custom/smf) and its legacy rc scripts, serves svcs/svcadm/svccfg
// on the control socket, and on a stop or reboot request shuts the zone
// down in reverse dependency order within the grace period.
//
// Signals (zoneinit.ShutdownSignals, busybox's init's meanings): SIGTERM
// and SIGINT reboot the zone (exit zoneinit.ExitReboot); SIGPWR, SIGUSR1
// and SIGUSR2 halt it (exit 0). Every other signal is caught
// and ignored. Outside PID 1 (a host's restarter for node services) it
// runs the same restarter without the zone duties.
package startd

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/mdata"
	"hull/internal/smf/contract"
	"hull/internal/smf/control"
	"hull/internal/smf/graph"
	"hull/internal/smf/restarter"
	"hull/internal/zoneinit"
)

// Where SMF keeps things in a zone.
var (
	ManifestDirs = []string{"/var/svc/manifest", "/opt/custom/smf"}
	LogDir       = "/var/svc/log"
	StateFile    = "/etc/svc/repository.json"
	VolatileDir  = "/etc/svc/volatile"
	// ContractBase names the sub-cgroup holding contracts, under
	// startd's own cgroup.
	ContractBase = "smf"
)

// Milestone is what "up" means for the console line and the legacy scripts.
const Milestone = "svc:/milestone/multi-user:default"

// Options configure a run; the zero value is a zone's PID 1.
type Options struct {
	Out          io.Writer
	ManifestDirs []string
	Socket       string
}

// Main is the svc.startd personality.
func Main(args []string) int {
	o := Options{Out: os.Stdout, ManifestDirs: ManifestDirs, Socket: control.Socket()}
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-m":
			if i+1 < len(args) {
				o.ManifestDirs = append(o.ManifestDirs, args[i+1])
				i++
			}
		case "-h", "--help":
			fmt.Fprintln(os.Stderr, "usage: svc.startd [-m manifest-dir]... (PID 1 of a zone, or a host's restarter)")
			return 0
		default:
			fmt.Fprintf(os.Stderr, "svc.startd: unknown argument %q\n", args[i])
			return 2
		}
	}
	return Run(o)
}

type startd struct {
	out   io.Writer
	pid1  bool
	r     *restarter.Restarter
	reap  *contract.Reaper
	host  string
	ctl   chan os.Signal
	start time.Time
	// activity is poked by requests and state changes; trimWhenQuiet
	// waits on it.
	activity chan struct{}
}

func (s *startd) logf(format string, args ...any) {
	fmt.Fprintf(s.out, format+"\n", args...)
}

// Run runs SMF until a stop or reboot request, and returns the exit code.
func Run(o Options) int {
	s := &startd{out: o.Out, pid1: os.Getpid() == 1, ctl: make(chan os.Signal, 4), start: time.Now(),
		activity: make(chan struct{}, 1)}
	signal.Notify(s.ctl, zoneinit.ShutdownSignals...)
	if s.pid1 {
		others := make(chan os.Signal, 1)
		signal.Notify(others) // no Go default action (exit, dump) for PID 1
		go func() {
			for range others {
			}
		}()
	}
	s.reap = contract.NewReaper()
	s.reap.Reap()

	s.host = os.Getenv("HULL_HOSTNAME")
	// The runtime sets the zone's hostname; only a different one is set
	// here (a zone cannot, without CAP_SYS_ADMIN, and need not).
	if h, _ := os.Hostname(); s.pid1 && s.host != "" && h != s.host {
		if err := unix.Sethostname([]byte(s.host)); err != nil {
			s.logf("svc.startd: set hostname %q: %v", s.host, err)
		}
	} else if h, err := os.Hostname(); err == nil && s.host == "" {
		s.host = h
	}
	zonename := os.Getenv("HULL_UUID")
	if zonename == "" {
		zonename = s.host
	}
	if s.pid1 {
		// What the last boot left, its control socket among it: a zone
		// that was killed leaves a socket nobody listens on.
		_ = os.RemoveAll(VolatileDir)
		_ = os.MkdirAll(VolatileDir, 0o755)
		_ = os.Remove(zoneinit.ExitMarker)
	}
	var tr contract.Tracker
	if os.Getenv("SMF_CONTRACTS") == "ancestry" {
		tr = contract.NewAncestry()
	} else {
		tr = contract.Detect(ContractBase)
	}
	s.logf("svc.startd: tracking contracts by %s", tr.Kind())
	s.r = restarter.New(restarter.Config{
		LogDir: LogDir, Zonename: zonename, StateFile: StateFile, Tracker: tr, Reaper: s.reap,
		Logf: s.logf,
	})
	// A zone's metadata scripts run as on SmartOS, by hull in the zone.
	if self, err := os.Executable(); err == nil && s.pid1 && self == zoneinit.InitPath {
		if err := s.r.AddBuiltin("smartdc:mdata", []byte(mdata.ServicesManifest(self))); err != nil {
			s.logf("svc.startd: %v", err)
		}
	}
	for _, d := range o.ManifestDirs {
		s.r.LoadDir(d)
	}
	// svcs and svcadm work from the first moment (the services show
	// uninitialized while the zone waits for its network).
	l, err := control.Serve(o.Socket, control.HandlerFunc(func(req *control.Request) *control.Response {
		s.poke()
		return s.r.Handle(req)
	}))
	if err != nil {
		s.logf("svc.startd: control socket %s: %v", o.Socket, err)
	} else {
		defer l.Close()
	}
	if s.pid1 {
		if sig, stopped := s.waitNetwork(); stopped {
			return s.shutdown(sig)
		}
	}
	s.r.Start()

	sig, stopped := s.up()
	if !stopped {
		sig = <-s.ctl
	}
	return s.shutdown(sig)
}

// up waits for multi-user, runs the legacy rc scripts, and says the zone
// is up. A stop request meanwhile ends it early.
func (s *startd) up() (os.Signal, bool) {
	for {
		ch := s.r.Changed()
		if st := s.state(Milestone); graph.Running(st) || st == graph.Maintenance || st == graph.Disabled {
			break
		}
		select {
		case sig := <-s.ctl:
			return sig, true
		case <-ch:
		case <-time.After(time.Second):
		}
	}
	if s.pid1 {
		scripts, err := zoneinit.Scripts(zoneinit.RCDir, "S")
		if err != nil {
			s.logf("svc.startd: %s: %v", zoneinit.RCDir, err)
		}
		if fi, err := os.Stat(zoneinit.RCLocal); err == nil && fi.Mode().Perm()&0o111 != 0 {
			scripts = append(scripts, zoneinit.RCLocal)
		}
		for _, sc := range scripts {
			s.logf("svc.startd: %s start: %s", filepath.Base(sc), s.runScript(sc, "start", zoneinit.StartTimeout))
			s.r.AddLegacy(LegacyFMRI(sc))
			select {
			case sig := <-s.ctl:
				return sig, true
			default:
			}
		}
	}
	s.logf("svc.startd: zone %s is up (%s online after %v)", s.host, Milestone, time.Since(s.start).Round(time.Millisecond))
	// Boot's garbage (parsed manifests, the graph's first walks) goes
	// back to the kernel now, not whenever the scavenger gets to it.
	// From here PID 1 mostly waits: it collects more often than Go's
	// default doubling (a 1 MiB minimum heap instead of 4), and after
	// each burst of work hands what the burst used back (trimWhenQuiet),
	// so every zone's init stays near what it holds. No memory limit:
	// one below what the runtime needs makes it collect on every
	// allocation, which costs an idle zone a share of a CPU.
	debug.FreeOSMemory()
	debug.SetGCPercent(25)
	go s.trimWhenQuiet()
	return nil, false
}

// quietFor is how long nothing must happen before memory is trimmed.
const quietFor = 5 * time.Second

// poke notes activity (a request, a state change).
func (s *startd) poke() {
	select {
	case s.activity <- struct{}{}:
	default:
	}
}

// trimWhenQuiet returns memory to the kernel once a burst of activity
// (svcs and svcadm requests, services starting and stopping) has been
// over for quietFor: one collection per burst, none while idle.
func (s *startd) trimWhenQuiet() {
	go func() {
		for {
			<-s.r.Changed()
			s.poke()
		}
	}()
	quiet := time.NewTimer(quietFor) // fires only quietFor after activity
	quiet.Stop()
	for {
		select {
		case <-s.activity:
			quiet.Reset(quietFor)
		case <-quiet.C:
			debug.FreeOSMemory()
		}
	}
}

// LegacyFMRI names an rc script as svcs shows it: lrc:/etc/rc_d/S10foo.
func LegacyFMRI(script string) string {
	return "lrc:" + strings.ReplaceAll(filepath.Dir(script), ".", "_") + "/" + filepath.Base(script)
}

func (s *startd) state(fmri string) string {
	for _, st := range s.r.Status() {
		if st.FMRI == fmri {
			return st.State
		}
	}
	return ""
}

// runScript runs an rc script in its own session, killing its group
// after timeout.
func (s *startd) runScript(path, arg string, timeout time.Duration) string {
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	attr := &syscall.ProcAttr{Dir: "/", Env: os.Environ(), Files: []uintptr{null.Fd(), 1, 2}, Sys: &syscall.SysProcAttr{Setsid: true}}
	pid, done, err := s.reap.Start(path, []string{path, arg}, attr, nil)
	if err != nil {
		return err.Error()
	}
	select {
	case ws := <-done:
		if ws.Exited() {
			return fmt.Sprintf("exit %d", ws.ExitStatus())
		}
		return fmt.Sprintf("killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
	case <-time.After(timeout):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
		return fmt.Sprintf("timed out after %v, killed", timeout)
	}
}

type realClock struct{}

func (realClock) Now() time.Time        { return time.Now() }
func (realClock) Sleep(d time.Duration) { time.Sleep(d) }

// shutdown stops the services in reverse dependency order, runs the K
// scripts, ends every other process, and returns the exit code.
func (s *startd) shutdown(sig os.Signal) int {
	reboot := zoneinit.Reboots(sig)
	why := "halt"
	if reboot {
		why = "reboot"
	}
	s.logf("svc.startd: %v: %s", sig, why)
	grace := zoneinit.Grace(os.Getenv("HULL_STOP_GRACE"))
	deadline := time.Now().Add(grace)
	if err := s.r.Shutdown(grace); err != nil {
		s.logf("svc.startd: %v", err)
	}
	if !s.pid1 {
		s.r.Close()
		return 0
	}
	scripts, _ := zoneinit.Scripts(zoneinit.RCDir, "K")
	for _, sc := range scripts {
		s.logf("svc.startd: %s stop: %s", filepath.Base(sc), s.runScript(sc, "stop", zoneinit.StopTimeout))
	}
	rest := time.Until(deadline)
	if rest < time.Second {
		rest = time.Second
	}
	if zoneinit.Terminate(s.reap, realClock{}, rest) {
		s.logf("svc.startd: killed processes that outlived the grace period")
	}
	_ = os.MkdirAll(filepath.Dir(zoneinit.ExitMarker), 0o755)
	_ = os.WriteFile(zoneinit.ExitMarker, []byte(why+"\n"), 0o644)
	unix.Sync()
	if reboot {
		s.logf("svc.startd: rebooting")
		return zoneinit.ExitReboot
	}
	s.logf("svc.startd: halted")
	return 0
}

// waitNetwork holds the zone's services until the node has plumbed its
// NICs, as on SmartOS where a zone's VNICs exist before its init runs.
// HULL_NET_WAIT lists the zone's interfaces; the node gives each an alias
// (its host port's name) as the last step of plumbing. A stop request
// meanwhile ends it.
func (s *startd) waitNetwork() (os.Signal, bool) {
	want := strings.Split(os.Getenv("HULL_NET_WAIT"), ",")
	if want[0] == "" {
		return nil, false
	}
	deadline := time.Now().Add(30 * time.Second)
	// Plumbing takes milliseconds; the poll backs off in case it takes
	// longer.
	poll := 2 * time.Millisecond
	for time.Now().Before(deadline) {
		ready := true
		for _, nic := range want {
			if b, err := os.ReadFile("/sys/class/net/" + nic + "/ifalias"); err != nil || strings.TrimSpace(string(b)) == "" {
				ready = false
				break
			}
		}
		if ready {
			return nil, false
		}
		select {
		case sig := <-s.ctl:
			return sig, true
		case <-time.After(poll):
		}
		poll = min(poll*2, 20*time.Millisecond)
	}
	s.logf("svc.startd: the zone's network was not ready after 30s; going on without it")
	return nil, false
}
