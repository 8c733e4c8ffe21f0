// Package svccfg is the svccfg command: validate, import, export and
// delete service manifests.
package svccfg

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"hull/internal/smf/control"
	"hull/internal/smf/manifest"
)

const usage = `Usage: svccfg [-v] [-z zone] [subcommand [args...]]

	svccfg validate file.xml	- check a manifest
	svccfg import file.xml		- import a manifest into the repository
	svccfg export <service>		- print a service's manifest
	svccfg delete [-f] <service>	- delete a service
`

// Env is what svccfg needs.
type Env struct {
	Stdout, Stderr io.Writer
	Call           func(*control.Request) (*control.Response, error)
}

// Main runs svccfg.
func Main(args []string, env Env) int {
	for len(args) > 0 && args[0] == "-v" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "validate", "import":
		if len(args) != 1 {
			fmt.Fprint(env.Stderr, usage)
			return 2
		}
		data, err := os.ReadFile(args[0])
		if err != nil {
			fmt.Fprintf(env.Stderr, "svccfg: %v\n", err)
			return 1
		}
		if _, err := manifest.Parse(args[0], data); err != nil {
			report(env, err)
			return 1
		}
		if cmd == "validate" {
			return 0
		}
		if _, err := env.Call(&control.Request{Op: control.OpImport, Name: args[0], Manifest: data}); err != nil {
			report(env, err)
			return 1
		}
		return 0
	case "export":
		if len(args) != 1 {
			fmt.Fprint(env.Stderr, usage)
			return 2
		}
		resp, err := env.Call(&control.Request{Op: control.OpExport, FMRIs: args})
		if err != nil {
			fmt.Fprintf(env.Stderr, "svccfg: %v\n", err)
			return 1
		}
		env.Stdout.Write(resp.Manifest)
		return 0
	case "delete":
		force := len(args) > 0 && args[0] == "-f"
		if force {
			args = args[1:]
		}
		if len(args) != 1 {
			fmt.Fprint(env.Stderr, usage)
			return 2
		}
		if _, err := env.Call(&control.Request{Op: control.OpDelete, FMRIs: args, Force: force}); err != nil {
			fmt.Fprintf(env.Stderr, "svccfg: %v\n", err)
			return 1
		}
		return 0
	case "-h", "help":
		fmt.Fprint(env.Stdout, usage)
		return 0
	}
	fmt.Fprintf(env.Stderr, "svccfg: unknown subcommand \"%s\"\n%s", cmd, usage)
	return 2
}

// report prints each manifest error on its own line.
func report(env Env, err error) {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		for _, e := range j.Unwrap() {
			fmt.Fprintf(env.Stderr, "svccfg: %v\n", e)
		}
		return
	}
	for _, l := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(env.Stderr, "svccfg: %s\n", l)
	}
}
