package main

import "hull/internal/dockerinit"

// dockerinit: PID 1 of docker zones, running the image's entrypoint.
func init() { register("dockerinit", dockerinit.Main, false) }
