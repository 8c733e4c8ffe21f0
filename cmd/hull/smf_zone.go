//go:build zone

package main

import (
	"fmt"
	"os"
)

// enterZone: inside a zone there is no other zone to reach.
func enterZone(name, z string, rest []string) int {
	fmt.Fprintf(os.Stderr, "%s: -z is only valid in the global zone\n", name)
	return 2
}
