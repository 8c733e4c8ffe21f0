package svcs

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"hull/internal/smf/control"
)

// msgBase is where svcs -x's message ids are explained.
const msgBase = "http://illumos.org/msg/"

// SmartOS's diagnosis codes for svcs -x.
const (
	dcDisabled     = "SMF-8000-05"
	dcTempDisabled = "SMF-8000-1S"
	dcUninit       = "SMF-8000-4D"
	dcAdminMaint   = "SMF-8000-63"
	dcMethFail     = "SMF-8000-8Q"
	dcNone         = "SMF-8000-9C"
	dcUnknown      = "SMF-8000-AR"
	dcStarting     = "SMF-8000-C4"
	dcAdminDegr    = "SMF-8000-DX"
	dcDepAbsent    = "SMF-8000-E2"
	dcDepRunning   = "SMF-8000-FJ"
	dcDepOther     = "SMF-8000-GE"
	dcDepCycle     = "SMF-8000-HP"
	dcStartFail    = "SMF-8000-KS"
	dcTooQuickly   = "SMF-8000-L5"
	dcInvalidState = "SMF-8000-N3"
	dcTransition   = "SMF-8000-PH"
)

// node is an instance under svcs -x's analysis (explain.c's inst_t):
// why it is not running (its root causes, each with the dependency the
// path to it starts with), and what it keeps from running.
type node struct {
	s          *control.Status
	active     bool // on the walk's stack (cycle detection)
	analysed   bool
	causes     []cause
	baddeps    []string
	dependents []*node // offline because of this one, directly
	impact     []*node
	impactDone bool
}

type cause struct {
	n       *node
	nextHop *node // the dependency through which n holds this one back
}

// analysis is one run of svcs -x over every instance.
type analysis struct {
	nodes  map[string]*node
	order  []*node
	causes []*node // the root causes, in the order found
	stderr io.Writer
}

func newAnalysis(all []*control.Status, stderr io.Writer) *analysis {
	a := &analysis{nodes: map[string]*node{}, stderr: stderr}
	for _, s := range all {
		if s.State == "legacy_run" {
			continue
		}
		n := &node{s: s}
		a.nodes[s.FMRI] = n
		a.order = append(a.order, n)
	}
	for _, n := range a.order {
		a.determineCauses(n, false)
	}
	return a
}

func running(state string) bool { return state == "online" || state == "degraded" }

func addNode(l []*node, n *node) []*node {
	for _, x := range l {
		if x == n {
			return l
		}
	}
	return append(l, n)
}

func (n *node) hasCause(c *node) bool {
	for _, x := range n.causes {
		if x.n == c {
			return true
		}
	}
	return false
}

func (n *node) selfCause() { n.causes = append(n.causes, cause{n: n}) }

// determineCauses finds why n is not running. canFail says whether a
// cycle may abort the caller's analysis.
func (a *analysis) determineCauses(n *node, canFail bool) bool {
	if n.active {
		fmt.Fprintf(a.stderr, "Dependency cycle detected:\n  %s\n", n.s.FMRI)
		return !canFail
	}
	if n.analysed {
		return true
	}
	n.analysed = true
	s := n.s
	switch {
	case running(s.State) || s.State == "uninitialized":
		n.selfCause()
		return true
	case s.State == "maintenance":
		n.selfCause()
		a.causes = addNode(a.causes, n)
		return true
	case s.State == "disabled":
		n.selfCause()
		if s.Enabled {
			a.causes = addNode(a.causes, n)
		}
		return true
	case s.State != "offline":
		fmt.Fprintf(a.stderr, "%s has invalid state \"%s\".\n", s.FMRI, s.State)
		fallthrough
	case transit(s):
		n.selfCause()
		a.causes = addNode(a.causes, n)
		return true
	}
	n.active = true
	defer func() { n.active = false }()
	for _, d := range s.Deps {
		if d.Type == "path" {
			a.fileDeps(n, d)
			continue
		}
		if !a.serviceDeps(n, d) {
			if len(n.causes) == 0 {
				n.selfCause()
				a.causes = addNode(a.causes, n)
			}
			return !canFail
		}
	}
	if len(n.causes) == 0 {
		// Missing dependencies, or nothing known holds it back.
		n.selfCause()
		a.causes = addNode(a.causes, n)
	}
	return true
}

// addCauses makes src's causes dst's too, with src as the next hop.
func (a *analysis) addCauses(dst, src *node) bool {
	if !a.determineCauses(src, true) {
		fmt.Fprintf(a.stderr, "  %s\n", dst.s.FMRI)
		return false
	}
	src.dependents = addNode(src.dependents, dst)
	for _, c := range src.causes {
		if !dst.hasCause(c.n) {
			dst.causes = append(dst.causes, cause{n: c.n, nextHop: src})
			a.causes = addNode(a.causes, c.n)
		}
	}
	return true
}

// instances resolves a cited FMRI: the instance, or a service's
// instances; ok is false when nothing by that name exists.
func (a *analysis) instances(c string) (insts []*node, exact, ok bool) {
	if n := a.nodes[c]; n != nil {
		return []*node{n}, true, true
	}
	for _, n := range a.order {
		if strings.HasPrefix(n.s.FMRI, c+":") {
			insts = append(insts, n)
		}
	}
	return insts, false, len(insts) > 0
}

// serviceDeps analyses one service dependency group of n (explain.c's
// process_*); false means a cycle ended the analysis.
func (a *analysis) serviceDeps(n *node, d control.Dep) bool {
	if d.Grouping == "require_any" {
		for _, c := range d.FMRIs {
			insts, _, _ := a.instances(c)
			for _, x := range insts {
				if running(x.s.State) {
					return true
				}
			}
		}
	}
	for _, c := range d.FMRIs {
		insts, exact, ok := a.instances(c)
		if !ok {
			if d.Grouping == "require_all" || d.Grouping == "require_any" {
				n.baddeps = append(n.baddeps, c)
			}
			continue
		}
		if d.Grouping == "require_all" && !exact {
			up := false
			for _, x := range insts {
				up = up || running(x.s.State)
			}
			if up {
				continue
			}
		}
		for _, x := range insts {
			var blocks bool
			switch d.Grouping {
			case "require_all", "require_any":
				blocks = !running(x.s.State)
			case "optional_all":
				blocks = x.s.Enabled && !running(x.s.State) && x.s.State != "maintenance"
			case "exclude_all":
				blocks = running(x.s.State)
			}
			if blocks && !a.addCauses(n, x) {
				return false
			}
		}
	}
	return true
}

// fileDeps analyses a path dependency group: the files that hold n
// back are its bad dependencies.
func (a *analysis) fileDeps(n *node, d control.Dep) {
	var missing []string
	any := false
	for k, c := range d.FMRIs {
		exists := k < len(d.States) && d.States[k] == "online"
		switch d.Grouping {
		case "require_all", "optional_all":
			if !exists {
				n.baddeps = append(n.baddeps, c)
			}
		case "require_any":
			any = any || exists
			if !exists {
				missing = append(missing, c)
			}
		case "exclude_all":
			if exists {
				n.baddeps = append(n.baddeps, c)
			}
		}
	}
	if d.Grouping == "require_any" && !any {
		n.baddeps = append(n.baddeps, missing...)
	}
}

// determineImpact collects the instances n keeps from running.
func (a *analysis) determineImpact(n *node) bool {
	if n.active {
		fmt.Fprintf(a.stderr, "Dependency cycle detected:\n  %s\n", n.s.FMRI)
		return false
	}
	if n.impactDone {
		return true
	}
	n.impactDone = true
	n.active = true
	defer func() { n.active = false }()
	for _, d := range n.dependents {
		if !a.determineImpact(d) {
			fmt.Fprintf(a.stderr, "  %s\n", n.s.FMRI)
			return false
		}
		n.impact = addNode(n.impact, d)
		for _, x := range d.impact {
			n.impact = addNode(n.impact, x)
		}
	}
	return true
}

// summary is how a cause is described after "Service <fmri>".
func (n *node) describe() string {
	s := n.s
	switch {
	case running(s.State):
		return "is running."
	case s.State == "uninitialized":
		return "is uninitialized."
	case s.State == "disabled" && s.Temporary:
		return "is temporarily disabled."
	case s.State == "disabled":
		return "is disabled."
	case s.State == "offline" && len(n.baddeps) > 0:
		return "has missing dependencies."
	case s.State == "offline" && s.NextState == "online":
		return "is starting."
	case s.State == "offline":
		return "is offline."
	case s.State == "maintenance":
		switch s.Aux {
		case "administrative_request":
			return "was taken down for maintenace by an administrator."
		case "dependency_cycle":
			return "completed a dependency cycle."
		case "fault_threshold_reached":
			return "is not running because a method failed repeatedly."
		case "method_failed":
			return "is not running because a method failed."
		case "none":
			return "is not running for an unknown reason."
		case "restarting_too_quickly":
			return "was restarting too quickly."
		}
		return "requires maintenance."
	}
	return "is in an invalid state."
}

// explain prints svcs -x: for each selected instance (or each root
// cause of an instance not running, most impact first) its state, why,
// where to read more, and what it keeps from running.
func explain(env Env, o *opts, all, sel []*control.Status, selected bool) {
	a := newAnalysis(all, env.Stderr)
	var show []*node
	if selected {
		for _, s := range sel {
			if n := a.nodes[s.FMRI]; n != nil {
				show = append(show, n)
			}
		}
	} else {
		for _, n := range a.causes {
			a.determineImpact(n)
		}
		show = append(show, a.causes...)
		sort.SliceStable(show, func(i, j int) bool { return len(show[i].impact) > len(show[j].impact) })
	}
	for k, n := range show {
		if k > 0 {
			fmt.Fprintln(env.Stdout)
		}
		a.print(env.Stdout, o, n)
	}
}

func (a *analysis) print(w io.Writer, o *opts, n *node) {
	s := n.s
	name := s.Name
	if name == "" {
		name = "?"
	}
	fmt.Fprintf(w, "%s (%s)\n", s.FMRI, name)
	if o.zone != "" {
		fmt.Fprintf(w, "  Zone: %s\n", o.zone)
	}
	fmt.Fprintf(w, " State: %s since %s\n", s.State, s.STime.Format("Mon Jan _2 15:04:05 2006"))
	a.reasons(w, n, o.verbose)
	for _, m := range s.Manpages {
		switch {
		case !o.verbose:
			fmt.Fprintf(w, "   See: %s(%s)\n", m.Title, m.Section)
		case m.Manpath != "":
			path := m.Manpath
			if path == ":default" {
				path = "/usr/share/man"
			}
			fmt.Fprintf(w, "   See: man -M %s -s %s %s\n", path, m.Section, m.Title)
		}
	}
	for _, l := range s.DocLinks {
		fmt.Fprintf(w, "   See: %s\n", l)
	}
	if s.Log != "" {
		fmt.Fprintf(w, "   See: %s\n", o.zoneRoot+s.Log)
	}
	a.determineImpact(n)
	switch k := len(n.impact); {
	case k == 0 && running(s.State):
		fmt.Fprintln(w, "Impact: None.")
	case k == 0:
		fmt.Fprintln(w, "Impact: This service is not running.")
	case o.verbose:
		fmt.Fprintf(w, "Impact: %d dependent service%s not running:\n", k, plural(k))
		for _, x := range n.impact {
			fmt.Fprintf(w, "        %s\n", x.s.FMRI)
		}
	default:
		fmt.Fprintf(w, "Impact: %d dependent service%s not running.  (Use -v for list.)\n", k, plural(k))
	}
}

func plural(n int) string {
	if n == 1 {
		return " is"
	}
	return "s are"
}

// reasons prints the Reason lines and their message ids.
func (a *analysis) reasons(w io.Writer, n *node, verbose bool) {
	s := n.s
	reason, dc := "", ""
	switch s.State {
	case "online":
		return
	case "uninitialized":
		reason, dc = "Restarter "+orDefault(s.Restarter)+" has not initialized service state.", dcUninit
	case "disabled":
		reason, dc = "Disabled by an administrator.", dcDisabled
		if s.Temporary {
			reason, dc = "Temporarily disabled by an administrator.", dcTempDisabled
		}
	case "maintenance":
		reason, dc = maintenanceReason(s, verbose)
	case "offline":
		switch {
		case s.NextState == "online":
			reason, dc = "Start method is running.", dcStarting
		case !transit(s):
			a.dependencyReasons(w, n, verbose)
			return
		default:
			reason, dc = "Transitioning to state "+s.NextState+".", dcTransition
		}
	case "degraded":
		reason, dc = "Degraded by an administrator.", dcAdminDegr
	default:
		reason, dc = "Not in valid state ("+s.State+").", dcInvalidState
	}
	fmt.Fprintf(w, "Reason: %s\n   See: %s%s\n", reason, msgBase, dc)
}

// maintenanceReason says why an instance is in maintenance; the
// restarter words method failures as SmartOS does ("Start method failed
// repeatedly, last exited with status 1.").
func maintenanceReason(s *control.Status, verbose bool) (string, string) {
	switch s.Aux {
	case "administrative_request":
		return "Maintenance requested by an administrator.", dcAdminMaint
	case "dependency_cycle":
		r := "Completes a dependency cycle."
		if verbose && len(s.Cycle) > 0 {
			r += "\n  Cycle: " + strings.Join(s.Cycle, " -> ")
		}
		return r, dcDepCycle
	case "fault_threshold_reached", "method_failed":
		if s.Reason == "" {
			if s.Aux == "fault_threshold_reached" {
				return "Method failed repeatedly.", dcMethFail
			}
			return "Method failed.", dcMethFail
		}
		return strings.TrimPrefix(s.Reason, "Reason: "), dcStartFail
	case "restarting_too_quickly":
		return "Restarting too quickly.", dcTooQuickly
	case "none":
		return "Restarter " + orDefault(s.Restarter) + " gave no explanation.", dcNone
	}
	if s.Reason != "" {
		return s.Reason, dcUnknown
	}
	return "Unknown.", dcUnknown
}

// dependencyReasons explains an offline instance waiting on its
// dependencies: each missing one, then each root cause (with -v, the
// path of dependencies that leads to it).
func (a *analysis) dependencyReasons(w io.Writer, n *node, verbose bool) {
	if len(n.baddeps) == 0 && len(n.causes) == 1 && n.causes[0].n == n {
		fmt.Fprintf(w, "Reason: Unknown.\n   See: %s%s\n", msgBase, dcUnknown)
		return
	}
	for _, d := range n.baddeps {
		fmt.Fprintf(w, "Reason: Dependency %s is absent.\n   See: %s%s\n", d, msgBase, dcDepAbsent)
	}
	for _, c := range n.causes {
		if c.n == n {
			continue
		}
		dc := dcDepOther
		if running(c.n.s.State) {
			fmt.Fprintf(w, "Reason: Service %s is running.\n", c.n.s.FMRI)
			dc = dcDepRunning
		} else if line := fmt.Sprintf("Reason: Service %s %s", c.n.s.FMRI, c.n.describe()); len(line) <= 80 {
			fmt.Fprintln(w, line)
		} else {
			fmt.Fprintf(w, "Reason: Service %s\n        %s\n", c.n.s.FMRI, c.n.describe())
		}
		fmt.Fprintf(w, "   See: %s%s\n", msgBase, dc)
		if verbose {
			fmt.Fprintf(w, "  Path: %s\n", n.s.FMRI)
			indent := 1
			for p := c.nextHop; p != nil; {
				fmt.Fprintf(w, "%6s  %*s%s\n", "", indent*2, "", p.s.FMRI)
				indent++
				if p == c.n {
					break
				}
				next := (*node)(nil)
				for _, pc := range p.causes {
					if pc.n == c.n {
						next = pc.nextHop
					}
				}
				if next == nil {
					next = c.n
				}
				p = next
			}
		}
	}
}
