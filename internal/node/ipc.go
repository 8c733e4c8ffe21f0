package node

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"hull/internal/vm"
	"hull/internal/zone"
)

// applyIPCLimits sets a running zone's SysV IPC limits (zone.IPCSysctls)
// in its IPC namespace. The zone's own /proc/sys is read-only, so they
// are written from the host: on a thread that joins the namespace and
// takes as its effective uid the zone's root, the namespace's owner, who
// alone may write them. The thread is never used again.
func (n *Node) applyIPCLimits(v *vm.VM, pid int) error {
	rng, ok, err := n.IDs.Lookup(v.UUID)
	if err != nil || !ok {
		return fmt.Errorf("ipc limits: uid range of %s: %v", v.UUID, err)
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/ipc", pid))
	if err != nil {
		return fmt.Errorf("ipc limits: %w", err)
	}
	defer ns.Close()
	sysctls := zone.IPCSysctls(v, os.Getpagesize())
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the thread, with its namespace and uid, ends
		// with this goroutine.
		runtime.LockOSThread()
		done <- writeIPCSysctls(int(ns.Fd()), int(rng.HostID), sysctls)
	}()
	if err := <-done; err != nil {
		return fmt.Errorf("ipc limits of %s: %w", v.UUID, err)
	}
	return nil
}

// writeIPCSysctls runs on a locked thread of its own.
func writeIPCSysctls(nsFD, uid int, sysctls map[string]string) error {
	if err := unix.Setns(nsFD, unix.CLONE_NEWIPC); err != nil {
		return fmt.Errorf("join ipc namespace: %w", err)
	}
	// The raw call changes this thread's effective uid only (Go's
	// wrapper changes every thread's); the real and saved uids stay 0.
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)); e != 0 {
		return fmt.Errorf("take the zone root's uid: %w", e)
	}
	for _, k := range slices.Sorted(maps.Keys(sysctls)) {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(p, []byte(sysctls[k]), 0); err != nil {
			return err
		}
	}
	return nil
}
