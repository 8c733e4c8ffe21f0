package restarter

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hull/internal/smf/contract"
	"hull/internal/smf/control"
	"hull/internal/smf/graph"
	"hull/internal/testenv"
)

// svc describes a test service; it renders to a manifest.
type svc struct {
	name, start, stop, duration string
	stopTimeout                 int
	deps                        []string // "grouping/restart_on/fmri"
	enabled                     *bool
	extra                       string
}

func (s svc) xml() string {
	stop := s.stop
	if stop == "" {
		stop = ":kill"
	}
	st := s.stopTimeout
	if st == 0 {
		st = 5
	}
	en := true
	if s.enabled != nil {
		en = *s.enabled
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<?xml version='1.0'?>\n<service_bundle type='manifest' name='%s'>\n<service name='%s' type='service' version='1'>\n<create_default_instance enabled='%v'/>\n", s.name, s.name, en)
	for k, d := range s.deps {
		p := strings.SplitN(d, "/", 3)
		typ := "service"
		if strings.HasPrefix(p[2], "file:") {
			typ = "path"
		}
		fmt.Fprintf(&b, "<dependency name='d%d' grouping='%s' restart_on='%s' type='%s'><service_fmri value='%s'/></dependency>\n", k, p[0], p[1], typ, p[2])
	}
	b.WriteString(s.extra)
	fmt.Fprintf(&b, "<exec_method type='method' name='start' exec='%s' timeout_seconds='5'/>\n", esc(s.start))
	fmt.Fprintf(&b, "<exec_method type='method' name='stop' exec='%s' timeout_seconds='%d'/>\n", esc(stop), st)
	if s.duration != "" {
		fmt.Fprintf(&b, "<property_group name='startd' type='framework'><propval name='duration' type='astring' value='%s'/></property_group>\n", s.duration)
	}
	b.WriteString("</service>\n</service_bundle>\n")
	return b.String()
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", "'", "&apos;", `"`, "&quot;").Replace(s)
}

var (
	reaperOnce sync.Once
	reaper     *contract.Reaper
)

type env struct {
	t   *testing.T
	r   *Restarter
	dir string
	log []string
	mu  sync.Mutex
}

// newEnv runs a restarter (not PID 1, a child subreaper) over the given
// services, with real processes.
func newEnv(t *testing.T, svcs ...svc) *env {
	t.Helper()
	testenv.RequireRoot(t)
	reaperOnce.Do(func() { reaper = contract.NewReaper() })
	dir := t.TempDir()
	e := &env{t: t, dir: dir}
	var tr contract.Tracker = contract.NewAncestry()
	if os.Getenv("SMF_CONTRACTS") != "ancestry" {
		tr = contract.Detect("smf-test-" + strings.ReplaceAll(t.Name(), "/", "-"))
	}
	e.r = New(Config{
		LogDir: filepath.Join(dir, "log"), Zonename: "test", Tracker: tr, Reaper: reaper,
		RetryDelay: 50 * time.Millisecond,
		Logf: func(f string, a ...any) {
			e.mu.Lock()
			e.log = append(e.log, fmt.Sprintf(f, a...))
			e.mu.Unlock()
		},
	})
	mdir := filepath.Join(dir, "manifest")
	os.MkdirAll(mdir, 0o755)
	for _, s := range svcs {
		os.WriteFile(filepath.Join(mdir, strings.ReplaceAll(s.name, "/", "-")+".xml"), []byte(s.xml()), 0o644)
	}
	if errs := e.r.LoadDir(mdir); len(errs) > 0 {
		t.Logf("load errors: %v", errs)
	}
	e.r.Start()
	t.Cleanup(func() {
		if err := e.r.Shutdown(20 * time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		e.r.Close()
		tr.Close()
	})
	return e
}

func (e *env) status(fmri string) *control.Status {
	for _, s := range e.r.Status() {
		if s.FMRI == fmri {
			return s
		}
	}
	return nil
}

// wait waits until fmri is in state (and not in transition).
func (e *env) wait(fmri, state string, d time.Duration) *control.Status {
	e.t.Helper()
	return e.waitUntil(fmri, state, d, func(*control.Status) bool { return true })
}

// waitUntil waits until fmri is in state (and not in transition) and ok
// holds for its status.
func (e *env) waitUntil(fmri, state string, d time.Duration, ok func(*control.Status) bool) *control.Status {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		s := e.status(fmri)
		if s != nil && s.State == state && s.NextState == "none" && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %+v, want %s after %v; console %q", fmri, s, state, d, e.log)
		}
		select {
		case <-e.r.Changed():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (e *env) do(op string, fmris ...string) {
	e.t.Helper()
	if resp := e.r.Handle(&control.Request{Op: op, FMRIs: fmris}); resp.Error != "" {
		e.t.Fatalf("%s %v: %s", op, fmris, resp.Error)
	}
}

func fm(name string) string { return "svc:/" + name + ":default" }

func TestDependencyOrderAndParallel(t *testing.T) {
	d := t.TempDir()
	daemon := func(n string) string { return fmt.Sprintf("echo %s >> %s/order; sleep 0.4; sleep 300 &", n, d) }
	e := newEnv(t,
		svc{name: "chain/a", start: daemon("a")},
		svc{name: "chain/b", start: daemon("b"), deps: []string{"require_all/none/svc:/chain/a"}},
		svc{name: "chain/c", start: daemon("c"), deps: []string{"require_all/none/svc:/chain/b:default"}},
		svc{name: "par/x", start: daemon("x")},
		svc{name: "par/y", start: daemon("y")},
		svc{name: "par/z", start: daemon("z")},
	)
	start := time.Now()
	for _, n := range []string{"chain/a", "chain/b", "chain/c", "par/x", "par/y", "par/z"} {
		s := e.wait(fm(n), graph.Online, 10*time.Second)
		if len(s.Pids) != 1 || s.Contract == 0 {
			t.Errorf("%s: pids %v contract %d", n, s.Pids, s.Contract)
		}
	}
	took := time.Since(start)
	order, _ := os.ReadFile(d + "/order")
	lines := strings.Fields(string(order))
	pos := map[string]int{}
	for k, l := range lines {
		pos[l] = k
	}
	if !(pos["a"] < pos["b"] && pos["b"] < pos["c"]) {
		t.Errorf("start order %v", lines)
	}
	// a, x, y, z start together: the chain of three takes ~1.2s, not 2.4s.
	if took > 2*time.Second {
		t.Errorf("took %v: independent services did not start in parallel", took)
	}
	// Shutdown stops in reverse dependency order.
	if err := e.r.Shutdown(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"chain/a", "chain/b", "chain/c"} {
		if s := e.status(fm(n)); s.State != graph.Offline || len(s.Pids) != 0 {
			t.Errorf("%s after shutdown: %+v", n, s)
		}
	}
}

func TestStopOrder(t *testing.T) {
	d := t.TempDir()
	stop := func(n string) string { return fmt.Sprintf("echo %s >> %s/stops", n, d) }
	e := newEnv(t,
		svc{name: "a", start: "sleep 300 &", stop: stop("a"), stopTimeout: 1},
		svc{name: "b", start: "sleep 300 &", stop: stop("b"), stopTimeout: 1, deps: []string{"require_all/none/svc:/a"}},
		svc{name: "c", start: "sleep 300 &", stop: stop("c"), stopTimeout: 1, deps: []string{"optional_all/none/svc:/b"}},
	)
	e.wait(fm("c"), graph.Online, 10*time.Second)
	if err := e.r.Shutdown(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(d + "/stops")
	if got := strings.Fields(string(b)); strings.Join(got, " ") != "c b a" {
		t.Errorf("stop order %v, want c b a", got)
	}
}

func TestTransientAndChild(t *testing.T) {
	d := t.TempDir()
	e := newEnv(t,
		svc{name: "once", start: fmt.Sprintf("echo ran >> %s/once", d), stop: ":true", duration: "transient"},
		svc{name: "kid", start: fmt.Sprintf("echo started >> %s/kid; exec sleep 0.3", d), duration: "child"},
	)
	e.wait(fm("once"), graph.Online, 5*time.Second)
	e.wait(fm("kid"), graph.Online, 5*time.Second)
	time.Sleep(1500 * time.Millisecond)
	if b, _ := os.ReadFile(d + "/once"); string(b) != "ran\n" {
		t.Errorf("transient ran %q", b)
	}
	// The child exits every 0.3s and is started again each time.
	if b, _ := os.ReadFile(d + "/kid"); strings.Count(string(b), "started") < 3 {
		t.Errorf("child started %q", b)
	}
	if s := e.status(fm("kid")); s.State != graph.Online && s.State != graph.Offline {
		t.Errorf("child: %+v", s)
	}
}

func TestFaultModel(t *testing.T) {
	d := t.TempDir()
	e := newEnv(t,
		svc{name: "fails", start: fmt.Sprintf("echo try >> %s/fails; exit 1", d)},
		svc{name: "fatal", start: "exit 95"},
		svc{name: "config", start: "exit 96"},
		svc{name: "nosmf", start: "exit 99"},
		svc{name: "crashes", start: "sleep 0.05 &"},
		svc{name: "steady", start: "sleep 300 &"},
	)
	s := e.wait(fm("fails"), graph.Maintenance, 10*time.Second)
	if s.Aux != "fault_threshold_reached" || s.Reason != "Start method failed repeatedly, last exited with status 1." {
		t.Errorf("fails: %+v", s)
	}
	if b, _ := os.ReadFile(d + "/fails"); strings.Count(string(b), "try") != FaultThreshold {
		t.Errorf("tries %q", b)
	}
	if s := e.wait(fm("fatal"), graph.Maintenance, 5*time.Second); s.Reason != "Start method exited with $SMF_EXIT_ERR_FATAL." {
		t.Errorf("fatal: %+v", s)
	}
	if s := e.wait(fm("config"), graph.Maintenance, 5*time.Second); s.Reason != "Start method exited with $SMF_EXIT_ERR_CONFIG." {
		t.Errorf("config: %+v", s)
	}
	if s := e.wait(fm("nosmf"), graph.Maintenance, 5*time.Second); s.Aux != "method_failed" || s.Reason != "Start method exited with status 99." {
		t.Errorf("nosmf: %+v", s)
	}
	if s := e.wait(fm("crashes"), graph.Maintenance, 15*time.Second); s.Aux != "restarting_too_quickly" || s.Reason != "Restarting too quickly." {
		t.Errorf("crashes: %+v", s)
	}
	e.wait(fm("steady"), graph.Online, time.Second)
	// The log explains it.
	logb, _ := os.ReadFile(s.Log)
	if !strings.Contains(string(logb), `Executing start method ("echo try`) || !strings.Contains(string(logb), `Method "start" exited with status 1.`) {
		t.Errorf("log:\n%s", logb)
	}
	// clear: the fixed service comes up.
	os.WriteFile(filepath.Join(d, "fixed"), nil, 0o644)
	e.do(control.OpClear, "fails")
	e.wait(fm("fails"), graph.Maintenance, 10*time.Second) // still failing: back in maintenance
	if b, _ := os.ReadFile(d + "/fails"); strings.Count(string(b), "try") != 2*FaultThreshold {
		t.Errorf("tries after clear %q", b)
	}
}

func TestRestartOn(t *testing.T) {
	d := t.TempDir()
	count := func(n string) string { return fmt.Sprintf("echo x >> %s/%s; sleep 300 &", d, n) }
	e := newEnv(t,
		svc{name: "base", start: "sleep 300 &"},
		svc{name: "on-error", start: count("on-error"), deps: []string{"require_all/error/svc:/base"}},
		svc{name: "on-restart", start: count("on-restart"), deps: []string{"require_all/restart/svc:/base"}},
		svc{name: "on-refresh", start: count("on-refresh"), deps: []string{"require_all/refresh/svc:/base"}},
		svc{name: "on-none", start: count("on-none"), deps: []string{"require_all/none/svc:/base"}},
	)
	all := []string{"on-error", "on-restart", "on-refresh", "on-none"}
	for _, n := range all {
		e.wait(fm(n), graph.Online, 10*time.Second)
	}
	starts := func() map[string]int {
		m := map[string]int{}
		for _, n := range all {
			b, _ := os.ReadFile(filepath.Join(d, n))
			m[n] = strings.Count(string(b), "x")
		}
		return m
	}
	settle := func() {
		time.Sleep(300 * time.Millisecond)
		for _, n := range append([]string{"base"}, all...) {
			e.wait(fm(n), graph.Online, 10*time.Second)
		}
	}
	// svcadm restart base: a non-error stop.
	e.do(control.OpRestart, "base")
	settle()
	want := map[string]int{"on-error": 1, "on-restart": 2, "on-refresh": 2, "on-none": 1}
	if got := starts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after restart: %v, want %v", got, want)
	}
	// base's process dies: a stop due to error.
	for _, p := range e.status(fm("base")).Pids {
		syscallKill(p)
	}
	settle()
	want = map[string]int{"on-error": 2, "on-restart": 3, "on-refresh": 3, "on-none": 1}
	if got := starts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after crash: %v, want %v", got, want)
	}
	e.do(control.OpRefresh, "base")
	settle()
	want = map[string]int{"on-error": 2, "on-restart": 3, "on-refresh": 4, "on-none": 1}
	if got := starts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after refresh: %v, want %v", got, want)
	}
}

func TestStopTimeout(t *testing.T) {
	e := newEnv(t,
		svc{name: "stubborn", start: "(trap '' TERM; exec sleep 300) & sleep 0.2", stop: ":kill", stopTimeout: 1},
		svc{name: "slowstop", start: "sleep 300 &", stop: "sleep 300", stopTimeout: 1},
	)
	for _, n := range []string{"stubborn", "slowstop"} {
		s := e.wait(fm(n), graph.Online, 5*time.Second)
		pids := s.Pids
		start := time.Now()
		e.do(control.OpDisable, n)
		e.wait(fm(n), graph.Disabled, 10*time.Second)
		if took := time.Since(start); took < time.Second || took > 5*time.Second {
			t.Errorf("%s: stop took %v, want about the 1s timeout\n%s", n, took, dumpLog(e, fm(n)))
		}
		for _, p := range pids {
			if alive(p) {
				t.Errorf("%s: pid %d survived", n, p)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	f := false
	e := newEnv(t,
		svc{name: "noexec", start: "/no/such/daemon -d"},
		svc{name: "baduser", start: "sleep 300 &", extra: "<method_context><method_credential user='nosuchuser'/></method_context>\n"},
		svc{name: "cyc/a", start: "sleep 300 &", deps: []string{"require_all/none/svc:/cyc/b"}},
		svc{name: "cyc/b", start: "sleep 300 &", deps: []string{"require_all/none/svc:/cyc/a"}},
		svc{name: "needs-absent", start: "sleep 300 &", deps: []string{"require_all/none/svc:/not/there"}},
		svc{name: "needs-file", start: "sleep 300 &", deps: []string{"require_all/none/file://localhost/no/such/file"}},
		svc{name: "off", start: "sleep 300 &", enabled: &f},
		svc{name: "fine", start: "sleep 300 &"},
	)
	os.WriteFile(filepath.Join(e.dir, "manifest", "broken.xml"), []byte("<service_bundle type='manifest' name='x'>\n<service name='b'\n"), 0o644)
	errs := e.r.LoadDir(filepath.Join(e.dir, "manifest"))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "broken.xml:3: XML syntax error") {
		t.Errorf("load errors %v", errs)
	}
	if s := e.wait(fm("noexec"), graph.Maintenance, 5*time.Second); !strings.Contains(s.Reason, `start method "/no/such/daemon" is missing`) {
		t.Errorf("noexec: %+v", s)
	}
	if s := e.wait(fm("baduser"), graph.Maintenance, 5*time.Second); !strings.Contains(s.Reason, `user "nosuchuser" not found`) {
		t.Errorf("baduser: %+v", s)
	}
	for _, n := range []string{"cyc/a", "cyc/b"} {
		if s := e.wait(fm(n), graph.Maintenance, 5*time.Second); s.Aux != "dependency_cycle" || !strings.Contains(s.Reason, "svc:/cyc/a:default -> svc:/cyc/b:default -> svc:/cyc/a:default") {
			t.Errorf("%s: %+v", n, s)
		}
	}
	e.wait(fm("fine"), graph.Online, 5*time.Second)
	e.wait(fm("off"), graph.Disabled, time.Second)
	for _, n := range []string{"needs-absent", "needs-file"} {
		if s := e.status(fm(n)); s.State != graph.Offline {
			t.Errorf("%s: %+v", n, s)
		}
	}
	if r := e.r.Handle(&control.Request{Op: control.OpEnable, FMRIs: []string{"nope"}}); r.Error != "Pattern 'nope' doesn't match any instances" {
		t.Errorf("enable nope: %q", r.Error)
	}
}

func TestMilestone(t *testing.T) {
	e := newEnv(t,
		svc{name: "early", start: "sleep 300 &", extra: "<dependent name='x' grouping='optional_all' restart_on='none'><service_fmri value='svc:/milestone/single-user'/></dependent>\n"},
		svc{name: "late", start: "sleep 300 &", deps: []string{"require_all/none/svc:/milestone/multi-user"}},
	)
	e.wait(fm("late"), graph.Online, 5*time.Second)
	e.wait("svc:/milestone/multi-user-server:default", graph.Online, 5*time.Second)
	if r := e.r.Handle(&control.Request{Op: control.OpMilestone, Milestone: "single-user"}); r.Error != "" {
		t.Fatal(r.Error)
	}
	e.wait(fm("late"), graph.Offline, 5*time.Second)
	e.wait("svc:/milestone/multi-user:default", graph.Offline, 5*time.Second)
	e.wait(fm("early"), graph.Online, time.Second)
	e.r.Handle(&control.Request{Op: control.OpMilestone, Milestone: "all"})
	e.wait(fm("late"), graph.Online, 5*time.Second)
	if r := e.r.Handle(&control.Request{Op: control.OpMilestone, Milestone: "svc:/early"}); r.Error != `"svc:/early" is not a valid major milestone.` {
		t.Errorf("milestone early: %q", r.Error)
	}
}

// TestClearRecovers: a service that fails until it is fixed goes to
// maintenance; once fixed, svcadm clear brings it online.
func TestClearRecovers(t *testing.T) {
	d := t.TempDir()
	e := newEnv(t, svc{name: "needsfix", start: fmt.Sprintf("test -f %s/fixed || exit 1; sleep 300 &", d)})
	s := e.wait(fm("needsfix"), graph.Maintenance, 10*time.Second)
	if s.Aux != "fault_threshold_reached" || s.Reason != "Start method failed repeatedly, last exited with status 1." {
		t.Errorf("before the fix: %+v", s)
	}
	os.WriteFile(filepath.Join(d, "fixed"), nil, 0o644)
	e.do(control.OpClear, "needsfix")
	if s := e.wait(fm("needsfix"), graph.Online, 10*time.Second); s.Aux != "" || len(s.Pids) != 1 {
		t.Errorf("after clear: %+v", s)
	}
}

func TestMarkAndClear(t *testing.T) {
	e := newEnv(t,
		svc{name: "m", start: "sleep 300 &", stop: "sleep 300", stopTimeout: 4},
		svc{name: "dep", start: "sleep 300 &", deps: []string{"require_all/restart/svc:/m"}},
	)
	e.wait(fm("dep"), graph.Online, 10*time.Second)
	pids := e.status(fm("m")).Pids
	h := func(req control.Request) string { return e.r.Handle(&req).Error }
	if got := h(control.Request{Op: control.OpClear, FMRIs: []string{"m"}}); got != `Instance "svc:/m:default" is not in a maintenance or degraded state.` {
		t.Errorf("clear online: %q", got)
	}
	if got := h(control.Request{Op: control.OpMark, State: "degraded", Temporary: true, FMRIs: []string{"m"}}); got != "-t may not be used with degraded." {
		t.Errorf("mark -t degraded: %q", got)
	}
	if got := h(control.Request{Op: control.OpMark, State: "degraded", FMRIs: []string{"m"}}); got != "" {
		t.Fatal(got)
	}
	e.wait(fm("m"), graph.Degraded, time.Second)
	if s := e.status(fm("dep")); s.State != graph.Online {
		t.Errorf("dep of a degraded service: %+v", s)
	}
	e.do(control.OpClear, "m")
	e.wait(fm("m"), graph.Online, time.Second)
	// -I: no stop method (it would take 4 s), the processes are killed.
	start := time.Now()
	if got := h(control.Request{Op: control.OpMark, State: "maintenance", Immediate: true, Temporary: true, FMRIs: []string{"m"}}); got != "" {
		t.Fatal(got)
	}
	s := e.wait(fm("m"), graph.Maintenance, 10*time.Second)
	if took := time.Since(start); took > 2*time.Second || s.Aux != "administrative_request" {
		t.Errorf("mark -I maintenance took %v: %+v", took, s)
	}
	for _, p := range pids {
		if alive(p) {
			t.Errorf("pid %d survived mark -I", p)
		}
	}
	e.wait(fm("dep"), graph.Offline, 10*time.Second) // restart_on=restart: an administrative stop reaches it
	if got := h(control.Request{Op: control.OpRestart, FMRIs: []string{"lrc:/etc/rc_d/S10x"}}); got != `FMRI "lrc:/etc/rc_d/S10x" is a legacy service.` {
		t.Errorf("restart lrc: %q", got)
	}
	e.do(control.OpClear, "m")
	e.wait(fm("dep"), graph.Online, 10*time.Second)
}

// TestPersistentSettings: what svcadm sets without -t (enable, disable,
// mark maintenance, milestone -d) is there when the restarter starts
// again; temporary settings are not.
func TestPersistentSettings(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "repository.json")
	for _, s := range []svc{{name: "a", start: ":true"}, {name: "b", start: ":true"}, {name: "c", start: ":true"}} {
		os.WriteFile(filepath.Join(dir, s.name+".xml"), []byte(s.xml()), 0o644)
	}
	boot := func() *Restarter {
		r := New(Config{LogDir: filepath.Join(dir, "log"), StateFile: state})
		r.LoadDir(dir)
		return r
	}
	r := boot()
	for _, req := range []control.Request{
		{Op: control.OpMark, State: "maintenance", FMRIs: []string{"a"}},
		{Op: control.OpMark, State: "maintenance", Temporary: true, FMRIs: []string{"b"}},
		{Op: control.OpDisable, FMRIs: []string{"c"}},
		{Op: control.OpMilestone, Milestone: "single-user"},
	} {
		if resp := r.Handle(&req); resp.Error != "" {
			t.Fatalf("%+v: %s", req, resp.Error)
		}
	}
	r = boot()
	states := map[string]string{}
	for _, s := range r.Status() {
		states[s.FMRI] = s.State
	}
	if states[fm("a")] != graph.Maintenance || states[fm("b")] != graph.Uninitialized || r.milestone != "svc:/milestone/single-user:default" || r.insts[fm("c")].enabled {
		t.Errorf("after a restart: %v, milestone %s", states, r.milestone)
	}
	r.Handle(&control.Request{Op: control.OpMilestone, Milestone: "all", Temporary: true})
	if r = boot(); r.milestone != "svc:/milestone/single-user:default" {
		t.Errorf("a temporary milestone was kept: %s", r.milestone)
	}
}

// TestDelete: svccfg delete refuses a running instance unless forced,
// and a forced delete stops it first.
func TestDelete(t *testing.T) {
	e := newEnv(t, svc{name: "doomed", start: "sleep 300 &"})
	s := e.wait(fm("doomed"), graph.Online, 10*time.Second)
	if r := e.r.Handle(&control.Request{Op: control.OpDelete, FMRIs: []string{"doomed"}}); r.Error != `Instance "svc:/doomed:default" may not be deleted because it is running.  Use delete -f if necessary.` {
		t.Errorf("delete running: %q", r.Error)
	}
	if r := e.r.Handle(&control.Request{Op: control.OpDelete, FMRIs: []string{"doomed"}, Force: true}); r.Error != "" {
		t.Fatal(r.Error)
	}
	for deadline := time.Now().Add(10 * time.Second); e.status(fm("doomed")) != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still there: %+v", e.status(fm("doomed")))
		}
	}
	if alive(s.Pids[0]) {
		t.Errorf("pid %d survived the delete", s.Pids[0])
	}
}

// TestMemberKilled: a contract member killed from outside the service
// is a fault: the service is stopped and started again, unless
// startd/ignore_error lists signal.
func TestMemberKilled(t *testing.T) {
	ignore := "<property_group name='startd' type='framework'><propval name='ignore_error' type='astring' value='core,signal'/></property_group>\n"
	e := newEnv(t,
		svc{name: "strict", start: "sleep 300 & sleep 301 &"},
		svc{name: "lenient", start: "sleep 300 & sleep 301 &", extra: ignore},
	)
	for _, n := range []string{"strict", "lenient"} {
		s := e.wait(fm(n), graph.Online, 10*time.Second)
		if len(s.Pids) != 2 {
			t.Fatalf("%s: %+v", n, s)
		}
		syscallKill(s.Pids[0])
		// Until the restarter has seen the kill: the killed member gone,
		// and for strict the whole service started again.
		e.waitUntil(fm(n), graph.Online, 10*time.Second, func(st *control.Status) bool {
			return !slices.Contains(st.Pids, s.Pids[0]) && (n != "strict" || !slices.Contains(st.Pids, s.Pids[1]))
		})
		if n == "lenient" {
			// Given the time a restart would take, still the same.
			time.Sleep(500 * time.Millisecond)
			after := e.wait(fm(n), graph.Online, 10*time.Second)
			if !slices.Contains(after.Pids, s.Pids[1]) {
				t.Errorf("%s: pids %v, then %v", n, s.Pids, after.Pids)
			}
		}
		if n == "strict" && !strings.Contains(dumpLog(e, fm(n)), "Stopping because process received fatal signal from outside the service.") {
			t.Errorf("strict's log:\n%s", dumpLog(e, fm(n)))
		}
	}
}

// TestMethodContext: a method runs with its tokens expanded, SMF's
// environment, its own variables, working directory and credentials.
func TestMethodContext(t *testing.T) {
	d := t.TempDir()
	os.Chmod(d, 0o777) // the method runs as daemon
	os.Chmod(filepath.Dir(d), 0o711)
	out := filepath.Join(d, "out")
	ctx := `<method_context working_directory='/tmp'>
<method_credential user='daemon' group='nogroup'/>
<method_environment><envvar name='GREETING' value='hello there'/></method_environment>
</method_context>
<property_group name='config' type='application'><propval name='port' type='count' value='8080'/></property_group>
`
	start := "echo %m %s %i %f %r %{config/port} %% \"$SMF_FMRI $SMF_METHOD $SMF_RESTARTER $SMF_ZONENAME\" \"$GREETING\" $(pwd) $(id -u) $(id -g) $PATH > " + out
	e := newEnv(t, svc{name: "site/ctx", start: start, stop: ":true", duration: "transient", extra: ctx})
	e.wait(fm("site/ctx"), graph.Online, 5*time.Second)
	want := "start site/ctx default svc:/site/ctx:default svc.startd 8080 % svc:/site/ctx:default start svc:/system/svc/restarter:default test hello there /tmp 1 65534 /usr/sbin:/usr/bin:/sbin:/bin\n"
	if got, _ := os.ReadFile(out); string(got) != want {
		t.Errorf("method saw\n%q\nwant\n%q\nlog:\n%s", got, want, dumpLog(e, fm("site/ctx")))
	}
}

// TestEnableRecursive: enable -r enables what an instance requires, and
// not what it only optionally uses or excludes.
func TestEnableRecursive(t *testing.T) {
	dir := t.TempDir()
	off := false
	for _, s := range []svc{
		{name: "base", start: ":true", enabled: &off},
		{name: "mid", start: ":true", enabled: &off, deps: []string{"require_all/none/svc:/base"}},
		{name: "opt", start: ":true", enabled: &off},
		{name: "top", start: ":true", enabled: &off, deps: []string{"require_all/none/svc:/mid:default", "optional_all/none/svc:/opt"}},
	} {
		os.WriteFile(filepath.Join(dir, s.name+".xml"), []byte(s.xml()), 0o644)
	}
	r := New(Config{LogDir: filepath.Join(dir, "log")})
	r.LoadDir(dir)
	resp := r.Handle(&control.Request{Op: control.OpEnable, FMRIs: []string{"top"}, Recursive: true, Temporary: true})
	if resp.Error != "" || fmt.Sprint(resp.FMRIs) != "[svc:/top:default]" || fmt.Sprint(resp.Also) != "[svc:/base:default svc:/mid:default]" {
		t.Errorf("enable -r: %+v", resp)
	}
	for f, want := range map[string]bool{"top": true, "mid": true, "base": true, "opt": false} {
		if i := r.insts[fm(f)]; i.isEnabled() != want || i.enabled {
			t.Errorf("%s: enabled %v (permanently %v), want %v for now", f, i.isEnabled(), i.enabled, want)
		}
	}
}
