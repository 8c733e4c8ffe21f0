package graph

import "hull/internal/smf/manifest"

// World is what dependency evaluation reads: each instance's state and
// whether a file exists.
type World struct {
	State  func(fmri string) string
	Exists func(path string) bool
}

// Unmet is a dependency that holds an instance back, with the cited
// FMRIs that fail it.
type Unmet struct {
	Dep    *manifest.Dependency
	Cited  []string
	Absent bool // a cited service does not exist
	// Hopeless: it cannot be met without an administrator's action.
	Hopeless bool
}

// Satisfied reports whether fmri's dependencies let it start, and which
// do not.
func (g *Graph) Satisfied(fmri string, w World) (bool, []Unmet) {
	var unmet []Unmet
	for _, d := range g.deps[fmri] {
		if u, ok := g.check(d, w, map[string]bool{fmri: true}); !ok {
			unmet = append(unmet, u)
		}
	}
	return len(unmet) == 0, unmet
}

// check evaluates one dependency.
func (g *Graph) check(d *manifest.Dependency, w World, seen map[string]bool) (Unmet, bool) {
	u := Unmet{Dep: d}
	met := 0
	hopeless := 0
	for _, c := range d.FMRIs {
		ok, hope, absent := g.cited(d, c, w, seen)
		if ok {
			met++
			continue
		}
		u.Cited = append(u.Cited, c)
		u.Absent = u.Absent || absent
		if hope {
			hopeless++
		}
	}
	n := len(d.FMRIs)
	switch d.Grouping {
	case manifest.RequireAny:
		if met > 0 || n == 0 {
			return u, true
		}
		u.Hopeless = hopeless == n
	default:
		if met == n {
			return u, true
		}
		u.Hopeless = hopeless > 0
	}
	return u, false
}

// cited evaluates one cited FMRI under a dependency: met, or not met and
// whether hopeless, and whether absent.
func (g *Graph) cited(d *manifest.Dependency, c string, w World, seen map[string]bool) (ok, hopeless, absent bool) {
	if d.Type == "path" {
		f, _ := manifest.ParseFMRI(c)
		exists := w.Exists(f.File)
		if d.Grouping == manifest.ExcludeAll {
			return !exists, true, false
		}
		return exists, true, !exists
	}
	insts := g.Resolve(c)
	if len(insts) == 0 {
		switch d.Grouping {
		case manifest.OptionalAll, manifest.ExcludeAll:
			return true, false, false
		}
		return false, true, true
	}
	switch d.Grouping {
	case manifest.ExcludeAll:
		for _, i := range insts {
			if s := w.State(i); s != Disabled && s != Maintenance {
				return false, true, false
			}
		}
		return true, false, false
	case manifest.OptionalAll:
		for _, i := range insts {
			if !Running(w.State(i)) && !g.Hopeless(i, w, seen) {
				return false, false, false
			}
		}
		return true, false, false
	}
	// require_all / require_any: a service is met when one of its
	// instances runs; hopeless when none can.
	all := true
	for _, i := range insts {
		if Running(w.State(i)) {
			return true, false, false
		}
		all = all && g.Hopeless(i, w, seen)
	}
	return false, all, false
}

// Hopeless reports whether an instance cannot come online without an
// administrator: disabled, in maintenance, or offline on dependencies
// that are themselves hopeless.
func (g *Graph) Hopeless(fmri string, w World, seen map[string]bool) bool {
	switch w.State(fmri) {
	case Disabled, Maintenance:
		return true
	case Offline:
	default:
		return false
	}
	if seen[fmri] {
		return false
	}
	seen[fmri] = true
	defer delete(seen, fmri)
	for _, d := range g.deps[fmri] {
		if u, ok := g.check(d, w, seen); !ok && u.Hopeless {
			return true
		}
	}
	return false
}
