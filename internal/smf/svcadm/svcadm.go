// Package svcadm is the svcadm command: administrative requests to the
// restarter (enable, disable, restart, refresh, clear, mark, milestone).
package svcadm

import (
	"fmt"
	"io"
	"strings"
	"time"

	"hull/internal/smf/control"
)

const usage = `Usage: svcadm [-v] [-z zone] [cmd [args ... ]]

	svcadm enable [-rst] <service> ...	- enable and online service(s)
	svcadm disable [-st] <service> ...	- disable and offline service(s)
	svcadm restart <service> ...		- restart specified service(s)
	svcadm refresh <service> ...		- re-read service configuration
	svcadm mark [-It] <state> <service> ...	- set maintenance state
	svcadm clear <service> ...		- clear maintenance state
	svcadm milestone [-d] <milestone>	- advance to a service milestone
`

// Exit codes.
const (
	ExitOK         = 0
	ExitFatal      = 1
	ExitUsage      = 2
	ExitState      = 3 // the instance cannot reach the state by itself
	ExitDependency = 4 // its dependencies keep it from the state
)

// Env is what svcadm needs.
type Env struct {
	Stdout, Stderr io.Writer
	Call           func(*control.Request) (*control.Response, error)
	// Poll is how often -s checks the state.
	Poll time.Duration
}

// Main runs svcadm.
func Main(args []string, env Env) int {
	if env.Poll == 0 {
		env.Poll = 100 * time.Millisecond
	}
	verbose := false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-v":
			verbose = true
		case "-h", "-?":
			fmt.Fprint(env.Stdout, usage)
			return 0
		default:
			fmt.Fprintf(env.Stderr, "svcadm: illegal option -- %s\n%s", strings.TrimLeft(args[0], "-"), usage)
			return ExitUsage
		}
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return ExitUsage
	}
	verb, args := args[0], args[1:]
	req := &control.Request{Op: verb}
	var wait bool
	allowed := map[string]string{"enable": "rst", "disable": "st", "restart": "", "refresh": "", "clear": "", "mark": "It", "milestone": "d"}
	fl, ok := allowed[verb]
	if !ok {
		fmt.Fprintf(env.Stderr, "svcadm: unknown subcommand \"%s\"\n%s", verb, usage)
		return ExitUsage
	}
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && len(args[0]) > 1 {
		for _, c := range args[0][1:] {
			if !strings.ContainsRune(fl, c) {
				fmt.Fprintf(env.Stderr, "svcadm: illegal option -- %c\n%s", c, usage)
				return ExitUsage
			}
			switch c {
			case 'r':
				req.Recursive = true
			case 's':
				wait = true
			case 't':
				req.Temporary = true
			case 'I':
				req.Immediate = true
			}
		}
		args = args[1:]
	}
	switch verb {
	case "mark":
		if len(args) < 2 {
			fmt.Fprint(env.Stderr, usage)
			return ExitUsage
		}
		if args[0] != "maintenance" && args[0] != "degraded" {
			fmt.Fprintf(env.Stderr, "svcadm: Invalid state \"%s\".\n", args[0])
			return ExitUsage
		}
		req.State, args = args[0], args[1:]
	case "milestone":
		if len(args) != 1 {
			fmt.Fprint(env.Stderr, usage)
			return ExitUsage
		}
		req.Milestone, args = args[0], nil
	}
	if verb != "milestone" && len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return ExitUsage
	}
	code := ExitOK
	// Each FMRI on its own, as svcadm does: one bad name does not stop the rest.
	targets := args
	if verb == "milestone" {
		targets = []string{""}
	}
	for _, f := range targets {
		r := *req
		if f != "" {
			r.FMRIs = []string{f}
		}
		if _, err := env.Call(&r); err != nil {
			fmt.Fprintf(env.Stderr, "svcadm: %v\n", err)
			code = ExitFatal
			continue
		}
		if verbose && f != "" {
			fmt.Fprintf(env.Stdout, "%s %s.\n", f, pastTense(verb, r.Temporary))
		}
		if wait && (verb == "enable" || verb == "disable") {
			if c := waitFor(env, f, verb); c != ExitOK {
				code = c
			}
		}
	}
	return code
}

func pastTense(verb string, temp bool) string {
	s := map[string]string{"enable": "enabled", "disable": "disabled", "restart": "restarted", "refresh": "refreshed", "clear": "cleared", "mark": "marked"}[verb]
	if temp {
		s = "temporarily " + s
	}
	return s
}

// waitFor polls until the instance reaches the state the verb asks for,
// or cannot.
func waitFor(env Env, pat, verb string) int {
	for {
		resp, err := env.Call(&control.Request{Op: control.OpStatus})
		if err != nil {
			fmt.Fprintf(env.Stderr, "svcadm: %v\n", err)
			return ExitFatal
		}
		var s *control.Status
		for _, x := range resp.Instances {
			if matches(pat, x.FMRI) {
				s = x
			}
		}
		if s == nil {
			return ExitFatal
		}
		transit := s.NextState != "none" && s.NextState != ""
		switch {
		case verb == "disable" && s.State == "disabled" && !transit:
			return ExitOK
		case verb == "enable" && (s.State == "online" || s.State == "degraded") && !transit:
			return ExitOK
		case verb == "enable" && s.State == "maintenance" && !transit:
			fmt.Fprintf(env.Stderr, "svcadm: Instance \"%s\" is in maintenance state.\n", s.FMRI)
			return ExitState
		case verb == "enable" && s.State == "offline" && !transit && blocked(s):
			fmt.Fprintf(env.Stderr, "svcadm: Instance \"%s\" cannot come online because its dependencies are not satisfied.\n", s.FMRI)
			return ExitDependency
		}
		time.Sleep(env.Poll)
	}
}

// blocked reports whether a required dependency cannot come up without
// an administrator.
func blocked(s *control.Status) bool {
	for _, d := range s.Deps {
		if d.Grouping == "optional_all" || d.Grouping == "exclude_all" {
			continue
		}
		for _, st := range d.States {
			if st == "disabled" || st == "maintenance" || st == "absent" {
				return true
			}
		}
	}
	return false
}
