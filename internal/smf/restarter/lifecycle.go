package restarter

import (
	"fmt"
	"syscall"
	"time"

	"hull/internal/smf/contract"
	"hull/internal/smf/graph"
	"hull/internal/smf/manifest"
)

// start runs an instance's start method (r.mu held; the method runs in
// the background).
func (r *Restarter) start(i *inst) {
	m, err := method(i, "start")
	if err != nil {
		r.maintenance(i, "method_failed", "Start method is missing.", "")
		return
	}
	ct, err := r.cfg.Tracker.New(i.fmri)
	if err != nil {
		r.maintenance(i, "method_failed", fmt.Sprintf("Could not make a contract: %v.", err), "")
		return
	}
	for _, x := range r.g.Excluded(i.fmri, r.world().State) {
		r.stopInst(r.insts[x], graph.Stop, graph.Offline)
	}
	i.busy, i.next, i.ct = true, graph.Online, ct
	dur := i.cfg.Duration()
	if dur == manifest.Child {
		r.startChild(i, m, ct)
		return
	}
	c := i.cfg
	go func() {
		o := r.run(i, c, "start", m, ct)
		r.mu.Lock()
		defer r.mu.Unlock()
		i.busy = false
		// A contract service whose processes are all gone is found by
		// checkContracts and restarted, as svc.startd does.
		if o.ok() && dur == manifest.Transient && len(ct.Pids()) == 0 {
			ct.Close() // nothing left to track
			i.ct = nil
		}
		if o.ok() {
			i.faults = 0
			r.setState(i, graph.Online)
			if i.pendingMaint {
				i.pendingMaint = false
				r.stopInst(i, graph.Stop, graph.Maintenance)
				return
			}
			// A start method that left nothing running: no later reap
			// would say so.
			r.checkEmpty(i)
			r.kick()
			return
		}
		i.pendingMaint = false
		r.startFailed(i, o)
		r.kick()
	}()
}

// startFailed applies the fault model to a failed start (r.mu held).
func (r *Restarter) startFailed(i *inst, o outcome) {
	ct := i.ct
	i.ct = nil
	if ct != nil {
		go func() { ct.Signal(syscall.SIGKILL); r.drain(i, ct, time.Second); ct.Close() }()
	}
	i.lastExit = o.code
	switch {
	case o.err != nil:
		r.maintenance(i, "method_failed", fmt.Sprintf("Start method failed: %v.", o.err), "")
		return
	case o.code == ExitFatal:
		r.maintenance(i, "method_failed", "Start method exited with $SMF_EXIT_ERR_FATAL.", "")
		return
	case o.code == ExitConfig:
		r.maintenance(i, "method_failed", "Start method exited with $SMF_EXIT_ERR_CONFIG.", "")
		return
	case o.code == ExitNoSMF || o.code == ExitPerm:
		r.maintenance(i, "method_failed", fmt.Sprintf("Start method %s.", o.smf()), "")
		return
	}
	i.faults++
	if i.faults >= FaultThreshold {
		r.maintenance(i, "fault_threshold_reached", fmt.Sprintf("Start method failed repeatedly, last %s.", o.smf()), "")
		return
	}
	r.cfg.Logf("svc.startd: %s: Method \"start\" %s; retrying.", i.fmri, o)
	i.retryAt = time.Now().Add(r.cfg.RetryDelay)
	r.setState(i, graph.Offline)
}

// maintenance puts an instance in maintenance (r.mu held).
func (r *Restarter) maintenance(i *inst, aux, reason, _ string) {
	i.aux, i.reason = aux, reason
	r.logInst(i, fmt.Sprintf("svc.startd: %s: %s Transitioning to maintenance.", i.fmri, reason), "%s", reason)
	wasRunning := graph.Running(i.state)
	r.setState(i, graph.Maintenance)
	if wasRunning {
		r.propagate(i, graph.StopError)
	}
}

// startChild runs a wait-style service: the start method is the
// service; it is online while it runs and restarted when it exits.
func (r *Restarter) startChild(i *inst, m *manifest.ExecMethod, ct contract.Contract) {
	pid, done, err := r.spawn(i, i.cfg, "start", m, ct)
	if err != nil {
		i.busy = false
		r.startFailed(i, outcome{code: -1, err: err})
		return
	}
	i.busy, i.childPid, i.faults = false, pid, 0
	r.setState(i, graph.Online)
	go func() {
		o := status(<-done)
		r.mu.Lock()
		defer r.mu.Unlock()
		if i.childPid != pid {
			return
		}
		i.childPid = 0
		if i.busy { // being stopped: the stop path finishes the job
			return
		}
		r.logInst(i, "", "Stopping because process %s.", o)
		r.exited(i, o, ChildPeriod)
	}()
}

// checkContracts finds running contract services whose processes have
// all exited.
func (r *Restarter) checkContracts() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, i := range r.insts {
		r.checkEmpty(i)
	}
}

// checkEmpty restarts a running contract service whose processes have
// all exited (r.mu held).
func (r *Restarter) checkEmpty(i *inst) {
	if i.busy || i.ct == nil || !graph.Running(i.state) || i.cfg.Duration() != manifest.Contract {
		return
	}
	if len(i.ct.Pids()) == 0 {
		r.logInst(i, "", "Stopping because all processes in service exited.")
		r.exited(i, outcome{code: 0}, CriticalPeriod)
	}
}

// exited handles a running service that stopped on its own: restart it
// unless it restarts too quickly (r.mu held).
func (r *Restarter) exited(i *inst, o outcome, period time.Duration) {
	ct := i.ct
	i.ct = nil
	if ct != nil {
		go func() { ct.Signal(syscall.SIGKILL); r.drain(i, ct, time.Second); ct.Close() }()
	}
	if o.code == ExitFatal || o.code == ExitConfig {
		r.maintenance(i, "method_failed", fmt.Sprintf("Start method %s.", o.smf()), "")
		return
	}
	r.propagate(i, graph.StopError)
	if r.tooQuick(i, period) {
		r.maintenance(i, "restarting_too_quickly", "Restarting too quickly.", "")
		return
	}
	r.setState(i, graph.Offline)
	r.kick()
}

// tooQuick records a restart and reports whether there have been
// startd/critical_failure_count (5) of them within
// critical_failure_period (600 s; def for child services) (r.mu held).
func (r *Restarter) tooQuick(i *inst, def time.Duration) bool {
	if i.cfg.Duration() != manifest.Child {
		def = CriticalPeriod
	}
	period := time.Duration(i.cfg.PropInt("startd", "critical_failure_period", int64(def/time.Second))) * time.Second
	count := int(i.cfg.PropInt("startd", "critical_failure_count", CriticalCount))
	now := time.Now()
	i.restarts = append(i.restarts, now)
	if len(i.restarts) > count {
		i.restarts = i.restarts[len(i.restarts)-count:]
	}
	if len(i.restarts) >= count && now.Sub(i.restarts[0]) < period {
		i.restarts = nil
		r.cfg.Logf("svc.startd: %s: Restarting too quickly, changing state to maintenance.", i.fmri)
		return true
	}
	return false
}

// memberEnded handles a contract member that this process reaped: a
// core dump, or death by a signal the restarter did not send, is a
// fault of the service (unless startd/ignore_error lists core or
// signal), which is stopped and started again as SmartOS's restarter
// does on a contract's core and signal events. Other processes' ends
// matter only when they empty the contract (checkContracts).
func (r *Restarter) memberEnded(e contract.Exit) {
	if e.Contract == 0 || !e.Status.Signaled() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var i *inst
	for _, x := range r.insts {
		if x.ct != nil && x.ct.ID() == e.Contract {
			i = x
		}
	}
	if i == nil || i.busy || !graph.Running(i.state) || i.cfg.Duration() != manifest.Contract {
		return
	}
	var why string
	switch {
	case e.Status.CoreDump() && !i.cfg.IgnoreError("core"):
		why = "Stopping because process dumped core."
	case !e.Status.CoreDump() && !i.cfg.IgnoreError("signal") && time.Since(i.signalled) > time.Second:
		why = "Stopping because process received fatal signal from outside the service."
	default:
		return
	}
	r.logInst(i, "", "%s", why)
	if r.tooQuick(i, CriticalPeriod) {
		i.aux, i.reason = "restarting_too_quickly", "Restarting too quickly."
		r.stopInst(i, graph.StopError, graph.Maintenance)
		return
	}
	r.stopInst(i, graph.StopError, graph.Offline)
}

// propagate stops the running dependents that restart_on says an event
// on i reaches; they start again when i is back (r.mu held).
func (r *Restarter) propagate(i *inst, ev graph.Event) {
	for _, f := range r.g.Affected(i.fmri, ev, r.world().State) {
		if d := r.insts[f]; d != nil && !d.busy {
			r.logInst(d, "", "Restarting because dependency %s stopped.", i.fmri)
			r.stopInst(d, graph.Stop, graph.Offline)
		}
	}
}

// stopInst runs the stop method, waits for the contract to empty and
// kills what is left, then moves to next (r.mu held).
func (r *Restarter) stopInst(i *inst, ev graph.Event, next string) {
	if i == nil || i.busy {
		return
	}
	i.busy, i.next = true, next
	r.propagate(i, ev)
	m, _ := method(i, "stop")
	ct := i.ct
	dur := i.cfg.Duration()
	kill := i.immediate
	if kill {
		i.immediate, m = false, nil
	}
	i.signalled = time.Now()
	c := i.cfg
	go func() {
		var o outcome
		to := defaultStopWait
		if m != nil {
			if t := timeout(m); t > 0 {
				to = t
			}
			sct, err := r.cfg.Tracker.New(i.fmri + "-stop")
			if err == nil {
				start := time.Now()
				o = r.run(i, c, "stop", m, sct)
				r.drain(i, sct, 0)
				sct.Close()
				to -= time.Since(start)
				if to < time.Second {
					to = time.Second
				}
			}
		} else if ct != nil && kill {
			ct.Signal(syscall.SIGKILL)
		} else if ct != nil {
			ct.Signal(syscall.SIGTERM)
		}
		if ct != nil && dur != manifest.Transient {
			r.drain(i, ct, to)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if ct != nil && (dur != manifest.Transient || len(ct.Pids()) == 0) {
			ct.Close()
		}
		i.ct, i.childPid, i.busy = nil, 0, false
		if m != nil && !o.ok() && !o.timedOut && next != graph.Maintenance {
			r.maintenance(i, "stop_method_failed", fmt.Sprintf("Stop method failed, %s.", o), "")
		} else {
			if next == graph.Maintenance {
				r.logInst(i, "", "%s", i.reason)
			}
			r.setState(i, next)
		}
		r.kick()
	}()
}
