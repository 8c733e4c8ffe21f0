// Package svcadm is the svcadm command: administrative requests to the
// restarter (enable, disable, restart, refresh, clear, mark, milestone),
// with SmartOS's messages and exit codes.
package svcadm

import (
	"fmt"
	"io"
	"strings"
	"time"

	"hull/internal/smf/control"
	"hull/internal/smf/manifest"
)

const usage = `Usage: svcadm [-v] [-z zone] [cmd [args ... ]]

	svcadm enable [-rst] <service> ...	- enable and online service(s)
	svcadm disable [-st] <service> ...	- disable and offline service(s)
	svcadm restart <service> ...		- restart specified service(s)
	svcadm refresh <service> ...		- re-read service configuration
	svcadm mark [-It] <state> <service> ...	- set maintenance state
	svcadm clear <service> ...		- clear maintenance state
	svcadm milestone [-d] <milestone>	- advance to a service milestone

	Services can be specified using an FMRI, abbreviation, or fnmatch(5)
	pattern, as shown in these examples for svc:/network/smtp:sendmail

	svcadm <cmd> svc:/network/smtp:sendmail
	svcadm <cmd> network/smtp:sendmail
	svcadm <cmd> network/*mail
	svcadm <cmd> network/smtp
	svcadm <cmd> smtp:sendmail
	svcadm <cmd> smtp
	svcadm <cmd> sendmail
`

const usageMilestone = `Usage: svcadm milestone [-d] <milestone>

	-d	make the specified milestone the default for system boot

	Milestones can be specified using an FMRI or abbreviation.
	The major milestones are as follows:

	all
	none
	svc:/milestone/single-user:default
	svc:/milestone/multi-user:default
	svc:/milestone/multi-user-server:default
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

// verbs maps each subcommand to the flags it takes.
var verbs = map[string]string{"enable": "rst", "disable": "st", "restart": "", "refresh": "", "clear": "", "mark": "It", "milestone": "d"}

// Main runs svcadm.
func Main(args []string, env Env) int {
	if env.Poll == 0 {
		env.Poll = 100 * time.Millisecond
	}
	use := func(text string) int {
		fmt.Fprint(env.Stderr, text)
		return ExitUsage
	}
	verbose := false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		if args[0] != "-v" {
			return use(usage)
		}
		verbose = true
		args = args[1:]
	}
	if len(args) == 0 {
		return use(usage)
	}
	verb, args := args[0], args[1:]
	fl, ok := verbs[verb]
	if !ok {
		return use(usage)
	}
	req := &control.Request{Op: verb}
	wait, dflag := false, false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && len(args[0]) > 1 {
		if args[0] == "--" {
			args = args[1:]
			break
		}
		for _, c := range args[0][1:] {
			if !strings.ContainsRune(fl, c) {
				if verb == "milestone" {
					return use(usageMilestone)
				}
				return use(usage)
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
			case 'd':
				dflag = true
			}
		}
		args = args[1:]
	}
	switch verb {
	case "mark":
		if len(args) < 2 {
			return use(usage)
		}
		switch args[0] {
		case "degraded":
			if req.Temporary {
				fmt.Fprintln(env.Stderr, "svcadm: -t may not be used with degraded.")
				return ExitUsage
			}
		case "maintenance":
		default:
			return use(usage)
		}
		req.State, args = args[0], args[1:]
	case "milestone":
		if len(args) != 1 {
			return use(usageMilestone)
		}
		m, ok := manifest.MajorMilestone(args[0])
		if !ok {
			fmt.Fprintf(env.Stderr, "\"%s\" is not a valid major milestone.\n", args[0])
			return use(usageMilestone)
		}
		req.Milestone, req.Temporary = m, !dflag
		if _, err := env.Call(req); err != nil {
			return fail(env, err)
		}
		return ExitOK
	}
	if len(args) == 0 {
		return use(usage)
	}
	code := ExitOK
	// Each operand on its own, as svcadm does: one bad name does not
	// stop the rest.
	var done []string
	for _, pat := range args {
		action := actionName(env, verb, req, pat, verbose)
		r := *req
		r.FMRIs = []string{pat}
		resp, err := env.Call(&r)
		if resp != nil {
			done = append(done, resp.FMRIs...)
		}
		if err != nil {
			code = fail(env, err)
			continue
		}
		if verbose {
			for _, f := range append(resp.FMRIs, resp.Also...) {
				fmt.Fprintln(env.Stdout, doneMessage(verb, action, f, r.Temporary))
			}
		}
	}
	// -s waits only when every request went through. An instance that
	// cannot get there by itself (3) outranks a dependency problem (4).
	if wait && code == ExitOK {
		for _, f := range done {
			switch c := waitFor(env, f, verb == "enable"); {
			case c == ExitDependency && code == ExitOK, c == ExitState, c == ExitFatal:
				code = c
			}
		}
	}
	return code
}

// fail reports an error from the restarter.
func fail(env Env, err error) int {
	if strings.Contains(err.Error(), control.ErrUnavailable.Error()) {
		fmt.Fprintf(env.Stderr, "svcadm: Couldn't bind to svc.configd: %v.\n", err)
		return ExitFatal
	}
	fmt.Fprintf(env.Stderr, "svcadm: %v\n", err)
	return ExitFatal
}

// actionName is the restarter action a verb sets, as -v names it; clear's
// depends on the state it clears (asked only with -v).
func actionName(env Env, verb string, req *control.Request, pat string, verbose bool) string {
	switch verb {
	case "restart", "refresh":
		return verb
	case "mark":
		switch {
		case req.State == "degraded" && req.Immediate:
			return "degrade_immediate"
		case req.State == "degraded":
			return "degraded"
		case req.Immediate && req.Temporary:
			return "maint_on_immtemp"
		case req.Immediate:
			return "maint_on_immediate"
		case req.Temporary:
			return "maint_on_temporary"
		}
		return "maint_on"
	case "clear":
		if !verbose {
			return ""
		}
		if resp, err := env.Call(&control.Request{Op: control.OpStatus}); err == nil {
			for _, s := range resp.Instances {
				if matches(pat, s.FMRI) && s.State == "degraded" {
					return "restore"
				}
			}
		}
		return "maint_off"
	}
	return ""
}

// doneMessage is what -v prints for each instance acted on.
func doneMessage(verb, action, fmri string, temporary bool) string {
	switch verb {
	case "enable", "disable":
		if temporary {
			return fmt.Sprintf("%s temporarily %sd.", fmri, verb)
		}
		return fmt.Sprintf("%s %sd.", fmri, verb)
	}
	return fmt.Sprintf("Action %s set for %s.", action, fmri)
}

// waitFor polls until the instance reaches the state enable or disable
// asks for, or cannot: svcadm -s.
func waitFor(env Env, fmri string, enable bool) int {
	for {
		resp, err := env.Call(&control.Request{Op: control.OpStatus})
		if err != nil {
			return fail(env, err)
		}
		by := map[string]*control.Status{}
		for _, x := range resp.Instances {
			by[x.FMRI] = x
		}
		s := by[fmri]
		switch {
		case s == nil:
			fmt.Fprintf(env.Stderr, "svcadm: Instance \"%s\" has been deleted.\n", fmri)
			return ExitState
		case enable && (s.State == "online" || s.State == "degraded"), !enable && s.State == "disabled":
			return ExitOK
		case s.State == "maintenance":
			fmt.Fprintf(env.Stderr, "svcadm: Instance \"%s\" is in maintenance state.\n", fmri)
			return ExitState
		case enable && !s.Enabled:
			fmt.Fprintf(env.Stderr, "svcadm: Instance \"%s\" has been disabled by another entity.\n", fmri)
			return ExitState
		case !enable && s.Enabled:
			fmt.Fprintf(env.Stderr, "svcadm: Instance \"%s\" has been enabled by another entity.\n", fmri)
			return ExitState
		case enable && !potential(s, by, map[string]bool{}):
			fmt.Fprintf(env.Stderr, "svcadm: Instance \"%s\" has unsatisfied dependencies.\n", fmri)
			return ExitDependency
		}
		time.Sleep(env.Poll)
	}
}
