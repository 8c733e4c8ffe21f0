// Command hull is the one hull binary. The name it is run as (vmadm,
// zlogin, imgadm, hulld, …) or its first argument picks the personality.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// personalities maps a command name to its entry point. Each feature's
// file registers its own; the in-zone build (-tags zone) has only those
// that run inside zones.
var personalities = map[string]func(args []string) int{}

// userCommands are the personalities installed as symlinks on PATH.
var userCommands []string

// register adds a personality from another file of this package (one
// file per feature keeps main.go from growing with each command); user
// ones are also installed as symlinks on PATH.
func register(name string, run func(args []string) int, user bool) {
	if _, dup := personalities[name]; dup {
		panic("hull: personality registered twice: " + name)
	}
	personalities[name] = run
	if user {
		userCommands = append(userCommands, name)
	}
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	run, ok := personalities[name]
	if !ok {
		if len(args) == 0 {
			usage(os.Stderr)
			os.Exit(2)
		}
		name, args = args[0], args[1:]
		if name == "-h" || name == "--help" || name == "help" {
			usage(os.Stdout)
			os.Exit(0)
		}
		if run, ok = personalities[name]; !ok {
			fmt.Fprintf(os.Stderr, "hull: unknown command %q\n", name)
			usage(os.Stderr)
			os.Exit(2)
		}
	}
	os.Exit(run(args))
}

// hullCommands are run as `hull <command>` only, with what each is for
// (the personalities zones run inside are left out).
var hullCommands = [][2]string{
	{"bench", "measure the node against its peers (docs/bench.md)"},
	{"imgapi serve", "serve images over the IMGAPI protocol (docs/imgapi.md)"},
	{"install [DIR]", "make the command symlinks in DIR (default /usr/local/bin)"},
	{"network", "the node's managed networks (docs/network.md)"},
	{"pool", "the node's pool: list, status, scrub, datasets (docs/pools.md)"},
	{"zfs", "zfs list of the pool's datasets (docs/pools.md)"},
	{"zone-binary", "write the in-zone build of hull to stdout"},
}

// usage lists the commands: on stdout when asked for, on stderr after a
// mistake.
func usage(w io.Writer) {
	names := make([]string, 0, len(userCommands))
	names = append(names, userCommands...)
	sort.Strings(names)
	fmt.Fprintf(w, "Usage: hull <command> [args]\n\nCommands: %s\n\nRun as a symlink named after a command (hull install makes them), hull behaves as that command.\n\nhull's own commands:\n", strings.Join(names, ", "))
	for _, c := range hullCommands {
		fmt.Fprintf(w, "    hull %-16s %s\n", c[0], c[1])
	}
}
