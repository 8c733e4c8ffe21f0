package main

import (
	"os"

	"golang.org/x/term"

	"hull/internal/zoneinit"
)

// A zone's halt, poweroff, reboot and shutdown: zones reach them as
// /usr/sbin/<name> (the hull binary mounted under those names); they are
// not installed on the host's PATH, and refuse to act outside a zone.
func init() {
	for _, name := range zoneinit.ShutdownTools {
		register(name, func(args []string) int {
			return zoneinit.ToolMain(name, args, os.Stdin, os.Stdout, os.Stderr, term.IsTerminal(int(os.Stdin.Fd())))
		}, false)
	}
}
