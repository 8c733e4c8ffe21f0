package cgroup

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PrimeMigration gives a zone's boot a head start on the kernel's wait
// before its first cgroup move. Every move of a process into a cgroup
// takes the kernel's global threadgroup lock for writing, and the first
// writer after a quiet spell waits for an RCU grace period before it may
// (several ms: about 10 on the test machine). Writers that come while
// that wait is under way, or within a grace period after it, share it.
// A boot has the runtime move the zone's init into the zone's cgroups on
// its critical path; moving this process into the cgroup it is already
// in, as the boot starts, starts the grace period while the node still
// prepares the zone. The move changes nothing; on a host that mounts its
// cgroups with favordynmods there is no wait to start. Errors are
// ignored: this is only a head start.
func PrimeMigration(mode Mode) {
	p, err := ownProcs(mode)
	if err != nil {
		return
	}
	go func() { _ = moveSelf(p) }()
}

// moveSelf writes this process's pid to procs, a cgroup.procs file.
func moveSelf(procs string) error {
	return os.WriteFile(procs, []byte(strconv.Itoa(os.Getpid())), 0)
}

// ownProcs is the cgroup.procs file of this process's cgroup in one of
// mode's hierarchies.
func ownProcs(mode Mode) (string, error) {
	hs, err := hierarchies(mode)
	if err != nil {
		return "", err
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	in, err := Membership(f)
	if err != nil {
		return "", err
	}
	return procsFile(hs, in)
}

// Membership reads a /proc/<pid>/cgroup file: the process's cgroup in
// each hierarchy, keyed by each of a v1 hierarchy's controllers (or its
// name, "name=systemd") and by Unified for the cgroup2 hierarchy.
func Membership(r io.Reader) (map[string]string, error) {
	in := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			in[Unified] = f[2]
			continue
		}
		for _, k := range strings.Split(f[1], ",") {
			in[k] = f[2]
		}
	}
	return in, sc.Err()
}

// procsFile picks the first hierarchy in hs that in (from Membership)
// places the process in, and returns the cgroup.procs file of that
// cgroup.
func procsFile(hs []hierarchy, in map[string]string) (string, error) {
	for _, h := range hs {
		if len(h.keys) == 0 {
			continue
		}
		if rel, ok := in[h.keys[0]]; ok {
			return filepath.Join(h.join(rel), "cgroup.procs"), nil
		}
	}
	return "", errors.New("cgroup: this process is in none of the mounted hierarchies")
}
