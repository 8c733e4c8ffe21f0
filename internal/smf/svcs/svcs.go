// Package svcs is the svcs command: it lists service instances from the
// restarter's status in SmartOS's formats (columns, -l, -p, -d/-D, -x).
package svcs

import (
	"fmt"
	"io"
	"strings"
	"time"

	"hull/internal/smf/control"
	"hull/internal/smf/manifest"
)

const usage = `Usage: svcs [-aHpv?] [-o col[,col]...] [-sS col] [-z zone] [<service> ...]
       svcs -d | -D [-Hpv?] [-o col[,col]...] [-sS col] [-z zone] <service> ...
       svcs -l | -x [-v] [-z zone] [<service> ...]
`

// Env is what svcs needs: where to write and how to ask the restarter.
type Env struct {
	Stdout, Stderr io.Writer
	Call           func(*control.Request) (*control.Response, error)
	Now            func() time.Time
}

type opts struct {
	all, noHeader, procs, verbose, deps, dependents, long, explain bool
	cols                                                           []string
	sortBy                                                         []string
	reverse                                                        []bool
}

// Main runs svcs.
func Main(args []string, env Env) int {
	if env.Now == nil {
		env.Now = time.Now
	}
	var o opts
	var pats []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			pats = append(pats, a)
			continue
		}
		flags := a[1:]
		for k := 0; k < len(flags); k++ {
			switch c := flags[k]; c {
			case 'a':
				o.all = true
			case 'H':
				o.noHeader = true
			case 'p':
				o.procs = true
			case 'v':
				o.verbose = true
			case 'd':
				o.deps = true
			case 'D':
				o.dependents = true
			case 'l':
				o.long = true
			case 'x':
				o.explain = true
			case 'o', 's', 'S':
				val := flags[k+1:]
				if val == "" {
					if i+1 >= len(args) {
						fmt.Fprintf(env.Stderr, "svcs: option requires an argument -- %c\n%s", c, usage)
						return 2
					}
					i++
					val = args[i]
				}
				k = len(flags)
				for _, col := range strings.Split(val, ",") {
					col = strings.ToUpper(col)
					if _, ok := columns[col]; !ok {
						fmt.Fprintf(env.Stderr, "svcs: Unrecognized column \"%s\".\n", col)
						return 2
					}
					if c == 'o' {
						o.cols = append(o.cols, col)
					} else {
						o.sortBy = append(o.sortBy, col)
						o.reverse = append(o.reverse, c == 'S')
					}
				}
			case '?', 'h':
				fmt.Fprint(env.Stdout, usage)
				return 0
			default:
				fmt.Fprintf(env.Stderr, "svcs: illegal option -- %c\n%s", c, usage)
				return 2
			}
		}
	}
	if (o.deps || o.dependents) && len(pats) == 0 || o.deps && o.dependents || o.long && o.explain {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	resp, err := env.Call(&control.Request{Op: control.OpStatus})
	if err != nil {
		fmt.Fprintf(env.Stderr, "svcs: Could not bind to repository server: %v\n", err)
		return 1
	}
	all := resp.Instances
	code := 0
	var sel []*control.Status
	if len(pats) > 0 {
		for _, p := range pats {
			n := 0
			for _, s := range all {
				if manifest.Match(p, s.FMRI) {
					if !contains(sel, s) {
						sel = append(sel, s)
					}
					n++
				}
			}
			if n == 0 {
				fmt.Fprintf(env.Stderr, "svcs: Pattern '%s' doesn't match any instances\n", p)
				code = 1
			}
		}
	}
	switch {
	case o.explain:
		explain(env, all, sel, len(pats) > 0, o.verbose)
		return code
	case o.long:
		for k, s := range sel {
			if k > 0 {
				fmt.Fprintln(env.Stdout)
			}
			long(env.Stdout, s, all)
		}
		return code
	case o.deps:
		sel = dependencies(sel, all)
	case o.dependents:
		sel = dependents(sel, all)
	case len(pats) == 0:
		for _, s := range all {
			if o.all || s.State != "disabled" {
				sel = append(sel, s)
			}
		}
	}
	list(env, o, sel)
	return code
}

func contains(l []*control.Status, s *control.Status) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// dependencies lists the instances the selected ones depend on.
func dependencies(sel, all []*control.Status) []*control.Status {
	var out []*control.Status
	for _, s := range sel {
		for _, d := range s.Deps {
			for _, c := range d.FMRIs {
				for _, x := range all {
					if (x.FMRI == c || strings.HasPrefix(x.FMRI, c+":")) && !contains(out, x) {
						out = append(out, x)
					}
				}
			}
		}
	}
	return out
}

// dependents lists the instances that depend on the selected ones.
func dependents(sel, all []*control.Status) []*control.Status {
	var out []*control.Status
	for _, x := range all {
		for _, d := range x.Deps {
			for _, c := range d.FMRIs {
				for _, s := range sel {
					if (s.FMRI == c || strings.HasPrefix(s.FMRI, c+":")) && !contains(out, x) {
						out = append(out, x)
					}
				}
			}
		}
	}
	return out
}
