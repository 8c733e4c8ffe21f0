// Package restarter is svc.startd as a library: it holds the instances
// of the imported manifests, starts them in dependency order (the
// independent ones in parallel), tracks their processes in contracts,
// applies SmartOS's fault model and restart_on propagation, and stops
// them in reverse dependency order. PID 1 duties (signals, shutdown,
// legacy rc scripts) live in package startd; the host can run a
// restarter for its own services without them.
package restarter

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"hull/internal/smf/contract"
	"hull/internal/smf/graph"
	"hull/internal/smf/manifest"
)

// Config is what a restarter needs from its environment.
type Config struct {
	LogDir   string // per-instance logs; /var/svc/log
	Zonename string
	// StateFile keeps administrative settings across restarts
	// (persistent enable/disable, imported manifests); "" keeps none.
	StateFile string
	Tracker   contract.Tracker
	Reaper    *contract.Reaper
	// Logf writes a line to the console.
	Logf func(format string, args ...any)
	// RetryDelay is the pause before retrying a failed start.
	RetryDelay time.Duration
	// Root is prepended to paths of path dependencies and the user
	// database ("" for /).
	Root string
}

// Restarter name, as methods see it in SMF_RESTARTER.
const Name = "svc:/system/svc/restarter:default"

// Fault model constants (svc.startd's).
const (
	FaultThreshold  = 3
	CriticalCount   = 5
	CriticalPeriod  = 600 * time.Second
	ChildPeriod     = time.Second
	defaultStopWait = 60 * time.Second
)

// SmartOS method exit codes.
const (
	ExitFatal     = 95
	ExitConfig    = 96
	ExitMonDegrad = 97
	ExitMonOff    = 98
	ExitNoSMF     = 99
	ExitPerm      = 100
)

// Restarter runs a set of service instances.
type Restarter struct {
	cfg       Config
	mu        sync.Mutex
	insts     map[string]*inst
	bundles   map[string]*manifest.Bundle // by service name, in import order
	order     []string
	g         *graph.Graph
	cycles    map[string][]string
	milestone string // "all", "none" or an instance FMRI
	started   bool   // Start was called: before, requests change settings only
	shutdown  bool
	timer     *time.Timer
	changed   chan struct{}
	st        persisted
	stop      chan struct{}
}

// inst is one instance's runtime state.
type inst struct {
	cfg      *manifest.Config
	fmri     string
	state    string
	next     string
	aux      string
	reason   string
	since    time.Time
	enabled  bool
	temp     *bool
	busy     bool
	ct       contract.Contract
	childPid int
	faults   int
	lastExit int
	restarts []time.Time
	retryAt  time.Time
	deleted  bool
	legacy   bool
	// immediate makes the next stop kill the processes instead of
	// running the stop method (svcadm mark -I).
	immediate bool
	// pendingMaint puts the instance in maintenance once the method
	// under way is done (svcadm mark while starting).
	pendingMaint bool
	// signalled is when the restarter last signalled the instance's
	// processes itself (a stop, :kill): their deaths are no fault.
	signalled time.Time
}

func (i *inst) isEnabled() bool {
	if i.temp != nil {
		return *i.temp
	}
	return i.enabled
}

// New makes a restarter with the built-in milestones and the saved
// administrative state. Nothing runs until Start.
func New(cfg Config) *Restarter {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = 200 * time.Millisecond
	}
	if cfg.LogDir == "" {
		cfg.LogDir = "/var/svc/log"
	}
	r := &Restarter{
		cfg: cfg, insts: map[string]*inst{}, bundles: map[string]*manifest.Bundle{},
		milestone: "all", changed: make(chan struct{}), stop: make(chan struct{}),
	}
	r.st = loadState(cfg.StateFile, cfg.Logf)
	if r.st.Milestone != "" {
		r.milestone = r.st.Milestone
	}
	b, err := manifest.Parse("builtin", []byte(builtinManifest))
	if err != nil {
		panic("smf: built-in manifest: " + err.Error())
	}
	r.addBundle(b)
	for name, xml := range r.st.Imported {
		if b, err := manifest.Parse(name, xml); err == nil {
			r.addBundle(b)
		}
	}
	return r
}

// AddBuiltin adds services that come with the zone rather than from
// its manifests: they are not saved with svccfg's imports (each start
// adds them anew) and are gone once svccfg deletes them.
func (r *Restarter) AddBuiltin(name string, data []byte) error {
	b, err := manifest.Parse(name, data)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range b.Services {
		if r.st.Deleted[s.Name] {
			return nil
		}
	}
	r.addBundle(b)
	return nil
}

// LoadDir imports every *.xml manifest under dir (recursively). Bad
// manifests are reported and skipped: the others still load.
func (r *Restarter) LoadDir(dir string) []error {
	var errs []error
	var files []string
	_ = walk(dir, &files)
	sort.Strings(files)
	for _, f := range files {
		b, err := manifest.ParseFile(f)
		if err != nil {
			r.cfg.Logf("svc.startd: %v", err)
			errs = append(errs, err)
			continue
		}
		r.mu.Lock()
		skip := false
		for _, s := range b.Services {
			skip = skip || r.st.Deleted[s.Name]
		}
		if !skip {
			r.addBundle(b)
		}
		r.mu.Unlock()
	}
	return errs
}

func walk(dir string, out *[]string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := dir + "/" + e.Name()
		if e.IsDir() {
			_ = walk(p, out)
		} else if len(p) > 4 && p[len(p)-4:] == ".xml" {
			*out = append(*out, p)
		}
	}
	return nil
}

// addBundle adds or updates a bundle's services (r.mu held, or before Start).
func (r *Restarter) addBundle(b *manifest.Bundle) {
	for _, s := range b.Services {
		one := &manifest.Bundle{Type: b.Type, Name: b.Name, Services: []*manifest.Service{s}}
		if _, ok := r.bundles[s.Name]; !ok {
			r.order = append(r.order, s.Name)
		}
		r.bundles[s.Name] = one
		for _, c := range s.Configs() {
			i := r.insts[c.FMRI]
			if i == nil {
				i = &inst{fmri: c.FMRI, state: graph.Uninitialized, next: "none", since: time.Now()}
				if r.st.Maintenance[c.FMRI] {
					i.state, i.aux, i.reason = graph.Maintenance, "administrative_request", "Maintenance requested by an administrator."
				}
				r.insts[c.FMRI] = i
				i.enabled = c.Enabled
				if e, ok := r.st.Enabled[c.FMRI]; ok {
					i.enabled = e
				}
			}
			i.cfg = c
			i.deleted = false
		}
	}
	r.rebuild()
}

// rebuild recomputes the graph: each instance's own dependencies plus
// those that <dependent> elements elsewhere add to it.
func (r *Restarter) rebuild() {
	extra := map[string][]*manifest.Dependency{}
	for _, name := range r.order {
		for target, ds := range r.bundles[name].Dependents() {
			extra[target] = append(extra[target], ds...)
		}
	}
	deps := map[string][]*manifest.Dependency{}
	for f, i := range r.insts {
		if i.legacy {
			continue
		}
		d := append([]*manifest.Dependency(nil), i.cfg.Dependencies...)
		d = append(d, extra[f]...)
		d = append(d, extra[service(f)]...)
		deps[f] = d
	}
	r.g = graph.New(deps)
	r.cycles = r.g.InCycle()
}

func service(fmri string) string {
	for k := len(fmri) - 1; k > 4; k-- {
		if fmri[k] == ':' {
			return fmri[:k]
		}
	}
	return fmri
}

// Start begins evaluating: enabled instances come up as their
// dependencies allow. It also watches contracts for emptiness.
func (r *Restarter) Start() {
	r.mu.Lock()
	for _, c := range r.cycles {
		r.cfg.Logf("svc.startd: dependency cycle: %s", cyclePath(c))
	}
	r.started = true
	r.kick()
	r.mu.Unlock()
	var reaped <-chan struct{}
	var orphans <-chan contract.Exit
	if r.cfg.Reaper != nil {
		reaped = r.cfg.Reaper.Subscribe()
		orphans = r.cfg.Reaper.Orphans(r.cfg.Tracker.Owner)
	}
	go r.watch(reaped, orphans)
}

// Watch intervals. New processes are looked for every scanEvery while
// processes are being made, backing off to scanIdle while none are (a
// look costs a read of /proc/loadavg unless one was made; the wake-up
// itself is most of what an idle zone's init spends). Contracts are
// checked for emptiness every checkEvery without a reaped child
// prompting it.
const (
	scanEvery  = 250 * time.Millisecond
	scanIdle   = 2 * time.Second
	checkEvery = 10 * time.Second
)

// watch keeps contracts current. A contract empties when its last
// process exits, and that process is this one's child by then (PID 1
// or a subreaper adopts every orphan), so a reap is what prompts the
// check; the slow tick is a backstop.
func (r *Restarter) watch(reaped <-chan struct{}, orphans <-chan contract.Exit) {
	every := scanEvery
	tick := time.NewTimer(every)
	defer tick.Stop()
	lastCheck := time.Now()
	for {
		check, ticked := false, false
		select {
		case <-r.stop:
			return
		case e := <-orphans:
			r.memberEnded(e)
			continue
		case <-reaped:
			check = true
		case now := <-tick.C:
			ticked = true
			check = now.Sub(lastCheck) >= checkEvery
		}
		switch {
		case r.cfg.Tracker.Scan():
			every = scanEvery
			tick.Reset(every)
		case ticked:
			every = min(2*every, scanIdle)
			tick.Reset(every)
		}
		if check {
			r.checkContracts()
			lastCheck = time.Now()
		}
	}
}

// Close stops the background watcher (instances are left as they are).
func (r *Restarter) Close() { close(r.stop) }

func cyclePath(c []string) string {
	s := ""
	for k, f := range c {
		if k > 0 {
			s += " -> "
		}
		s += f
	}
	return s
}

// setState records a state change (r.mu held) and wakes waiters.
func (r *Restarter) setState(i *inst, state string) {
	if i.state != state {
		r.logInst(i, "", "%s state changed from %s to %s", i.fmri, i.state, state)
	}
	i.state, i.next, i.since = state, "none", time.Now()
	close(r.changed)
	r.changed = make(chan struct{})
}

// Changed returns a channel closed at the next state change.
func (r *Restarter) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

func (r *Restarter) world() graph.World {
	return graph.World{
		State: func(f string) string {
			i := r.insts[f]
			switch {
			case i == nil:
				return ""
			case i.busy && graph.Running(i.state) && !graph.Running(i.next):
				// Stopping: it no longer satisfies its dependents, or
				// one stopped first would start again before it is down.
				return graph.Offline
			}
			return i.state
		},
		Exists: func(p string) bool { _, err := os.Stat(r.cfg.Root + p); return err == nil },
	}
}

// allowed reports whether the current milestone lets fmri run.
func (r *Restarter) allowed(fmri string) bool {
	switch r.milestone {
	case "all":
		return !r.shutdown
	case "none":
		return false
	}
	return r.g.Closure(r.milestone)[fmri]
}

// kick evaluates every instance (r.mu held): it moves states along and
// starts or stops what it can.
func (r *Restarter) kick() {
	if !r.started {
		return
	}
	now := time.Now()
	var wake time.Time
	for _, f := range r.g.Instances() {
		i := r.insts[f]
		if i == nil || i.busy || i.legacy {
			continue
		}
		if i.deleted && !graph.Running(i.state) {
			delete(r.insts, f)
			r.rebuild()
			continue
		}
		en := i.isEnabled() && !i.deleted
		switch i.state {
		case graph.Uninitialized, graph.Disabled:
			if en {
				r.setState(i, graph.Offline)
			} else if i.state == graph.Uninitialized {
				r.setState(i, graph.Disabled)
			}
		case graph.Maintenance:
			if !en {
				r.setState(i, graph.Disabled)
			}
		}
		switch i.state {
		case graph.Offline:
			if !en {
				r.setState(i, graph.Disabled)
				continue
			}
			if cyc := r.cycles[f]; cyc != nil {
				i.aux = "dependency_cycle"
				i.reason = "Dependency cycle: " + cyclePath(cyc) + "."
				r.cfg.Logf("svc.startd: Transitioning %s to maintenance because it completes a dependency cycle (see svcs -xv for details)", f)
				r.setState(i, graph.Maintenance)
				continue
			}
			if !r.allowed(f) {
				continue
			}
			if ok, _ := r.g.Satisfied(f, r.world()); !ok {
				continue
			}
			if now.Before(i.retryAt) {
				if wake.IsZero() || i.retryAt.Before(wake) {
					wake = i.retryAt
				}
				continue
			}
			r.start(i)
		case graph.Online, graph.Degraded:
			if en && r.allowed(f) {
				continue
			}
			if !en && r.allowed(f) || r.dependentsStopped(f) {
				next := graph.Offline
				if !en {
					next = graph.Disabled
				}
				r.stopInst(i, graph.Stop, next)
			}
		}
	}
	if !wake.IsZero() {
		if r.timer != nil {
			r.timer.Stop()
		}
		r.timer = time.AfterFunc(time.Until(wake), func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.kick()
		})
	}
}

// dependentsStopped reports whether nothing that depends on fmri still
// runs: outside the milestone, instances stop in reverse dependency order.
func (r *Restarter) dependentsStopped(fmri string) bool {
	for _, e := range r.g.Dependents(fmri) {
		if e.Dep.Grouping == manifest.ExcludeAll {
			continue
		}
		if d := r.insts[e.From]; d != nil && d.fmri != fmri && (d.busy || graph.Running(d.state)) {
			return false
		}
	}
	return true
}

// Idle reports whether nothing is starting or stopping and nothing that
// is enabled and allowed waits only for time.
func (r *Restarter) Idle() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, i := range r.insts {
		if i.busy {
			return false
		}
	}
	return true
}

// Shutdown stops every instance in reverse dependency order and waits
// until they are stopped or timeout passes.
func (r *Restarter) Shutdown(timeout time.Duration) error {
	r.mu.Lock()
	r.shutdown = true
	r.milestone = "none"
	r.kick()
	r.mu.Unlock()
	deadline := time.After(timeout)
	for {
		ch := r.Changed()
		r.mu.Lock()
		running := 0
		for _, i := range r.insts {
			if !i.legacy && (i.busy || graph.Running(i.state)) {
				running++
			}
		}
		r.mu.Unlock()
		if running == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-time.After(100 * time.Millisecond):
			r.mu.Lock()
			r.kick()
			r.mu.Unlock()
		case <-deadline:
			return fmt.Errorf("%d services still running after %v", running, timeout)
		}
	}
}
