package restarter

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"hull/internal/smf/control"
	"hull/internal/smf/graph"
	"hull/internal/smf/manifest"
)

// Handle serves one control request.
func (r *Restarter) Handle(req *control.Request) *control.Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	resp := &control.Response{}
	var err error
	switch req.Op {
	case control.OpStatus:
		resp.Instances = r.statusLocked()
		resp.Milestone = r.milestone
	case control.OpImport:
		err = r.importLocked(req.Name, req.Manifest)
	case control.OpExport:
		resp.Manifest, err = r.exportLocked(req.FMRIs)
	case control.OpMilestone:
		err = r.setMilestone(req.Milestone)
	default:
		err = r.verb(req)
	}
	if err != nil {
		resp.Error = err.Error()
	}
	if err == nil && req.Op != control.OpStatus && req.Op != control.OpExport {
		r.kick()
	}
	return resp
}

// resolve maps FMRIs given to a verb to exactly one instance each.
func (r *Restarter) resolve(pats []string, verb string) ([]*inst, error) {
	var out []*inst
	for _, p := range pats {
		var m []*inst
		for _, f := range r.sortedFMRIs() {
			if manifest.Match(p, f) && !r.insts[f].legacy {
				m = append(m, r.insts[f])
			}
		}
		switch {
		case len(m) == 0:
			return nil, fmt.Errorf("Pattern '%s' doesn't match any instances", p)
		case len(m) > 1 && verb != control.OpDelete:
			var names []string
			for _, i := range m {
				names = append(names, "\t"+i.fmri)
			}
			return nil, fmt.Errorf("Pattern '%s' matches multiple instances:\n%s", p, strings.Join(names, "\n"))
		}
		out = append(out, m...)
	}
	return out, nil
}

func (r *Restarter) sortedFMRIs() []string {
	var out []string
	for f := range r.insts {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func (r *Restarter) verb(req *control.Request) error {
	insts, err := r.resolve(req.FMRIs, req.Op)
	if err != nil {
		return err
	}
	for _, i := range insts {
		switch req.Op {
		case control.OpEnable:
			r.enable(i, true, req.Temporary)
			if req.Recursive {
				for f := range r.g.Closure(i.fmri) {
					if d := r.insts[f]; d != nil {
						r.enable(d, true, req.Temporary)
					}
				}
			}
		case control.OpDisable:
			r.enable(i, false, req.Temporary)
		case control.OpRestart:
			if graph.Running(i.state) && !i.busy {
				r.logInst(i, "", "Stopping because of an administrative request (restart).")
				r.stopInst(i, graph.Stop, graph.Offline)
			}
		case control.OpRefresh:
			r.refresh(i)
		case control.OpClear:
			switch i.state {
			case graph.Maintenance:
				i.faults, i.restarts, i.aux, i.reason, i.retryAt = 0, nil, "", "", time.Time{}
				r.setState(i, graph.Offline)
			case graph.Degraded:
				r.setState(i, graph.Online)
			}
		case control.OpMark:
			switch req.State {
			case graph.Maintenance:
				i.aux, i.reason = "administrative_request", "Maintenance requested by an administrator."
				if graph.Running(i.state) {
					r.stopInst(i, graph.Stop, graph.Maintenance)
				} else if !i.busy {
					r.setState(i, graph.Maintenance)
				}
			case graph.Degraded:
				if i.state != graph.Online {
					return fmt.Errorf("Instance \"%s\" is not online.", i.fmri)
				}
				i.aux = "administrative_request"
				r.setState(i, graph.Degraded)
			default:
				return fmt.Errorf("invalid state %q: want maintenance or degraded", req.State)
			}
		case control.OpDelete:
			i.deleted = true
			r.st.Deleted[service(i.fmri)[5:]] = true
			delete(r.st.Imported, service(i.fmri)[5:])
			if graph.Running(i.state) {
				r.stopInst(i, graph.Stop, graph.Disabled)
			}
		default:
			return fmt.Errorf("unknown operation %q", req.Op)
		}
	}
	return r.save()
}

func (r *Restarter) enable(i *inst, on, temporary bool) {
	if temporary {
		i.temp = &on
		return
	}
	i.temp = nil
	i.enabled = on
	r.st.Enabled[i.fmri] = on
	if on && i.state == graph.Disabled {
		i.aux, i.reason = "", ""
	}
}

// refresh runs the refresh method of a running instance and passes the
// refresh on to dependents with restart_on="refresh".
func (r *Restarter) refresh(i *inst) {
	if !graph.Running(i.state) || i.busy {
		return
	}
	r.propagate(i, graph.Refresh)
	m, err := method(i, "refresh")
	if err != nil {
		return
	}
	i.busy = true
	go func() {
		ct, err := r.cfg.Tracker.New(i.fmri + "-refresh")
		if err == nil {
			r.run(i, "refresh", m, ct)
			r.drain(i, ct, 0)
			ct.Close()
		}
		r.mu.Lock()
		i.busy = false
		r.kick()
		r.mu.Unlock()
	}()
}

func (r *Restarter) setMilestone(m string) error {
	switch m {
	case "all", "none":
	case "single-user", "multi-user", "multi-user-server":
		m = "svc:/milestone/" + m + ":default"
	default:
		c := manifest.Canonical(m)
		if !strings.Contains(c[5:], ":") {
			c += ":default"
		}
		if i := r.insts[c]; i == nil || i.cfg.Service.Type != "milestone" {
			return fmt.Errorf("\"%s\" is not a valid milestone.", m)
		}
		m = c
	}
	r.milestone = m
	r.cfg.Logf("svc.startd: Changing to milestone %s.", m)
	return nil
}

// Import adds a manifest, as svccfg import does.
func (r *Restarter) Import(name string, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.importLocked(name, data); err != nil {
		return err
	}
	r.kick()
	return nil
}

func (r *Restarter) importLocked(name string, data []byte) error {
	b, err := manifest.Parse(name, data)
	if err != nil {
		return err
	}
	r.addBundle(b)
	for _, s := range b.Services {
		r.st.Imported[s.Name] = manifest.Export(&manifest.Bundle{Type: b.Type, Name: b.Name, Services: []*manifest.Service{s}})
		delete(r.st.Deleted, s.Name)
	}
	for _, c := range r.g.Cycles() {
		r.cfg.Logf("svc.startd: dependency cycle: %s", cyclePath(c))
	}
	return r.save()
}

func (r *Restarter) exportLocked(pats []string) ([]byte, error) {
	if len(pats) != 1 {
		return nil, fmt.Errorf("export needs one service")
	}
	p := strings.TrimPrefix(manifest.Canonical(pats[0]), "svc:/")
	for _, name := range r.order {
		if name == p || strings.HasSuffix(name, "/"+p) {
			return manifest.Export(r.bundles[name]), nil
		}
	}
	return nil, fmt.Errorf("Pattern '%s' doesn't match any services", pats[0])
}

// AddLegacy shows an rc script as a legacy_run instance.
func (r *Restarter) AddLegacy(fmri string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.insts[fmri] = &inst{fmri: fmri, state: graph.LegacyRun, next: "none", since: time.Now(), legacy: true, enabled: true,
		cfg: &manifest.Config{FMRI: fmri}}
}

// Status lists every instance.
func (r *Restarter) Status() []*control.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.statusLocked()
}

func (r *Restarter) statusLocked() []*control.Status {
	w := r.world()
	var out []*control.Status
	for _, f := range r.sortedFMRIs() {
		i := r.insts[f]
		s := &control.Status{
			FMRI: f, State: i.state, NextState: i.next, Aux: i.aux, Reason: i.reason, STime: i.since,
			Enabled: i.isEnabled(), Temporary: i.temp != nil && *i.temp != i.enabled,
			Name: i.cfg.CommonName, Description: i.cfg.Description, LastExit: i.lastExit,
		}
		if i.legacy {
			out = append(out, s)
			continue
		}
		s.Restarter = Name
		s.Log = r.logPath(i)
		if i.ct != nil {
			s.Contract = i.ct.ID()
			s.Pids = i.ct.Pids()
			sort.Ints(s.Pids)
		}
		if i.cfg.Service != nil && i.cfg.Service.Template != nil {
			s.Manpages = i.cfg.Service.Template.Manpages
		}
		for _, d := range r.g.Deps(f) {
			dep := control.Dep{Name: d.Name, Grouping: d.Grouping, RestartOn: d.RestartOn, Type: d.Type, FMRIs: d.FMRIs}
			for _, c := range d.FMRIs {
				dep.States = append(dep.States, r.citedState(c, w))
			}
			s.Deps = append(s.Deps, dep)
		}
		out = append(out, s)
	}
	return out
}

func (r *Restarter) citedState(c string, w graph.World) string {
	if strings.HasPrefix(c, "file:") {
		f, _ := manifest.ParseFMRI(c)
		if w.Exists(f.File) {
			return graph.Online
		}
		return "absent"
	}
	insts := r.g.Resolve(c)
	if len(insts) == 0 {
		return "absent"
	}
	best := ""
	for _, x := range insts {
		s := w.State(x)
		if graph.Running(s) || best == "" {
			best = s
		}
	}
	return best
}
