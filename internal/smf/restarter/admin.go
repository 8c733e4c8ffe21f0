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
		err = r.setMilestone(req.Milestone, !req.Temporary)
	default:
		resp.FMRIs, resp.Also, err = r.verb(req)
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

// verb carries out an svcadm or svccfg request on the instances it
// names, and says which it acted on (and which else enable -r enabled).
func (r *Restarter) verb(req *control.Request) (done, also []string, err error) {
	for _, p := range req.FMRIs {
		if strings.HasPrefix(p, "lrc:") {
			return nil, nil, fmt.Errorf("FMRI \"%s\" is a legacy service.", p)
		}
	}
	insts, err := r.resolve(req.FMRIs, req.Op)
	if err != nil {
		return nil, nil, err
	}
	if req.Op == control.OpDelete && !req.Force {
		for _, i := range insts {
			if graph.Running(i.state) {
				return nil, nil, fmt.Errorf("Instance \"%s\" may not be deleted because it is running.  Use delete -f if necessary.", i.fmri)
			}
		}
	}
	for _, i := range insts {
		done = append(done, i.fmri)
		switch req.Op {
		case control.OpEnable:
			if req.Recursive {
				seen := map[string]bool{}
				r.enableRecursive(i, req.Temporary, seen)
				for f := range seen {
					if f != i.fmri {
						also = append(also, f)
					}
				}
				sort.Strings(also)
			} else {
				r.enable(i, true, req.Temporary)
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
				delete(r.st.Maintenance, i.fmri)
				r.logInst(i, "", "Leaving maintenance because clear requested.")
				r.setState(i, graph.Offline)
			case graph.Degraded:
				i.aux = ""
				r.setState(i, graph.Online)
			default:
				return done, also, fmt.Errorf("Instance \"%s\" is not in a maintenance or degraded state.", i.fmri)
			}
		case control.OpMark:
			if err := r.mark(i, req); err != nil {
				return done, also, err
			}
		case control.OpDelete:
			i.deleted = true
			r.st.Deleted[service(i.fmri)[5:]] = true
			delete(r.st.Imported, service(i.fmri)[5:])
			if graph.Running(i.state) {
				r.stopInst(i, graph.Stop, graph.Disabled)
			}
		default:
			return done, also, fmt.Errorf("unknown operation %q", req.Op)
		}
	}
	return done, also, r.save()
}

// mark forces an instance into maintenance or degraded (svcadm mark).
// Maintenance outlives a restart of the zone unless temporary (-t);
// immediate (-I) kills the instance's processes instead of running its
// stop method.
func (r *Restarter) mark(i *inst, req *control.Request) error {
	switch req.State {
	case graph.Maintenance:
		i.aux, i.reason = "administrative_request", "Maintenance requested by an administrator."
		if !req.Temporary {
			r.st.Maintenance[i.fmri] = true
		}
		switch {
		case graph.Running(i.state) && !i.busy:
			i.immediate = req.Immediate
			r.logInst(i, "", "Stopping for maintenance due to administrative request.")
			r.stopInst(i, graph.Stop, graph.Maintenance)
		case i.busy:
			i.pendingMaint = true // once the method under way is done
		default:
			r.setState(i, graph.Maintenance)
		}
	case graph.Degraded:
		if req.Temporary {
			return fmt.Errorf("-t may not be used with degraded.")
		}
		if i.state != graph.Online {
			return fmt.Errorf("Instance \"%s\" is not online.", i.fmri)
		}
		i.aux = "administrative_request"
		r.setState(i, graph.Degraded)
	default:
		return fmt.Errorf("invalid state %q: want maintenance or degraded", req.State)
	}
	return nil
}

// enableRecursive enables i and, as svcadm enable -r does, what it
// requires: require_all dependencies and require_any ones that name a
// single instance (optional_all and exclude_all are left alone).
func (r *Restarter) enableRecursive(i *inst, temporary bool, seen map[string]bool) {
	if seen[i.fmri] {
		return
	}
	seen[i.fmri] = true
	r.enable(i, true, temporary)
	for _, d := range r.g.Deps(i.fmri) {
		if d.Type != "service" || d.Grouping != manifest.RequireAll && d.Grouping != manifest.RequireAny {
			continue
		}
		var cited []string
		for _, c := range d.FMRIs {
			if f := r.g.Resolve(c); len(f) == 1 {
				cited = append(cited, f[0])
			}
		}
		if d.Grouping == manifest.RequireAny && len(cited) != 1 {
			continue
		}
		for _, f := range cited {
			if x := r.insts[f]; x != nil && !x.legacy {
				r.enableRecursive(x, temporary, seen)
			}
		}
	}
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
	c := i.cfg
	go func() {
		ct, err := r.cfg.Tracker.New(i.fmri + "-refresh")
		if err == nil {
			r.run(i, c, "refresh", m, ct)
			r.drain(i, ct, 0)
			ct.Close()
		}
		r.mu.Lock()
		i.busy = false
		r.kick()
		r.mu.Unlock()
	}()
}

// setMilestone restricts what runs to a milestone's closure; persist
// (svcadm milestone -d) makes it where the zone boots to.
func (r *Restarter) setMilestone(name string, persist bool) error {
	m, ok := manifest.MajorMilestone(name)
	if !ok {
		return fmt.Errorf("\"%s\" is not a valid major milestone.", name)
	}
	r.milestone = m
	if persist {
		r.st.Milestone = m
		if err := r.save(); err != nil {
			return err
		}
	}
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
			b := *r.bundles[name]
			b.Name = "export" // as svccfg export names every bundle
			return manifest.Export(&b), nil
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
		r.docs(s, i.cfg)
		if i.aux == "dependency_cycle" {
			s.Cycle = r.cycles[f]
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

// citedState is what svcs -l shows after a cited FMRI: a file's
// online or absent, an instance's state, a service's one instance's
// state, or multiple or absent.
func (r *Restarter) citedState(c string, w graph.World) string {
	if strings.HasPrefix(c, "file:") {
		f, _ := manifest.ParseFMRI(c)
		if w.Exists(f.File) {
			return graph.Online
		}
		return "absent"
	}
	switch insts := r.g.Resolve(c); len(insts) {
	case 0:
		return "absent"
	case 1:
		return w.State(insts[0])
	}
	return "multiple"
}

// docs fills in what svcs shows from an instance's configuration: its
// manual pages and links (the instance's template, else the
// service's) and its application properties.
func (r *Restarter) docs(s *control.Status, c *manifest.Config) {
	for _, t := range []*manifest.Template{instTemplate(c), svcTemplate(c)} {
		if t == nil || len(t.Manpages)+len(t.DocLinks) == 0 {
			continue
		}
		for _, m := range t.Manpages {
			s.Manpages = append(s.Manpages, control.Manpage{Title: m.Title, Section: m.Section, Manpath: m.Manpath})
		}
		for _, d := range t.DocLinks {
			s.DocLinks = append(s.DocLinks, d.URI)
		}
		break
	}
	var pgs []string
	for name, pg := range c.PropertyGroups {
		if pg.Type == "application" {
			pgs = append(pgs, name)
		}
	}
	sort.Strings(pgs)
	for _, name := range pgs {
		for _, p := range c.PropertyGroups[name].Props {
			s.Props = append(s.Props, control.Prop{Group: name, Name: p.Name, Type: p.Type, Values: p.Values})
		}
	}
}

func instTemplate(c *manifest.Config) *manifest.Template {
	if c.Instance == nil {
		return nil
	}
	return c.Instance.Template
}

func svcTemplate(c *manifest.Config) *manifest.Template {
	if c.Service == nil {
		return nil
	}
	return c.Service.Template
}
