package main

import (
	"hull/internal/zoneinit"
)

// In-zone helper: the minimal PID 1 of OS zones.
func init() {
	register("zoneinit", zoneinit.Main, false)
}
