//go:build zone

package main

import (
	"fmt"
	"os"
)

// enterZone: inside a zone there is no other zone to reach (svcs says
// so as SmartOS's does, and exits 1).
func enterZone(name, z string, rest []string) int {
	fmt.Fprintf(os.Stderr, "%s: %s -z may only be used from the global zone\n", name, name)
	return 1
}
