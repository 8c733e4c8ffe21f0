//go:build !zone

package main

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
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
