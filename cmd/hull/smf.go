package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"hull/internal/smf/control"
	"hull/internal/smf/startd"
	"hull/internal/smf/svcadm"
	"hull/internal/smf/svccfg"
	"hull/internal/smf/svcs"
	"hull/internal/zone"
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

// inZone runs the command here, or with -z <zone> inside that zone: the
// same hull binary, run through the runtime the way zlogin enters it.
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
	n, err := openNode()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	uuid, err := n.Resolve(z)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	v, err := n.Get(uuid)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	if v.State != "running" {
		fmt.Fprintf(os.Stderr, "%s: zone %s is not running (%s)\n", name, z, v.State)
		return 1
	}
	if name == "svccfg" && len(rest) >= 2 && (rest[0] == "import" || rest[0] == "validate") {
		// The manifest is a host file: hand it over on stdin.
		f, err := os.Open(rest[1])
		if err != nil {
			fmt.Fprintf(os.Stderr, "svccfg: %v\n", err)
			return 1
		}
		defer f.Close()
		os.Stdin = f
		rest = append([]string{rest[0], "/dev/stdin"}, rest[2:]...)
	}
	c := n.Runtime.Exec(context.Background(), zone.ContainerID(uuid), zone.ExecOptions{}, append([]string{zone.HullBin, name}, rest...))
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := c.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}
