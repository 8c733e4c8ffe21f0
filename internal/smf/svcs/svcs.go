// Package svcs is the svcs command: it lists service instances from the
// restarter's status in SmartOS's formats (columns, -l, -L, -p, -d/-D,
// -x), with its options and exit codes.
package svcs

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"hull/internal/smf/control"
	"hull/internal/smf/manifest"
)

const usage = `Usage: svcs [-aHpv] [-o col[,col ... ]] [-sS col] [-z zone]
            [<service> ...]
       svcs -d | -D [-Hpv] [-o col[,col ... ]] [-sS col] [-z zone]
            [<service> ...]
       svcs [-l | -L] [-z zone] <service> ...
       svcs -x [-v] [-z zone] [<service> ...]
       svcs -?
`

const help = `
	-a  list all service instances rather than only those that are enabled
	-d  list dependencies of the specified service(s)
	-D  list dependents of the specified service(s)
	-H  omit header line from output
	-l  list detailed information about the specified service(s)
	-L  list the log file associated with the specified service(s)
	-o  list only the specified columns in the output
	-p  list process IDs and names associated with each service
	-s  sort output in ascending order by the specified column(s)
	-S  sort output in descending order by the specified column(s)
	-v  list verbose information appropriate to the type of output
	-x  explain the status of services that might require maintenance,
	    or explain the status of the specified service(s)
	-z  from global zone, show services in a specified zone

	Services can be specified using an FMRI, abbreviation, or fnmatch(5)
	pattern, as shown in these examples for svc:/network/smtp:sendmail

	svcs [opts] svc:/network/smtp:sendmail
	svcs [opts] network/smtp:sendmail
	svcs [opts] network/*mail
	svcs [opts] network/smtp
	svcs [opts] smtp:sendmail
	svcs [opts] smtp
	svcs [opts] sendmail

	Columns for output or sorting can be specified using these names:

	CTID    contract ID for service (see contract(4))
	DESC    human-readable description of the service
	FMRI    Fault Managed Resource Identifier for service
	INST    portion of the FMRI indicating service instance
	N       abbreviation for next state (if in transition)
	NSTA    abbreviation for next state (if in transition)
	NSTATE  name for next state (if in transition)
	S       abbreviation for current state
	SCOPE   name for scope associated with service
	SN      abbreviation for current state and next state
	SVC     portion of the FMRI representing service name
	STA     abbreviation for current state
	STATE   name for current state
	STIME   time of last state change
`

// Env is what svcs needs: where to write and how to ask the restarter.
// Through svcs -z from the host, the zone's name and the host path of
// its root come in SMF_ZONE and SMF_ZONEROOT (log paths are shown as
// the host sees them, as SmartOS does).
type Env struct {
	Stdout, Stderr io.Writer
	Call           func(*control.Request) (*control.Response, error)
	Now            func() time.Time
	Zone, ZoneRoot string
}

type opts struct {
	all, noHeader, procs, verbose bool
	mode                          byte // 0, 'd', 'D', 'l', 'L' or 'x'
	cols                          []string
	nstateShown                   bool
	sortBy                        []string
	reverse                       []bool
	now                           time.Time
	zone, zoneRoot                string
}

// Main runs svcs.
func Main(args []string, env Env) int {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Zone == "" {
		env.Zone, env.ZoneRoot = os.Getenv("SMF_ZONE"), os.Getenv("SMF_ZONEROOT")
	}
	o := &opts{zone: env.Zone, zoneRoot: strings.TrimSuffix(env.ZoneRoot, "/")}
	argserr := func() int {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	flags, pats, bad := getopt(args, "aHpvo:s:S:dDlLx?")
	if bad != "" {
		fmt.Fprintf(env.Stderr, "svcs: %s\n", bad)
		return argserr()
	}
	// The mode first: it decides which other options are valid.
	for _, f := range flags {
		switch f.c {
		case 'd', 'D', 'l', 'L', 'x':
			if o.mode != 0 {
				return argserr()
			}
			o.mode = f.c
		case '?':
			fmt.Fprint(env.Stdout, usage+help)
			return 0
		}
	}
	var colsArg string
	for _, f := range flags {
		switch f.c {
		case 'a':
			if o.mode != 0 {
				return argserr()
			}
			o.all = true
		case 'H':
			if o.mode == 'l' || o.mode == 'x' {
				return argserr()
			}
			o.noHeader = true
		case 'p':
			if o.mode == 'x' {
				return argserr()
			}
			o.procs = true
		case 'v':
			o.verbose = true
		case 'o':
			if o.mode == 'l' || o.mode == 'x' {
				return argserr()
			}
			colsArg = f.arg
		case 's', 'S':
			if o.mode != 0 {
				return argserr()
			}
			for _, c := range strings.Split(f.arg, ",") {
				col := strings.ToUpper(c)
				if _, ok := columns[col]; !ok {
					fmt.Fprintf(env.Stderr, "svcs: Unrecognized sort column \"%s\".\n", c)
					return 1
				}
				o.sortBy, o.reverse = append(o.sortBy, col), append(o.reverse, f.c == 'S')
			}
		}
	}
	if colsArg != "" {
		for _, c := range strings.Split(colsArg, ",") {
			col := strings.ToUpper(c)
			if _, ok := columns[col]; !ok {
				fmt.Fprintf(env.Stderr, "svcs: Unknown column \"%s\".\n", c)
				return 1
			}
			o.cols = append(o.cols, col)
			o.nstateShown = o.nstateShown || col == "N" || col == "SN" || col == "NSTA" || col == "NSTATE"
		}
	}
	if o.verbose && len(o.cols) == 0 && o.mode != 'l' && o.mode != 'x' {
		o.nstateShown = true // -v's columns include NSTATE
	}
	if (o.mode == 'd' || o.mode == 'D' || o.mode == 'l') && len(pats) == 0 {
		return argserr()
	}
	if o.all && len(pats) > 0 {
		fmt.Fprintln(env.Stderr, "svcs: -a ignored when used with arguments.")
	}
	resp, err := env.Call(&control.Request{Op: control.OpStatus})
	if err != nil {
		if o.zone != "" {
			fmt.Fprintf(env.Stderr, "svcs: Could not bind to repository server for zone %s: %v\n", o.zone, err)
		} else {
			fmt.Fprintf(env.Stderr, "svcs: Could not bind to repository server: %v.  Exiting.\n", err)
		}
		return 1
	}
	o.now = env.Now()
	all := resp.Instances
	code := 0
	var sel []*control.Status
	for _, p := range pats {
		n := 0
		for _, s := range all {
			// -l, -L, -d, -D and -x name instances; legacy scripts only list.
			if manifest.Match(p, s.FMRI) && (o.mode == 0 || s.State != "legacy_run") {
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
	switch o.mode {
	case 'x':
		explain(env, o, all, sel, len(pats) > 0)
		return code
	case 'l':
		for k, s := range sel {
			if k > 0 {
				fmt.Fprintln(env.Stdout)
			}
			long(env.Stdout, s, o)
		}
		return code
	case 'L':
		for _, s := range sel {
			if s.Log != "" {
				fmt.Fprintln(env.Stdout, o.zoneRoot+s.Log)
			}
		}
		return code
	case 'd':
		sel = dependencies(sel, all)
	case 'D':
		sel = dependents(sel, all)
	default:
		if len(pats) == 0 {
			for _, s := range all {
				// Enabled, permanently or for now; and legacy scripts.
				if o.all || s.Enabled || s.Temporary || s.State == "legacy_run" {
					sel = append(sel, s)
				}
			}
		}
	}
	list(env, o, sel)
	return code
}

type flag struct {
	c   byte
	arg string
}

// getopt parses args as getopt(3) with optstring spec; operands may
// follow options (svcs, unlike getopt, takes them in any order). bad
// is getopt's complaint.
func getopt(args []string, spec string) (flags []flag, operands []string, bad string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(operands, args[i+1:]...), ""
		}
		if len(a) < 2 || a[0] != '-' {
			operands = append(operands, a)
			continue
		}
		for k := 1; k < len(a); k++ {
			c := a[k]
			at := strings.IndexByte(spec, c)
			if at < 0 || c == ':' {
				return nil, nil, fmt.Sprintf("illegal option -- %c", c)
			}
			if at+1 < len(spec) && spec[at+1] == ':' {
				v := a[k+1:]
				if v == "" {
					if i+1 >= len(args) {
						return nil, nil, fmt.Sprintf("option requires an argument -- %c", c)
					}
					i++
					v = args[i]
				}
				flags = append(flags, flag{c, v})
				break
			}
			flags = append(flags, flag{c: c})
		}
	}
	return flags, operands, ""
}

func contains(l []*control.Status, s *control.Status) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// cites reports whether a cited FMRI names s (an instance FMRI names
// it; a service FMRI names each of its instances).
func cites(c string, s *control.Status) bool {
	return s.FMRI == c || strings.HasPrefix(s.FMRI, c+":")
}

// dependencies lists the instances the selected ones depend on
// (exclude_all dependencies left out, as svcs -d does).
func dependencies(sel, all []*control.Status) []*control.Status {
	var out []*control.Status
	for _, s := range sel {
		for _, d := range s.Deps {
			if d.Grouping == "exclude_all" {
				continue
			}
			for _, c := range d.FMRIs {
				for _, x := range all {
					if cites(c, x) && !contains(out, x) {
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
			if d.Grouping == "exclude_all" {
				continue
			}
			for _, c := range d.FMRIs {
				for _, s := range sel {
					if cites(c, s) && !contains(out, x) {
						out = append(out, x)
					}
				}
			}
		}
	}
	return out
}
