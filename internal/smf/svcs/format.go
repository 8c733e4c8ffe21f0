package svcs

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"hull/internal/smf/control"
)

type column struct {
	width int
	right bool
	get   func(s *control.Status, now time.Time) string
}

var abbrev = map[string]string{
	"uninitialized": "UN", "offline": "OFF", "online": "ON", "degraded": "DGD",
	"maintenance": "MNT", "disabled": "DIS", "legacy_run": "LRC", "none": "-",
}

func star(s *control.Status) string {
	if s.NextState != "" && s.NextState != "none" {
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
	return "localhost", "svc:/" + body[:i], body[i+1:]
}

var columns = map[string]column{
	"CTID": {6, true, func(s *control.Status, _ time.Time) string {
		if s.Contract == 0 {
			return "-"
		}
		return strconv.Itoa(s.Contract)
	}},
	"DESC":   {40, false, func(s *control.Status, _ time.Time) string { return orDash(s.Name) }},
	"FMRI":   {56, false, func(s *control.Status, _ time.Time) string { return s.FMRI }},
	"INST":   {8, false, func(s *control.Status, _ time.Time) string { _, _, i := split(s.FMRI); return i }},
	"NSTA":   {4, false, func(s *control.Status, _ time.Time) string { return abbrev[orNone(s.NextState)] }},
	"NSTATE": {14, false, func(s *control.Status, _ time.Time) string { return orNone(s.NextState) }},
	"SCOPE":  {8, false, func(s *control.Status, _ time.Time) string { sc, _, _ := split(s.FMRI); return sc }},
	"SVC":    {14, false, func(s *control.Status, _ time.Time) string { _, v, _ := split(s.FMRI); return v }},
	"STA":    {4, false, func(s *control.Status, _ time.Time) string { return abbrev[s.State] + star(s) }},
	"STATE":  {14, false, func(s *control.Status, _ time.Time) string { return s.State + star(s) }},
	"STIME":  {8, false, func(s *control.Status, now time.Time) string { return STime(s.STime, now) }},
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// STime is svcs's STIME: the time of day within 24 hours, else the
// date ("Jan_12"), else the year.
func STime(t, now time.Time) string {
	switch d := now.Sub(t); {
	case d < 24*time.Hour && d > -24*time.Hour:
		return t.Format("15:04:05")
	case t.Year() == now.Year() || d < 365*24*time.Hour:
		return t.Format("Jan_02")
	}
	return t.Format("2006")
}

// stateOrder sorts STATE as svcs does.
var stateOrder = map[string]int{"legacy_run": 0, "disabled": 1, "uninitialized": 2, "offline": 3, "online": 4, "degraded": 5, "maintenance": 6}

func less(a, b *control.Status, col string) int {
	switch col {
	case "STATE", "STA":
		return stateOrder[a.State] - stateOrder[b.State]
	case "STIME":
		return a.STime.Compare(b.STime)
	case "CTID":
		return a.Contract - b.Contract
	}
	now := time.Now()
	return strings.Compare(columns[col].get(a, now), columns[col].get(b, now))
}

func list(env Env, o opts, sel []*control.Status) {
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
			if d := less(sel[i], sel[j], c); d != 0 {
				return (d < 0) != rev[k]
			}
		}
		return false
	})
	now := env.Now()
	row := func(vals []string) {
		var b strings.Builder
		for k, c := range cols {
			v := vals[k]
			if k == len(cols)-1 {
				if columns[c].right {
					v = fmt.Sprintf("%*s", columns[c].width, v)
				}
				b.WriteString(v)
				break
			}
			if columns[c].right {
				fmt.Fprintf(&b, "%*s ", columns[c].width, v)
			} else {
				fmt.Fprintf(&b, "%-*s ", columns[c].width, v)
			}
		}
		fmt.Fprintln(env.Stdout, b.String())
	}
	if !o.noHeader {
		row(cols)
	}
	for _, s := range sel {
		vals := make([]string, len(cols))
		for k, c := range cols {
			vals[k] = columns[c].get(s, now)
		}
		row(vals)
		if o.procs {
			for _, p := range s.Pids {
				fmt.Fprintf(env.Stdout, "%-14s %-8s %8d %s\n", "", STime(s.STime, now), p, procName(p))
			}
		}
	}
}

// long prints svcs -l.
func long(w io.Writer, s *control.Status, all []*control.Status) {
	kv := func(k, v string) { fmt.Fprintf(w, "%-12s %s\n", k, v) }
	kv("fmri", s.FMRI)
	if s.Name != "" {
		kv("name", s.Name)
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
		kv("logfile", s.Log)
	}
	if s.Restarter != "" {
		kv("restarter", s.Restarter)
	}
	if s.Contract != 0 {
		kv("contract_id", strconv.Itoa(s.Contract))
	}
	for _, d := range s.Deps {
		for k, c := range d.FMRIs {
			kv("dependency", fmt.Sprintf("%s/%s %s (%s)", d.Grouping, d.RestartOn, c, d.States[k]))
		}
	}
}
