package node

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"hull/internal/vm"
)

// Docker restart policies, as SmartOS's vmadmd applies them: when a docker
// VM's program exits while the VM is to stay up (autoboot set, no stop
// asked for), internal_metadata docker:restartpolicy says whether it is
// started again: "always", or "on-failure[:N]" after a non-zero exit (at
// most N times, counted in docker:restartcount). The wait doubles with
// each restart (docker:restartdelay, in ms; 100 ms × 2^count at first),
// back to 100 ms after a run of more than 10 s.
const (
	dockerDelayMin   = 100 * time.Millisecond
	dockerDelayReset = 10 * time.Second
	dockerDelayMax   = 24 * 3600 * 1000 // ms: a day, against any value written there
)

// dockerRestart decides whether a docker VM whose program exited with
// status (nil: unknown) after running for ran is started again, and after
// how long.
func dockerRestart(im map[string]string, status *int, ran time.Duration) (time.Duration, bool) {
	policy, limit := im["docker:restartpolicy"], 0
	if p, n, ok := strings.Cut(policy, ":"); ok {
		v, err := strconv.Atoi(n)
		if p != "on-failure" || err != nil {
			return 0, false
		}
		policy, limit = p, v
	}
	switch policy {
	case "always":
	case "on-failure":
		if status == nil || *status == 0 {
			return 0, false
		}
	default:
		return 0, false
	}
	count, _ := strconv.Atoi(im["docker:restartcount"])
	count = max(count, 0) // metadata anyone may have written
	if limit > 0 && count >= limit {
		return 0, false
	}
	if ran > dockerDelayReset {
		return dockerDelayMin, true
	}
	if ms, err := strconv.Atoi(im["docker:restartdelay"]); err == nil && ms > 0 {
		return time.Duration(min(ms, dockerDelayMax)) * time.Millisecond, true
	}
	return dockerDelayMin << min(count, 20), true
}

// dockerRestarts are the restarts waiting for their delay, in the process
// that reaps zones (hulld). One lost with it is made by the next hulld's
// autoboot.
type dockerRestarts struct {
	mu sync.Mutex
	at map[string]pendingRestart
}

type pendingRestart struct {
	when  time.Time
	delay time.Duration
}

func (d *dockerRestarts) add(uuid string, delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.at == nil {
		d.at = map[string]pendingRestart{}
	}
	d.at[uuid] = pendingRestart{when: time.Now().Add(delay), delay: delay}
}

// due takes the restarts whose time has come.
func (d *dockerRestarts) due() map[string]pendingRestart {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]pendingRestart{}
	for uuid, p := range d.at {
		if !time.Now().Before(p.when) {
			out[uuid] = p
			delete(d.at, uuid)
		}
	}
	return out
}

// scheduleDockerRestart applies v's restart policy to its program's exit
// (the caller holds the VM's lock and has decided the zone stays down
// otherwise).
func (n *Node) scheduleDockerRestart(v *vm.VM, r *runState, status *int, log *slog.Logger) {
	if r.Stopping {
		return
	}
	var ran time.Duration
	if t, err := time.Parse(stampLayout, r.Booted); err == nil {
		ran = time.Since(t)
	}
	n.applyRestartPolicy(v, status, ran, log)
}

// scheduleStoppedDocker applies the restart policies of stopped docker
// VMs, as vmadmd does when it starts: their restart may have been waiting
// in a hulld that is gone.
func (n *Node) scheduleStoppedDocker(log *slog.Logger) {
	vms, err := n.List()
	if err != nil {
		return
	}
	for _, v := range vms {
		if v.State == "stopped" {
			n.applyRestartPolicy(v, v.ExitStatus, 0, log)
		}
	}
}

// applyRestartPolicy schedules the restart of a docker VM that is to be
// up (autoboot set) when its policy wants one.
func (n *Node) applyRestartPolicy(v *vm.VM, status *int, ran time.Duration, log *slog.Logger) {
	if !vm.Bool(v.Docker, false) || !vm.Bool(v.Autoboot, true) {
		return
	}
	if delay, ok := dockerRestart(v.InternalMetadata, status, ran); ok {
		log.Info("docker restart policy: starting again", "uuid", v.UUID, "policy", v.InternalMetadata["docker:restartpolicy"], "delay", delay)
		n.restarts.add(v.UUID, delay)
	}
}

// restartDocker starts the docker VMs whose restart delay has passed and
// that are still to be up, counting the restart in docker:restartcount
// and doubling docker:restartdelay for the next one. It returns those
// started.
func (n *Node) restartDocker(ctx context.Context, log *slog.Logger) []string {
	var started []string
	for uuid, p := range n.restarts.due() {
		if n.restartOne(ctx, uuid, p.delay, log) {
			started = append(started, uuid)
		}
	}
	return started
}

func (n *Node) restartOne(ctx context.Context, uuid string, delay time.Duration, log *slog.Logger) bool {
	v, unlock, err := n.lockedVM(uuid)
	if err != nil {
		return false
	}
	defer unlock()
	if r, _ := n.loadRun(uuid); r.alive() || !vm.Bool(v.Autoboot, true) || v.InternalMetadata["docker:restartpolicy"] == "" {
		return false
	}
	count, _ := strconv.Atoi(v.InternalMetadata["docker:restartcount"])
	v.InternalMetadata["docker:restartcount"] = strconv.Itoa(count + 1)
	v.InternalMetadata["docker:restartdelay"] = strconv.FormatInt((2 * delay).Milliseconds(), 10)
	if err := n.saveVM(v); err != nil {
		log.Error("docker restart", "uuid", uuid, "err", err)
		return false
	}
	if err := n.boot(ctx, v); err != nil {
		log.Error("docker restart", "uuid", uuid, "err", err)
		return false
	}
	n.emit("modify", v, []Change{{Path: "state", Action: "changed", Old: "stopped", New: "running"}})
	return true
}
