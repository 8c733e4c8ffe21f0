package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"hull/internal/zoneinit"
)

// In-zone helpers: the minimal PID 1 of OS zones, and a live remount the
// host runs inside a zone (to resize /tmp).
func init() {
	register("zoneinit", zoneinit.Main, false)
	register("zone-remount", zoneRemount, false)
}

func zoneRemount(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: zone-remount <target> <options>")
		return 2
	}
	if err := unix.Mount("", args[0], "", unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV, args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "remount %s %s: %v\n", args[0], args[1], err)
		return 1
	}
	return 0
}
