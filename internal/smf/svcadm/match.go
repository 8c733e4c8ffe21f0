package svcadm

import (
	"strings"

	"hull/internal/smf/control"
	"hull/internal/smf/manifest"
)

func matches(pat, fmri string) bool { return manifest.Match(pat, fmri) }

// potential reports whether an instance can still come online without
// an administrator, as svcadm -s judges it (synch.c's has_potential):
// each dependency group must be satisfiable, looking through offline
// dependencies to theirs. Unlike SmartOS, a required dependency on a
// service that does not exist is hopeless (SmartOS waits forever).
func potential(s *control.Status, by map[string]*control.Status, seen map[string]bool) bool {
	if seen[s.FMRI] {
		return true // a cycle: the restarter puts it in maintenance
	}
	seen[s.FMRI] = true
	for _, d := range s.Deps {
		opt, excl := d.Grouping == "optional_all", d.Grouping == "exclude_all"
		ok := d.Grouping != "require_any" || len(d.FMRIs) == 0
		for k, c := range d.FMRIs {
			p := citedPotential(d, k, c, opt, excl, by, seen)
			if d.Grouping == "require_any" {
				ok = ok || p
				continue
			}
			if !p {
				return false
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// citedPotential judges one cited FMRI of a dependency.
func citedPotential(d control.Dep, k int, c string, opt, excl bool, by map[string]*control.Status, seen map[string]bool) bool {
	if d.Type == "path" {
		exists := k < len(d.States) && d.States[k] == "online"
		return exists != excl
	}
	if x := by[c]; x != nil {
		return instPotential(x, opt, excl, by, seen) != 0
	}
	var insts []*control.Status
	for f, x := range by {
		if strings.HasPrefix(f, c+":") {
			insts = append(insts, x)
		}
	}
	if len(insts) == 0 {
		return opt || excl
	}
	optBad := false
	for _, x := range insts {
		r := instPotential(x, opt, excl, by, seen)
		if excl {
			// exclude_all over a service: none of its instances may
			// be enabled and able to run.
			if r == 0 {
				return false
			}
			continue
		}
		if r == 1 {
			return true
		}
		optBad = optBad || opt && r == 0
	}
	return excl || opt && !optBad
}

// instPotential is 0 when a cited instance cannot satisfy the
// dependency, 1 when it can, and 2 when it satisfies an optional or
// exclude dependency only weakly (disabled, maintenance).
func instPotential(x *control.Status, opt, excl bool, by map[string]*control.Status, seen map[string]bool) int {
	weak := 0
	if opt || excl {
		weak = 2
	}
	switch {
	case !x.Enabled:
		return weak
	case opt && x.State == "offline":
		return 2
	case x.State == "maintenance":
		return weak
	case excl:
		return 0
	case x.State == "online" || x.State == "degraded":
		return 1
	case potential(x, by, seen):
		return 1
	}
	return 0
}
