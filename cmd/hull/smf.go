package main

import (
	"os"

	"hull/internal/smf/control"
	"hull/internal/smf/startd"
	"hull/internal/smf/svcadm"
	"hull/internal/smf/svccfg"
	"hull/internal/smf/svcs"
)

// SMF: the service manager's commands, and svc.startd, PID 1 of joyent
// and sparse zones (and a host restarter when not PID 1).
func init() {
	register("svcs", func(args []string) int {
		return inZone("svcs", args, func(a []string) int {
			return svcs.Main(a, svcs.Env{Stdout: os.Stdout, Stderr: os.Stderr, Call: smfCall})
		})
	}, true)
	register("svcadm", func(args []string) int {
		return inZone("svcadm", args, func(a []string) int {
			return svcadm.Main(a, svcadm.Env{Stdout: os.Stdout, Stderr: os.Stderr, Call: smfCall})
		})
	}, true)
	register("svccfg", func(args []string) int {
		return inZone("svccfg", args, func(a []string) int {
			return svccfg.Main(a, svccfg.Env{Stdout: os.Stdout, Stderr: os.Stderr, Call: smfCall})
		})
	}, true)
	register("svc.startd", startd.Main, false)
}

func smfCall(r *control.Request) (*control.Response, error) { return control.Call(control.Socket(), r) }

// inZone runs the command here, or with -z <zone> inside that zone.
func inZone(name string, args []string, local func([]string) int) int {
	var z string
	rest := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-z" && i+1 < len(args):
			z = args[i+1]
			i++
		case len(args[i]) > 2 && args[i][:2] == "-z" && args[i][2] != '-':
			z = args[i][2:]
		default:
			rest = append(rest, args[i])
		}
	}
	if z == "" {
		return local(rest)
	}
	return enterZone(name, z, rest)
}
