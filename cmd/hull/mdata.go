package main

import (
	"os"

	"golang.org/x/term"

	"hull/internal/mdata"
)

// The in-zone metadata tools. Zones reach them as /usr/sbin/mdata-* (the
// hull binary mounted under those names), so main picks them by argv[0];
// they are not installed on the host's PATH.
func init() {
	for _, name := range []string{"mdata-get", "mdata-put", "mdata-delete", "mdata-list"} {
		register(name, func(args []string) int {
			argv0 := name
			if len(os.Args) > 0 && len(args) == len(os.Args)-1 {
				argv0 = os.Args[0] // run by this name, not as "hull mdata-get"
			}
			return mdata.Main(argv0, args, mdata.Env{
				Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
				StdinIsTTY: term.IsTerminal(int(os.Stdin.Fd())),
			})
		}, false)
	}
	// The start methods of a zone's svc:/smartdc/mdata services.
	register("mdata-fetch", mdata.FetchMain, false)
	register("mdata-execute", mdata.ExecuteMain, false)
}
