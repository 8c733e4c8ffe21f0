// Package graph is SMF's dependency graph: which instances depend on
// which, whether an instance's dependencies are satisfied, which
// dependents a stop or refresh reaches (restart_on), dependency cycles,
// and the set of instances a milestone needs. It is pure: states come
// from the caller.
package graph

import (
	"sort"
	"strings"

	"hull/internal/smf/manifest"
)

// States of an instance, as svcs prints them.
const (
	Uninitialized = "uninitialized"
	Offline       = "offline"
	Online        = "online"
	Degraded      = "degraded"
	Maintenance   = "maintenance"
	Disabled      = "disabled"
	LegacyRun     = "legacy_run"
)

// Running reports whether a state counts as running for dependencies.
func Running(s string) bool { return s == Online || s == Degraded }

// Graph holds the instances and their dependencies.
type Graph struct {
	deps     map[string][]*manifest.Dependency // instance → its dependencies
	services map[string][]string               // "svc:/a" → its instances
}

// New builds a graph from each instance's dependencies.
func New(deps map[string][]*manifest.Dependency) *Graph {
	g := &Graph{deps: deps, services: map[string][]string{}}
	for f := range deps {
		s := service(f)
		g.services[s] = append(g.services[s], f)
	}
	for _, l := range g.services {
		sort.Strings(l)
	}
	return g
}

func service(fmri string) string {
	if i := strings.LastIndexByte(fmri, ':'); i > 4 {
		return fmri[:i]
	}
	return fmri
}

// Instances lists every instance, sorted.
func (g *Graph) Instances() []string {
	var out []string
	for f := range g.deps {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// Has reports whether fmri is a known instance.
func (g *Graph) Has(fmri string) bool { _, ok := g.deps[fmri]; return ok }

// Deps returns an instance's dependencies.
func (g *Graph) Deps(fmri string) []*manifest.Dependency { return g.deps[fmri] }

// Resolve turns a cited service FMRI into the instances it names: the
// instance itself, or every instance of a service. Absent ones give nil.
func (g *Graph) Resolve(cited string) []string {
	if _, ok := g.deps[cited]; ok {
		return []string{cited}
	}
	return g.services[cited]
}

// edges are the instances fmri waits for (exclude_all and paths left out).
func (g *Graph) edges(fmri string) []string {
	var out []string
	for _, d := range g.deps[fmri] {
		if d.Grouping == manifest.ExcludeAll || d.Type == "path" {
			continue
		}
		for _, c := range d.FMRIs {
			out = append(out, g.Resolve(c)...)
		}
	}
	return out
}

// Cycles finds the dependency cycles, each as the path around it
// starting and ending at the same instance.
func (g *Graph) Cycles() [][]string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var out [][]string
	var visit func(f string)
	visit = func(f string) {
		color[f] = grey
		stack = append(stack, f)
		for _, n := range g.edges(f) {
			switch color[n] {
			case white:
				visit(n)
			case grey:
				for i := range stack {
					if stack[i] == n {
						cyc := append(append([]string(nil), stack[i:]...), n)
						out = append(out, cyc)
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[f] = black
	}
	for _, f := range g.Instances() {
		if color[f] == white {
			visit(f)
		}
	}
	return out
}

// InCycle maps each instance on a cycle to that cycle.
func (g *Graph) InCycle() map[string][]string {
	m := map[string][]string{}
	for _, c := range g.Cycles() {
		for _, f := range c {
			if m[f] == nil {
				m[f] = c
			}
		}
	}
	return m
}

// Dependents lists the instances with a dependency citing fmri (or its
// service), with that dependency.
func (g *Graph) Dependents(fmri string) []Edge {
	var out []Edge
	for _, f := range g.Instances() {
		for _, d := range g.deps[f] {
			for _, c := range d.FMRIs {
				if c == fmri || c == service(fmri) {
					out = append(out, Edge{From: f, Dep: d})
				}
			}
		}
	}
	return out
}

// Edge is a dependency of instance From.
type Edge struct {
	From string
	Dep  *manifest.Dependency
}

// Closure is the set of instances fmri needs, transitively, itself included.
func (g *Graph) Closure(fmri string) map[string]bool {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(f string) {
		if seen[f] {
			return
		}
		seen[f] = true
		for _, n := range g.edges(f) {
			walk(n)
		}
	}
	walk(fmri)
	return seen
}

// Event is what happened to a dependency, for restart_on.
type Event int

const (
	// StopError is a stop caused by an error (a crash, a failed method).
	StopError Event = iota
	// Stop is a stop for any other reason (restart, disable).
	Stop
	// Refresh is a refresh of the dependency.
	Refresh
)

// Propagates is SmartOS's restart_on table: whether a dependent whose
// dependency has this restart_on is stopped (and restarted) by ev.
func Propagates(restartOn string, ev Event) bool {
	switch restartOn {
	case manifest.RestartError:
		return ev == StopError
	case manifest.RestartRestart:
		return ev == StopError || ev == Stop
	case manifest.RestartRefresh:
		return true
	}
	return false
}

// Affected lists the running dependents that ev on fmri stops.
func (g *Graph) Affected(fmri string, ev Event, state func(string) string) []string {
	var out []string
	for _, e := range g.Dependents(fmri) {
		if e.Dep.Grouping == manifest.ExcludeAll || !Running(state(e.From)) {
			continue
		}
		if Propagates(e.Dep.RestartOn, ev) && !contains(out, e.From) {
			out = append(out, e.From)
		}
	}
	return out
}

// Excluded lists the running instances that fmri starting stops: those
// with an exclude_all dependency on it whose restart_on is not none.
func (g *Graph) Excluded(fmri string, state func(string) string) []string {
	var out []string
	for _, e := range g.Dependents(fmri) {
		if e.Dep.Grouping == manifest.ExcludeAll && e.Dep.RestartOn != manifest.RestartNone && Running(state(e.From)) && !contains(out, e.From) {
			out = append(out, e.From)
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
