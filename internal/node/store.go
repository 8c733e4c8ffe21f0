package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"hull/internal/atomicfile"
	"hull/internal/vm"
	"hull/internal/zone"
)

// ErrNoSuchVM is returned for a uuid the node does not have.
var ErrNoSuchVM = errors.New("no such VM")

// NoSuchZone is SmartOS's message for a missing VM (exactly, for the
// scripts that match it); it is ErrNoSuchVM.
func NoSuchZone(uuid string) error { return noSuchZone(uuid) }

type noSuchZone string

func (e noSuchZone) Error() string        { return "zoneadm: " + string(e) + ": No such zone configured" }
func (e noSuchZone) Is(target error) bool { return target == ErrNoSuchVM }

// runState is what the node records about a running zone. The state
// itself is derived from the kernel (is that pid, started at that time,
// alive?), not trusted from the file.
type runState struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"` // /proc/<pid>/stat field 22
	Booted    string `json:"boot_timestamp"`
	Stopping  bool   `json:"stopping,omitempty"`
	// Reboot asks the reaper to boot the zone again after init exits.
	Reboot bool `json:"reboot,omitempty"`
	// InitRestarts counts how often init was restarted since the zone
	// booted (restart_init); Restarts holds when, for the too-fast check.
	InitRestarts int     `json:"init_restarts,omitempty"`
	Restarts     []int64 `json:"restarts,omitempty"`
}

// writeFileAtomic replaces a file durably: readers see the old or the
// new content, never a torn one, also after a crash.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	return atomicfile.Write(path, b, atomicfile.Options{Mode: mode, Sync: true})
}

// replaceFile is writeFileAtomic; without durable it skips the fsync, for
// state that a host crash makes moot anyway (what runs now).
func replaceFile(path string, b []byte, mode os.FileMode, durable bool) error {
	return atomicfile.Write(path, b, atomicfile.Options{Mode: mode, Sync: durable})
}

// saveVM stores the VM object (without its computed fields).
func (n *Node) saveVM(v *vm.VM) error {
	b, err := vmBytes(v)
	if err != nil {
		return err
	}
	return writeFileAtomic(n.vmFile(v.UUID), b, 0o600)
}

func vmBytes(v *vm.VM) ([]byte, error) {
	c := *v
	c.State, c.ZoneState, c.PID, c.BootTimestamp = "", "", 0, ""
	return json.MarshalIndent(&c, "", "  ")
}

// loadVM reads the stored VM object, without computed state.
func (n *Node) loadVM(uuid string) (*vm.VM, error) {
	b, err := os.ReadFile(n.vmFile(uuid))
	if errors.Is(err, os.ErrNotExist) {
		return nil, NoSuchZone(uuid)
	}
	if err != nil {
		return nil, err
	}
	var v vm.VM
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("VM %s: corrupt object: %w", uuid, err)
	}
	return &v, nil
}

// uuids lists the VMs the node has.
func (n *Node) uuids() ([]string, error) {
	ents, err := os.ReadDir(n.vmDir())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".json") && ValidUUID(strings.TrimSuffix(name, ".json")) {
			out = append(out, strings.TrimSuffix(name, ".json"))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (n *Node) loadRun(uuid string) (*runState, error) {
	b, err := os.ReadFile(n.stateFile(uuid))
	if err != nil {
		return nil, err
	}
	var r runState
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (n *Node) saveRun(uuid string, r *runState) error {
	b, _ := json.Marshal(r)
	// Run state describes processes, which a host crash ends: no fsync.
	return replaceFile(n.stateFile(uuid), b, 0o600, false)
}

// procStartTime reads a process's start time (clock ticks since boot), so
// a recycled pid is not mistaken for the zone's init.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// Fields after the command name, which is in parentheses and may
	// contain spaces.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad stat for %d", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("bad stat for %d", pid)
	}
	// f[0] is field 3 (state); start time is field 22.
	if f[0] == "Z" || f[0] == "X" {
		return 0, fmt.Errorf("process %d is gone", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// alive reports whether the recorded init is still the same live process.
func (r *runState) alive() bool {
	if r == nil || r.PID <= 0 {
		return false
	}
	st, err := procStartTime(r.PID)
	return err == nil && st == r.StartTime
}

// fill adds the computed fields (state, zone_state, pid, boot_timestamp).
func (n *Node) fill(v *vm.VM) {
	r, _ := n.loadRun(v.UUID)
	n.fillFrom(v, r)
}

// fillFrom computes them from a run record (nil: the zone never ran, or
// its record is gone).
func (n *Node) fillFrom(v *vm.VM, r *runState) {
	v.Zonepath = n.Zonepath(v.UUID)
	if v.ZlogMode == "" && zone.IsDocker(v) {
		// (A docker VM saved before hull kept its zlog_mode.)
		v.ZlogMode = vm.DockerZlogMode(v.InternalMetadata)
	}
	switch {
	case r.alive() && r.Stopping:
		v.State, v.ZoneState = "shutting_down", "shutting_down"
		v.PID, v.BootTimestamp = r.PID, r.Booted
	case r.alive():
		v.State, v.ZoneState = "running", "running"
		v.PID, v.BootTimestamp = r.PID, r.Booted
		v.InitRestarts = ptr(r.InitRestarts)
		// The last exit describes a zone that is not running.
		v.ExitStatus, v.ExitTimestamp = nil, ""
	default:
		v.State, v.ZoneState = "stopped", "installed"
	}
}

func (n *Node) journalDir() string { return filepath.Join(n.Root, "journal") }

// Get returns a VM object with its state derived from the kernel.
func (n *Node) Get(uuid string) (*vm.VM, error) {
	if !ValidUUID(uuid) {
		return nil, fmt.Errorf("invalid uuid: %q", uuid)
	}
	v, err := n.loadVM(uuid)
	if err != nil {
		return nil, err
	}
	n.fill(v)
	return v, nil
}

// List returns every VM with derived state. The objects come from the
// list cache when it is current (see listcache.go), and the run records
// are found with one directory read rather than one failed open per
// stopped VM: listing stays fast with a thousand zones.
func (n *Node) List() ([]*vm.VM, error) {
	vms, err := n.storedVMs()
	if err != nil {
		return nil, err
	}
	running := map[string]bool{}
	if ents, err := os.ReadDir(filepath.Join(n.runDir(), "zones")); err == nil {
		for _, e := range ents {
			running[strings.TrimSuffix(e.Name(), ".json")] = true
		}
	}
	for _, v := range vms {
		if running[v.UUID] {
			r, _ := n.loadRun(v.UUID)
			n.fillFrom(v, r)
		} else {
			n.fillFrom(v, nil)
		}
	}
	return vms, nil
}

// parallel calls f(0..count-1) on a few goroutines.
func parallel(count int, f func(i int)) {
	workers := min(max(runtime.NumCPU(), 2), 8)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < count; i += workers {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// Resolve finds a VM by uuid or, for zlogin's convenience, by alias.
func (n *Node) Resolve(ref string) (string, error) {
	if ValidUUID(ref) {
		if _, err := os.Stat(n.vmFile(ref)); err == nil {
			return ref, nil
		}
		return "", NoSuchZone(ref)
	}
	vms, err := n.List()
	if err != nil {
		return "", err
	}
	var found []string
	for _, v := range vms {
		if v.Alias == ref || v.Zonename == ref {
			found = append(found, v.UUID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", NoSuchZone(ref)
	default:
		return "", fmt.Errorf("%q matches %d VMs; use the uuid", ref, len(found))
	}
}

func nowStamp() string { return stamp(time.Now()) }
