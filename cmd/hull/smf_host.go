//go:build !zone

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"hull/internal/zone"
)

// enterZone runs the SMF command name inside zone z: the zone's own hull
// binary, run through the runtime the way zlogin enters it.
func enterZone(name, z string, rest []string) int {
	n, err := openNode()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	uuid, err := n.Resolve(z)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	v, err := n.Get(uuid)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	if v.State != "running" {
		fmt.Fprintf(os.Stderr, "%s: zone %s is not running (%s)\n", name, z, v.State)
		return 1
	}
	if name == "svccfg" && len(rest) >= 2 && (rest[0] == "import" || rest[0] == "validate") {
		// The manifest is a host file: hand it over on stdin.
		f, err := os.Open(rest[1])
		if err != nil {
			fmt.Fprintf(os.Stderr, "svccfg: %v\n", err)
			return 1
		}
		defer f.Close()
		os.Stdin = f
		rest = append([]string{rest[0], "/dev/stdin"}, rest[2:]...)
	}
	// svcs names the zone and shows log files where the host finds them.
	env := []string{"SMF_ZONE=" + uuid, "SMF_ZONEROOT=" + filepath.Join(n.Zonepath(uuid), "root")}
	c := n.Runtime.Exec(context.Background(), zone.ContainerID(uuid), zone.ExecOptions{Env: env}, append([]string{zone.HullBin, name}, rest...))
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := c.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}
