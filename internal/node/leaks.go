package node

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"hull/internal/cgroup"
	"hull/internal/pool"
	"hull/internal/zone"
)

// Leaks lists what a VM that no longer exists still has on the host: a
// mount, cgroup, uid range, runtime state, file or dataset. Deletion and
// crash recovery must leave it empty; tests check that they do.
func (n *Node) Leaks(uuid string) []string {
	var out []string
	for _, p := range []string{n.Zonepath(uuid), n.rootFS(uuid)} {
		for _, m := range MountsUnder(p) {
			out = append(out, "mount "+m)
		}
	}
	if cgroup.Exists(n.Cgroups, zone.CgroupsPath(uuid)) {
		out = append(out, "cgroup "+zone.CgroupsPath(uuid))
	}
	if n.IDs != nil {
		if _, ok, _ := n.IDs.Lookup(uuid); ok {
			out = append(out, "uid range of "+uuid)
		}
	}
	paths := []string{n.vmFile(uuid), n.stateFile(uuid), n.bundle(uuid), n.Zonepath(uuid)}
	if n.Runtime != nil {
		paths = append(paths, filepath.Join(n.Runtime.Root, zone.ContainerID(uuid)))
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			out = append(out, "file "+p)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(n.Root, "journal")); len(ents) > 0 {
		out = append(out, "journal entries")
	}
	for _, l := range zoneLinks(uuid) {
		out = append(out, "link "+l)
	}
	if n.Pool != nil {
		for _, ds := range []string{dataset(uuid), delegated(uuid), reprovisionNew(uuid), reprovisionOld(uuid), reprovisionData(uuid)} {
			if ok, _ := pool.Exists(n.Pool, ds); ok {
				out = append(out, "dataset "+ds)
			}
		}
	}
	for _, pid := range runtimeProcesses(n.bundle(uuid)) {
		out = append(out, "runtime process "+pid)
	}
	return out
}

// runtimeProcesses lists the runtime processes still at work on a bundle
// (their command line names it). A runtime released by cleanup is given a
// moment to exit.
func runtimeProcesses(bundle string) []string {
	var pids []string
	for try := 0; try < 40; try++ {
		pids = pids[:0]
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err == nil && slices.Contains(strings.Split(string(b), "\x00"), bundle) {
				pids = append(pids, e.Name())
			}
		}
		if len(pids) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return pids
}

// MountsUnder lists the mount points at or under prefix, deepest first.
func MountsUnder(prefix string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 4 && (fs[4] == prefix || strings.HasPrefix(fs[4], prefix+"/")) {
			out = append(out, fs[4])
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
