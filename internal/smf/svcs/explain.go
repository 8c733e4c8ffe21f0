package svcs

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"hull/internal/smf/control"
)

func procName(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func running(state string) bool { return state == "online" || state == "degraded" }

// explain prints svcs -x: a block for each instance that is enabled but
// not running, or that keeps an enabled dependent from running (or for
// each selected one).
func explain(env Env, all, sel []*control.Status, selected, verbose bool) {
	byFMRI := map[string]*control.Status{}
	for _, s := range all {
		byFMRI[s.FMRI] = s
	}
	if !selected {
		for _, s := range all {
			if s.State == "legacy_run" {
				continue
			}
			if s.Enabled && !running(s.State) || len(impact(s, all)) > 0 && !running(s.State) {
				sel = append(sel, s)
			}
		}
	}
	for _, s := range sel {
		if s.State == "legacy_run" {
			continue
		}
		if selected && running(s.State) && s.State != "degraded" {
			fmt.Fprintf(env.Stdout, "%s (%s)\n State: %s since %s\n", s.FMRI, orDash(s.Name), s.State, s.STime.Format("Mon Jan _2 15:04:05 2006"))
			fmt.Fprintf(env.Stdout, "Impact: None.\n\n")
			continue
		}
		reason, msg := why(s, byFMRI)
		fmt.Fprintf(env.Stdout, "%s (%s)\n", s.FMRI, orDash(s.Name))
		fmt.Fprintf(env.Stdout, " State: %s since %s\n", s.State, s.STime.Format("Mon Jan _2 15:04:05 2006"))
		fmt.Fprintf(env.Stdout, "Reason: %s\n", reason)
		if msg != "" {
			fmt.Fprintf(env.Stdout, "   See: http://illumos.org/msg/%s\n", msg)
		}
		for _, m := range s.Manpages {
			fmt.Fprintf(env.Stdout, "   See: %s\n", m)
		}
		if s.Log != "" {
			fmt.Fprintf(env.Stdout, "   See: %s\n", s.Log)
		}
		imp := impact(s, all)
		switch {
		case len(imp) == 0:
			fmt.Fprintln(env.Stdout, "Impact: This service is not running.")
		case verbose:
			fmt.Fprintf(env.Stdout, "Impact: %d dependent service%s not running:\n", len(imp), plural(len(imp)))
			for _, f := range imp {
				fmt.Fprintf(env.Stdout, "        %s\n", f)
			}
		default:
			fmt.Fprintf(env.Stdout, "Impact: %d dependent service%s not running.  (Use -v for list.)\n", len(imp), plural(len(imp)))
		}
		fmt.Fprintln(env.Stdout)
	}
}

func plural(n int) string {
	if n == 1 {
		return " is"
	}
	return "s are"
}

// why gives the Reason line and the message id of a service that is
// not running.
func why(s *control.Status, by map[string]*control.Status) (string, string) {
	switch s.State {
	case "disabled":
		if s.Temporary {
			return "Temporarily disabled by an administrator.", "SMF-8000-1S"
		}
		return "Disabled by an administrator.", "SMF-8000-05"
	case "maintenance":
		switch s.Aux {
		case "administrative_request":
			return "Maintenance requested by an administrator.", "SMF-8000-63"
		case "restarting_too_quickly":
			return "Restarting too quickly.", "SMF-8000-L5"
		case "dependency_cycle":
			return s.Reason, "SMF-8000-4D"
		}
		if s.Reason != "" {
			return s.Reason, "SMF-8000-KS"
		}
		return "Restarter " + s.Restarter + " gave no explanation.", "SMF-8000-9C"
	case "degraded":
		return "Degraded by an administrator.", "SMF-8000-5H"
	case "offline":
		for _, d := range s.Deps {
			for k, c := range d.FMRIs {
				st := d.States[k]
				if d.Grouping == "exclude_all" {
					if running(st) {
						return fmt.Sprintf("Service %s is running but excludes this one.", c), "SMF-8000-GE"
					}
					continue
				}
				if running(st) || d.Grouping == "optional_all" && st != "offline" {
					continue
				}
				switch st {
				case "absent":
					return fmt.Sprintf("Dependency %s is absent.", c), "SMF-8000-E2"
				case "disabled":
					return fmt.Sprintf("Service %s is disabled.", c), "SMF-8000-GE"
				case "maintenance":
					reason := "is in maintenance"
					for f, x := range by {
						if (f == c || strings.HasPrefix(f, c+":")) && x.State == "maintenance" && x.Aux == "fault_threshold_reached" {
							reason = "is not running because a method failed repeatedly"
						}
					}
					return fmt.Sprintf("Service %s\n        %s.", c, reason), "SMF-8000-GE"
				default:
					return fmt.Sprintf("Service %s is %s.", c, st), "SMF-8000-GE"
				}
			}
		}
		return "Start method is running.", "SMF-8000-C4"
	}
	return "Service is " + s.State + ".", ""
}

// impact lists the enabled instances that are not running because of s,
// directly or through others.
func impact(s *control.Status, all []*control.Status) []string {
	seen := map[string]bool{s.FMRI: true}
	var out []string
	queue := []*control.Status{s}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if running(cur.State) {
			continue
		}
		for _, x := range all {
			if seen[x.FMRI] || !x.Enabled || running(x.State) {
				continue
			}
			for _, d := range x.Deps {
				if d.Grouping == "optional_all" || d.Grouping == "exclude_all" {
					continue
				}
				for _, c := range d.FMRIs {
					if c == cur.FMRI || strings.HasPrefix(cur.FMRI, c+":") {
						if !seen[x.FMRI] {
							seen[x.FMRI] = true
							out = append(out, x.FMRI)
							queue = append(queue, x)
						}
					}
				}
			}
		}
	}
	return out
}
