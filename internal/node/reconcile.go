package node

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/idmap"
	"hull/internal/vm"
)

// ExitMarker is where a zone's init notes, inside the zone, why it
// exited ("halt" or "reboot"), since the host is not its parent and
// cannot collect its exit status.
const ExitMarker = "run/.hull-exit"

// Reconcile brings the host in line with the VM objects: a zone whose
// init has exited is cleaned up (and booted again when it asked to
// reboot, or, for a docker VM, when its restart policy says so once its
// delay has passed), and runtime state or mounts of VMs that no longer
// exist are removed. It returns the uuids it booted again.
func (n *Node) Reconcile(ctx context.Context, log *slog.Logger) []string {
	var rebooted []string
	ids, _ := n.uuids()
	known := map[string]bool{}
	for _, uuid := range ids {
		known[uuid] = true
		r, err := n.loadRun(uuid)
		if err != nil || r.alive() {
			continue
		}
		if n.reapOne(ctx, uuid, log) {
			rebooted = append(rebooted, uuid)
		}
	}
	// Orphans: idmapped roots and run records without a VM object.
	for _, dir := range []string{filepath.Join(n.runDir(), "rootfs"), filepath.Join(n.runDir(), "zones")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			uuid := strings.TrimSuffix(e.Name(), ".json")
			if ValidUUID(uuid) && !known[uuid] {
				if unlock, err := n.lock(uuid); err == nil {
					if _, err := os.Stat(n.vmFile(uuid)); errors.Is(err, os.ErrNotExist) {
						log.Info("removing leftovers of a VM that no longer exists", "uuid", uuid)
						_ = n.cleanupContainer(ctx, uuid)
						_ = idmap.Unmount(n.rootFS(uuid))
					}
					unlock()
				}
			}
		}
	}
	return append(rebooted, n.restartDocker(ctx, log)...)
}

// reapOne cleans up after a zone whose init exited, and boots it again if
// the zone asked for a reboot or its init died while restart_init holds.
func (n *Node) reapOne(ctx context.Context, uuid string, log *slog.Logger) bool {
	unlock, err := n.lock(uuid)
	if err != nil {
		return false
	}
	defer unlock()
	// Re-check under the lock: a stop or start may have run meanwhile.
	r, err := n.loadRun(uuid)
	if err != nil || r.alive() {
		return false
	}
	v, err := n.loadVM(uuid)
	if err != nil {
		return false
	}
	reason, status := parseExit(n.takeExitMarker(uuid))
	_ = n.cleanupContainer(ctx, uuid)
	restart := reason != "halt" && reason != "reboot" && !r.Reboot &&
		vm.Bool(v.RestartInit, v.Docker == nil || !*v.Docker)
	again := !r.Stopping && (reason == "reboot" || r.Reboot || restart)
	now := time.Now()
	var recent []int64
	if again && restart {
		for _, t := range r.Restarts {
			if now.Unix()-t < restartWindow {
				recent = append(recent, t)
			}
		}
		if len(recent) >= maxRestarts {
			log.Error("init restarting too quickly: zone left stopped", "uuid", uuid, "restarts", len(recent))
			again = false
		}
	}
	if !again {
		log.Info("zone halted", "uuid", uuid, "reason", reason)
		if !r.Stopping {
			v.ExitStatus, v.ExitTimestamp = status, stamp(now)
			if err := n.saveVM(v); err != nil {
				log.Error("record exit", "uuid", uuid, "err", err)
			}
		}
		n.scheduleDockerRestart(v, r, status, log)
		n.emit("modify", v, []Change{{Path: "state", Action: "changed", Old: "running", New: "stopped"}})
		return false
	}
	log.Info("booting zone again", "uuid", uuid, "reason", reason)
	if err := n.boot(ctx, v); err != nil {
		log.Error("reboot failed", "uuid", uuid, "err", err)
		return false
	}
	if restart {
		if nr, err := n.loadRun(uuid); err == nil {
			nr.InitRestarts = r.InitRestarts + 1
			nr.Restarts = append(recent, now.Unix())
			_ = n.saveRun(uuid, nr)
		}
	}
	return true
}

// restart_init gives up on an init that died maxRestarts times within
// restartWindow seconds, instead of restarting it for ever.
const (
	maxRestarts   = 5
	restartWindow = 60
)

// takeExitMarker reads and removes the zone's exit marker, resolved
// inside the zone's root (the zone may have made /run a symlink: none
// leads out). It is read through the zone's view while that is mounted:
// the dataset's own path may not see the zone's last writes yet.
func (n *Node) takeExitMarker(uuid string) string {
	dir, base := path.Split(ExitMarker)
	for _, root := range []string{filepath.Join(n.rootFS(uuid), "root"), filepath.Join(n.Zonepath(uuid), "root")} {
		dfd, err := openZoneDir(root, dir, true)
		if err != nil || dfd < 0 {
			continue
		}
		why, _, err := readRegularAt(dfd, base)
		if err == nil {
			_ = unix.Unlinkat(dfd, base, 0)
		}
		unix.Close(dfd)
		if err == nil {
			return string(why)
		}
	}
	return ""
}

// parseExit reads the exit marker: "halt", "reboot", or "exit <status>"
// (an init that saw its main process end). A clean halt is status 0; an
// init that died without a word has no known status.
func parseExit(marker string) (reason string, status *int) {
	f := strings.Fields(marker)
	if len(f) == 0 {
		return "", nil
	}
	switch f[0] {
	case "halt":
		return "halt", ptr(0)
	case "exit":
		if len(f) > 1 {
			if code, err := strconv.Atoi(f[1]); err == nil {
				return "exit", ptr(code)
			}
		}
		return "exit", nil
	}
	return f[0], nil
}

// AutobootOnce is Autoboot for the first hulld since the host booted, as
// a SmartOS node boots its VMs when it comes up. A hulld started again on
// a host that stayed up leaves stopped VMs stopped (a zone that halted
// itself, a docker program that ended), as a restarted vmadmd does, but
// for docker VMs whose restart policy wants them up. It tells whether it
// autobooted.
func (n *Node) AutobootOnce(ctx context.Context, log *slog.Logger) bool {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		boot = nil // no boot id: every start is a boot's
	}
	marker := filepath.Join(n.runDir(), "autobooted")
	if done, err := os.ReadFile(marker); err == nil && boot != nil && string(done) == string(boot) {
		n.scheduleStoppedDocker(log)
		return false
	}
	n.Autoboot(ctx, log)
	if boot != nil {
		if err := replaceFile(marker, boot, 0o600, true); err != nil {
			log.Error("autoboot: record the host boot", "err", err)
		}
	}
	return true
}

// Autoboot boots every stopped VM whose autoboot is set, as a node does
// when it comes up.
func (n *Node) Autoboot(ctx context.Context, log *slog.Logger) {
	vms, err := n.List()
	if err != nil {
		return
	}
	for _, v := range vms {
		if v.State != "stopped" || !vm.Bool(v.Autoboot, true) {
			continue
		}
		if err := n.Start(ctx, v.UUID); err != nil && !errors.Is(err, ErrAlreadyRunning) {
			log.Error("autoboot failed", "uuid", v.UUID, "err", err)
			continue
		}
		log.Info("autobooted", "uuid", v.UUID)
	}
}
