package node

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hull/internal/cgroup"
	"hull/internal/vm"
	"hull/internal/zone"
)

// Update applies an update payload. Live properties (resource controls)
// change on the running zone at once; the rest take effect at the next
// boot. A failure restores the previous object and limits.
func (n *Node) Update(ctx context.Context, uuid string, payload []byte) (*vm.VM, error) {
	unlock, err := n.lock(uuid)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cur, err := n.loadVM(uuid)
	if err != nil {
		return nil, err
	}
	payload, err = n.fillNetworkTags(payload)
	if err != nil {
		return nil, err
	}
	next, changed, err := vm.ApplyUpdate(cur, payload, time.Now())
	if err != nil {
		return nil, err
	}
	if !hasDelegated(next) && next.IndestructibleData != nil {
		// As SmartOS: without a delegated dataset there is nothing to
		// make indestructible.
		next.IndestructibleData = nil
		changed = slices.DeleteFunc(changed, func(p string) bool { return p == "indestructible_delegated" })
	}
	if slices.Contains(changed, "nics") {
		if err := n.networksUp(next); err != nil {
			return nil, err
		}
		if err := n.checkNicTags(next); err != nil {
			return nil, err
		}
		if err := n.assignNetworks(next); err != nil {
			return nil, err
		}
		release, err := n.reserveNICs(next)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	if len(changed) == 0 {
		return n.Get(uuid)
	}
	old, err := json.Marshal(cur)
	if err != nil {
		return nil, err
	}
	op, err := n.Journal.Begin("update", uuid)
	if err != nil {
		return nil, err
	}
	defer op.Rollback()
	// "live" is recorded before "vm" so that, undone in reverse, the old
	// object is back before the old limits are re-applied from it.
	storage := slices.ContainsFunc(changed, func(p string) bool {
		return p == "quota" || p == "zfs_root_compression" || p == "zfs_data_compression"
	})
	nics := slices.Contains(changed, "nics") || slices.Contains(changed, "routes")
	if nics {
		if err := op.Undo("nics", uuid); err != nil {
			return nil, err
		}
	}
	if storage {
		if err := op.Undo("storage", uuid); err != nil {
			return nil, err
		}
	}
	if err := op.Undo("live", uuid); err != nil {
		return nil, err
	}
	hostConf := hostConfChanged(cur, next, changed)
	if hostConf {
		// Undone after the object: the files follow the old one.
		if err := op.Undo("hostconf", uuid); err != nil {
			return nil, err
		}
	}
	if err := op.Undo("vm", uuid, string(old)); err != nil {
		return nil, err
	}
	if err := n.saveVM(next); err != nil {
		return nil, err
	}
	failpoint("update/after-save")
	// Dataset properties hold whether the zone runs or not.
	if storage {
		if err := n.applyStorage(next); err != nil {
			return nil, fmt.Errorf("update %s: %w", uuid, err)
		}
	}
	running := false
	if r, _ := n.loadRun(uuid); r.alive() {
		running = true
	}
	if r, _ := n.loadRun(uuid); nics && r.alive() {
		// NICs and their anti-spoofing change on the running zone.
		if err := n.replumb(next, r.PID); err != nil {
			return nil, fmt.Errorf("update %s: nics: %w", uuid, err)
		}
	}
	if running && anyLive(changed) {
		if err := n.applyLive(ctx, next); err != nil {
			return nil, fmt.Errorf("update %s: %w", uuid, err)
		}
	}
	if err := n.maintainResolvers(next, changed); err != nil {
		return nil, fmt.Errorf("update %s: %w", uuid, err)
	}
	if hostConf {
		if err := n.rewriteHostConf(next); err != nil {
			return nil, fmt.Errorf("update %s: %w", uuid, err)
		}
		failpoint("update/after-hostconf")
	}
	if err := op.Commit(); err != nil {
		return nil, err
	}
	if nics {
		// Addresses of removed NICs go back to their networks.
		var gone []string
		for _, m := range nicMACs(cur) {
			if !slices.Contains(nicMACs(next), m) {
				gone = append(gone, m)
			}
		}
		_ = n.releaseNetworks(gone)
	}
	n.emit("modify", next, propertyChanges(cur, next, changed))
	return n.Get(uuid)
}

func anyLive(props []string) bool {
	for _, p := range props {
		if vm.IsLive(p) {
			return true
		}
	}
	return false
}

// applyLive pushes the VM's resource controls to its running zone.
func (n *Node) applyLive(ctx context.Context, v *vm.VM) error {
	id := zone.ContainerID(v.UUID)
	res := liftRemovedCaps(v, zone.Resources(v))
	res.Devices = nil
	if err := n.Runtime.Update(ctx, id, res); err != nil {
		return err
	}
	n.applyExtras(v)
	if v.MaxLockedMemory > 0 {
		setMemlock(n.Cgroups, v.UUID, uint64(v.MaxLockedMemory)<<20)
	}
	r, _ := n.loadRun(v.UUID)
	if !r.alive() {
		return nil
	}
	if err := n.applyIPCLimits(v, r.PID); err != nil {
		return err
	}
	if v.Tmpfs != nil && *v.Tmpfs > 0 {
		return resizeTmp(r.PID, *v.Tmpfs)
	}
	return nil
}

// liftRemovedCaps makes a cap the VM no longer has (an update set
// cpu_cap, max_lwps or max_physical_memory to 0, which removes it) an
// explicit "unlimited" for the runtime: a limit left out of an update is
// left as it was, so the old cap would stay on the running zone.
func liftRemovedCaps(v *vm.VM, res *specs.LinuxResources) *specs.LinuxResources {
	unlimited := int64(-1)
	if v.CPUCap == 0 {
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		res.CPU.Quota = &unlimited
	}
	if v.MaxLwps == 0 {
		res.Pids = &specs.LinuxPids{Limit: unlimited}
	}
	if v.MaxPhysicalMemory == 0 {
		res.Memory = &specs.LinuxMemory{Limit: &unlimited, Swap: &unlimited}
	}
	return res
}

// setMemlock changes RLIMIT_MEMLOCK of every process in the zone; there
// is no cgroup control for locked memory.
func setMemlock(mode cgroup.Mode, uuid string, bytes uint64) {
	for _, pid := range cgroup.Procs(mode, zone.CgroupsPath(uuid)) {
		lim := unix.Rlimit{Cur: bytes, Max: bytes}
		_ = unix.Prlimit(pid, unix.RLIMIT_MEMLOCK, &lim, nil)
	}
}
