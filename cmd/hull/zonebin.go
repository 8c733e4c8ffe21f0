//go:build !zone

package main

import (
	"embed"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/term"
)

// zoneBin holds the in-zone build of hull (-tags zone: PID 1, the mdata
// tools, svcs and svcadm, and nothing of the host's), which make build
// puts in zonebin/ before building this binary. Zones run it instead of
// the whole host binary: a quarter of the size, so each zone's init maps
// and touches far fewer pages.
//
//go:embed zonebin
var zoneBin embed.FS

func init() { register("zone-binary", writeZoneBinary, false) }

// writeZoneBinary writes the embedded in-zone binary to stdout; the node
// asks for it once per hull binary. It fails when this hull was built
// without one (a plain go build), and the node then uses this binary.
func writeZoneBinary(args []string) int {
	const usage = "Usage: hull zone-binary > FILE\n\nWrites the in-zone build of hull (the init and tools zones run) to stdout.\n"
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Print(usage)
		return 0
	}
	if len(args) > 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	if term.IsTerminal(int(os.Stdout.Fd())) {
		fmt.Fprintln(os.Stderr, "hull zone-binary: will not write a binary to a terminal")
		return 1
	}
	b, err := fs.ReadFile(zoneBin, "zonebin/hull")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hull: built without its in-zone binary (make build embeds it)")
		return 1
	}
	if _, err := os.Stdout.Write(b); err != nil {
		fmt.Fprintln(os.Stderr, "hull:", err)
		return 1
	}
	return 0
}
