package svcs

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"hull/internal/smf/control"
)

// column is one of svcs's -o columns: its width, and how a value is
// printed and sorted.
type column struct {
	width int
	right bool
	get   func(s *control.Status, o *opts) string
	// key orders by the column; nil sorts by the printed value.
	key func(s *control.Status) int64
}

var abbrev = map[string]string{
	"uninitialized": "UN", "offline": "OFF", "online": "ON", "degraded": "DGD",
	"maintenance": "MNT", "disabled": "DIS", "legacy_run": "LRC",
}

var stateChar = map[string]string{
	"uninitialized": "u", "offline": "0", "online": "1", "degraded": "D",
	"maintenance": "m", "disabled": "d", "legacy_run": "L",
}

func transit(s *control.Status) bool { return s.NextState != "" && s.NextState != "none" }

// star marks an instance in transition, when no next-state column says so.
func star(s *control.Status, o *opts) string {
	if transit(s) && !o.nstateShown {
		return "*"
	}
	return ""
}

func split(fmri string) (scope, svc, inst string) {
	if strings.HasPrefix(fmri, "lrc:") {
		return "localhost", fmri, "-"
	}
	body := strings.TrimPrefix(fmri, "svc:/")
	i := strings.LastIndexByte(body, ':')
	if i < 0 {
		return "localhost", body, "-"
	}
	return "localhost", body[:i], body[i+1:]
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func nextOr(s *control.Status, none string, f func(string) string) string {
	if !transit(s) {
		return none
	}
	return f(s.NextState)
}

func same(s string) string { return s }

// Widths are svcs.c's.
var columns = map[string]column{
	"CTID": {6, true, func(s *control.Status, _ *opts) string {
		if s.Contract == 0 {
			return "-"
		}
		return strconv.Itoa(s.Contract)
	}, func(s *control.Status) int64 { return int64(s.Contract) }},
	"DESC":   {100, false, func(s *control.Status, _ *opts) string { return orDash(s.Name) }, func(*control.Status) int64 { return 0 }},
	"FMRI":   {50, false, func(s *control.Status, _ *opts) string { return s.FMRI }, nil},
	"INST":   {20, false, func(s *control.Status, _ *opts) string { _, _, i := split(s.FMRI); return i }, nil},
	"N":      {1, false, func(s *control.Status, _ *opts) string { return nextOr(s, "-", char) }, nextKey},
	"NSTA":   {4, false, func(s *control.Status, _ *opts) string { return nextOr(s, "-", abbr) }, nextKey},
	"NSTATE": {13, false, func(s *control.Status, _ *opts) string { return nextOr(s, "-", same) }, nextKey},
	"S":      {2, false, func(s *control.Status, o *opts) string { return char(s.State) + star(s, o) }, stateKey},
	"SCOPE":  {20, false, func(s *control.Status, _ *opts) string { sc, _, _ := split(s.FMRI); return sc }, nil},
	"SN":     {2, false, func(s *control.Status, _ *opts) string { return char(s.State) + nextOr(s, "-", char) }, stateKey},
	"SVC":    {20, false, func(s *control.Status, _ *opts) string { _, v, _ := split(s.FMRI); return v }, nil},
	"STA":    {4, false, func(s *control.Status, o *opts) string { return abbr(s.State) + star(s, o) }, stateKey},
	"STATE":  {14, false, func(s *control.Status, o *opts) string { return s.State + star(s, o) }, stateKey},
	"STIME": {8, false, func(s *control.Status, o *opts) string { return STime(s.STime, o.now) },
		func(s *control.Status) int64 { return s.STime.UnixNano() }},
}

func char(state string) string {
	if c, ok := stateChar[state]; ok {
		return c
	}
	return "?"
}

func abbr(state string) string {
	if a, ok := abbrev[state]; ok {
		return a
	}
	return "?"
}

// stateOrder sorts STATE as svcs does: least interesting first.
var stateOrder = map[string]int64{"legacy_run": 0, "disabled": 1, "online": 2, "degraded": 3, "offline": 4, "maintenance": 5, "uninitialized": 6}

func order(state string) int64 {
	if k, ok := stateOrder[state]; ok {
		return k
	}
	return 7
}

func stateKey(s *control.Status) int64 { return order(s.State) }

func nextKey(s *control.Status) int64 {
	if !transit(s) || s.State == "legacy_run" {
		return 0
	}
	return order(s.NextState)
}

// STime is svcs's STIME: the time of day (hour space-padded) within 24
// hours, the date ("Jan_12") within about a year, else the year.
func STime(t, now time.Time) string {
	switch d := now.Sub(t); {
	case d < 24*time.Hour:
		return fmt.Sprintf("%2d:%02d:%02d", t.Hour(), t.Minute(), t.Second())
	case d < 12*30*24*time.Hour:
		return t.Format("Jan_02") + "  "
	}
	return t.Format("2006") + "    "
}

func compare(a, b *control.Status, col string, o *opts) int {
	c := columns[col]
	if c.key != nil {
		ka, kb := c.key(a), c.key(b)
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	}
	return strings.Compare(c.get(a, o), c.get(b, o))
}

// row lays out values under cols: each padded to its column and a
// space, the line's trailing blanks trimmed. Headings are all
// left-aligned.
func row(cols []string, vals []string, heading bool) string {
	var b strings.Builder
	for k, c := range cols {
		if columns[c].right && !heading {
			fmt.Fprintf(&b, "%*s ", columns[c].width, vals[k])
		} else {
			fmt.Fprintf(&b, "%-*s ", columns[c].width, vals[k])
		}
	}
	return strings.TrimRight(b.String(), " ")
}

func list(env Env, o *opts, sel []*control.Status) {
	cols := o.cols
	if len(cols) == 0 {
		cols = []string{"STATE", "STIME", "FMRI"}
		if o.verbose {
			cols = []string{"STATE", "NSTATE", "STIME", "CTID", "FMRI"}
		}
	}
	keys, rev := o.sortBy, o.reverse
	if len(keys) == 0 {
		keys, rev = []string{"STATE", "STIME", "FMRI"}, []bool{false, false, false}
	}
	sort.SliceStable(sel, func(i, j int) bool {
		for k, c := range keys {
			if d := compare(sel[i], sel[j], c, o); d != 0 {
				return (d < 0) != rev[k]
			}
		}
		return false
	})
	if !o.noHeader {
		fmt.Fprintln(env.Stdout, row(cols, cols, true))
	}
	vals := make([]string, len(cols))
	for _, s := range sel {
		for k, c := range cols {
			vals[k] = columns[c].get(s, o)
		}
		fmt.Fprintln(env.Stdout, row(cols, vals, false))
		if o.procs {
			for _, p := range s.Pids {
				if pr, ok := readProc(p); ok {
					fmt.Fprintf(env.Stdout, "               %-8s   %6d %s\n", STime(pr.start, o.now), p, pr.name)
				}
			}
		}
	}
}

// detailedWidth is svcs -l's label column ("description" and two spaces).
const detailedWidth = 13

// long prints svcs -l: everything known about one instance.
func long(w io.Writer, s *control.Status, o *opts) {
	kv := func(k, v string) { fmt.Fprintf(w, "%-*s%s\n", detailedWidth, k, v) }
	kv("fmri", s.FMRI)
	if s.Name != "" {
		kv("name", s.Name)
	}
	if o.zone != "" {
		kv("zone", o.zone)
	}
	en := fmt.Sprint(s.Enabled)
	if s.Temporary {
		en += " (temporary)"
	}
	kv("enabled", en)
	kv("state", s.State)
	kv("next_state", orNone(s.NextState))
	kv("state_time", s.STime.Format("Mon Jan _2 15:04:05 2006"))
	if s.Log != "" {
		kv("logfile", o.zoneRoot+s.Log)
	}
	kv("restarter", orDefault(s.Restarter))
	if s.Contract != 0 {
		kv("contract_id", strconv.Itoa(s.Contract)+" ")
	}
	for _, d := range s.Deps {
		var b strings.Builder
		fmt.Fprintf(&b, "%s/%s", d.Grouping, d.RestartOn)
		for k, c := range d.FMRIs {
			st := "-"
			if k < len(d.States) {
				st = d.States[k]
			}
			fmt.Fprintf(&b, " %s (%s)", c, st)
		}
		kv("dependency", b.String())
	}
	if o.procs {
		for _, p := range s.Pids {
			line := strconv.Itoa(p)
			if args := cmdline(p); args != "" {
				line += " " + args
			}
			kv("process", line)
		}
	}
	if o.verbose {
		group := ""
		for _, p := range s.Props {
			if p.Group != group {
				group = p.Group
				fmt.Fprintf(w, "%s (application)\n", group)
			}
			fmt.Fprintf(w, "%s/%s (%s) = %s\n", p.Group, p.Name, p.Type, propValues(p.Values))
		}
	}
}

// propValues prints values as svcs -lv does: quoted and escaped when
// they hold blanks, quotes or parentheses, each followed by a space.
func propValues(vals []string) string {
	var b strings.Builder
	for _, v := range vals {
		if strings.ContainsAny(v, " \t\n\"()") {
			b.WriteString(`"` + strings.NewReplacer(`"`, `\"`, `\`, `\\`).Replace(v) + `"`)
			continue
		}
		b.WriteString(v + " ")
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func orDefault(restarter string) string {
	if restarter == "" {
		return "svc:/system/svc/restarter:default"
	}
	return restarter
}

// proc is what svcs shows of a process.
type proc struct {
	name  string
	start time.Time
}

// readProc reads a process's name and start time from /proc.
func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return proc{}, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 20 {
		return proc{}, false
	}
	ticks, _ := strconv.ParseInt(f[19], 10, 64)
	return proc{name: s[open+1 : end], start: bootTime().Add(time.Duration(ticks) * time.Second / 100)}, true
}

// bootTime is when the machine booted, from /proc/stat's btime.
func bootTime() time.Time {
	b, _ := os.ReadFile("/proc/stat")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Unix(n, 0)
		}
	}
	return time.Time{}
}

// cmdline is a process's arguments, as much as svcs -lp shows (80
// characters).
func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	s := strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
