package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/cgroup"
	"hull/internal/idmap"
	"hull/internal/journal"
	"hull/internal/vm"
	"hull/internal/zone"
	"hull/internal/zoneinit"
)

// Messages vmadm prints when there is nothing to do (exit 0).
var (
	ErrAlreadyRunning = errors.New("VM is already running")
	ErrNotRunning     = errors.New("VM is not running")
)

// ErrStopTimeout refuses a timeout for a stop that cannot take one.
var ErrStopTimeout = errors.New("Timeout option is only supported for bhyve, KVM and docker containers.")

// How long a graceful stop waits before halting the zone, unless told:
// SmartOS's 60 s for OS VMs, and docker's 10 s (SIGTERM, then SIGKILL)
// for docker VMs.
const (
	StopGrace       = 60 * time.Second
	DockerStopGrace = 10 * time.Second
)

// stopGrace is the default grace of v's stop.
func stopGrace(v *vm.VM) time.Duration {
	if vm.Bool(v.Docker, false) {
		return DockerStopGrace
	}
	return StopGrace
}

// failpoint kills the process at a named point when HULL_FAILPOINT names
// it, so tests can check that a crash there leaves nothing half-done.
func failpoint(name string) {
	if os.Getenv("HULL_FAILPOINT") == name {
		unix.Kill(os.Getpid(), unix.SIGKILL)
		time.Sleep(time.Hour)
	}
}

// Start boots a stopped VM and sets autoboot, as vmadm start does; as
// SmartOS's, not for a docker VM without a restart policy (docker's
// --restart=no).
func (n *Node) Start(ctx context.Context, uuid string) error {
	v, unlock, err := n.lockedVM(uuid)
	if err != nil {
		return err
	}
	defer unlock()
	op, err := n.Journal.Begin("start", uuid)
	if err != nil {
		return err
	}
	defer op.Rollback()
	if err := n.start(ctx, v, op, startOptions{}); err != nil {
		return err
	}
	noRestart := vm.Bool(v.Docker, false) && v.InternalMetadata["docker:restartpolicy"] == ""
	if !vm.Bool(v.Autoboot, true) && !noRestart {
		v.Autoboot = ptr(true)
		if err := n.saveVM(v); err != nil {
			return err
		}
	}
	if err := op.Commit(); err != nil {
		return err
	}
	n.emit("modify", v, []Change{{Path: "state", Action: "changed", Old: "stopped", New: "running"}})
	return nil
}

type undoer interface {
	Undo(kind string, args ...string) error
}

// startOptions tune start for the operation that calls it.
type startOptions struct {
	// fresh says the zone was created in the same operation: no earlier
	// run can have left anything behind.
	fresh bool
	// beforeMap, if set, must succeed before the zone's root is mapped
	// (writes to the dataset the caller does meanwhile: on an overlay
	// pool, once the mapped view is mounted, the dataset is written
	// through it only).
	beforeMap func() error
	// beforeRun, if set, must succeed before the runtime starts the
	// zone (work the caller does meanwhile).
	beforeRun func() error
	// launch, if set, gives the runtime the caller launched already.
	launch func() (*zone.Launch, error)
	// userns, if set, gives the user namespace of the zone's id range,
	// made by the caller.
	userns func() (*os.File, error)
}

// start boots the zone; the caller holds the VM's lock and an open journal
// operation, in which start records how to take the zone down again.
func (n *Node) start(ctx context.Context, v *vm.VM, op undoer, o startOptions) error {
	uuid := v.UUID
	steps := startSteps("start")
	if r, _ := n.loadRun(uuid); r.alive() {
		return ErrAlreadyRunning
	}
	// Whatever a previous run left (exited init, stale runtime state,
	// mounts) goes first. A zone created in this very operation has run
	// never, so there is nothing to look for.
	if !o.fresh {
		if err := n.cleanupContainer(ctx, uuid); err != nil {
			return err
		}
		steps.mark("cleanup")
		// (A dataset just cloned or created is mounted already.)
		if _, err := n.Pool.Mount(dataset(uuid)); err != nil {
			return fmt.Errorf("mount dataset of %s: %w", uuid, err)
		}
		steps.mark("mount")
		// A docker zone's name-service files are made anew at each
		// boot, as docker makes a container's.
		if zone.IsDocker(v) {
			if err := n.writeHostConf(v, true); err != nil {
				return err
			}
		}
	}
	// Before the zone's root is mapped: a host volume is written to the
	// dataset itself.
	if err := n.fetchHostVolumes(ctx, v); err != nil {
		return fmt.Errorf("start %s: %w", uuid, err)
	}
	if err := op.Undo("container", uuid); err != nil {
		return err
	}
	var l *zone.Launch
	var err error
	if o.launch != nil {
		l, err = o.launch()
	} else {
		l, err = n.launch(ctx, v)
	}
	if err != nil {
		return err
	}
	defer l.Abort()
	rng, err := n.IDs.Allocate(uuid)
	if err != nil {
		return err
	}
	// The user namespace that maps the zone's root takes a child
	// process to make: it is made while the bundle is written (unless
	// the caller made it already).
	userns := o.userns
	if userns == nil {
		userns = background(func() (*os.File, error) { return idmap.UsernsFD(rng) })
		defer func() {
			if f, err := userns(); err == nil {
				f.Close()
			}
		}()
	}
	// The idmapped view of the zone's root is mounted while the spec is
	// rendered; waited for before any return, so that no undo races it.
	mapped := backgroundErr(func() error {
		if o.beforeMap != nil {
			if err := o.beforeMap(); err != nil {
				return err
			}
		}
		ns, err := userns()
		if err != nil {
			return fmt.Errorf("map root of %s: %w", uuid, err)
		}
		if err := n.mapRoot(uuid, ns); err != nil {
			return fmt.Errorf("map root of %s: %w", uuid, err)
		}
		return nil
	})
	defer mapped()
	zc, err := n.PrepareZonecontrol(uuid)
	if err != nil {
		return err
	}
	n.noteMetadataService(zc)
	links := ""
	if v.Brand == "sparse" {
		if links, err = n.ToolLinks(); err != nil {
			return err
		}
	}
	spec, err := zone.Render(v, zone.Inputs{
		RootFS:      n.zoneRoot(uuid),
		HullBinary:  n.HullBinary,
		HostID:      rng.HostID,
		CgroupsPath: zone.CgroupsPath(uuid),
		HostRO:      zone.HostROFor(isRealDir),
		MemlockHard: zone.MemlockHard(),
		Zonecontrol: zc,
		ToolLinks:   links,
		HostConf:    n.hostConfDir(uuid),
		Delegated:   n.delegatedView(v),
	})
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	steps.mark("bundle")
	if err := mapped(); err != nil {
		return err
	}
	steps.mark("maproot")
	if len(v.Nics) > 0 {
		if err := n.networksUp(v); err != nil {
			return err
		}
	}
	if o.beforeRun != nil {
		if err := o.beforeRun(); err != nil {
			return err
		}
	}
	failpoint("start/before-run")
	pid, err := l.Run(b)
	if err != nil {
		return err
	}
	failpoint("start/after-run")
	if err := n.plumb(v, pid); err != nil {
		return err
	}
	steps.mark("runtime run")
	st, err := procStartTime(pid)
	if err != nil {
		return fmt.Errorf("zone %s init exited at once: see %s", uuid, n.ConsoleLog(uuid))
	}
	if err := n.saveRun(uuid, &runState{PID: pid, StartTime: st, Booted: nowStamp()}); err != nil {
		return err
	}
	// A new cgroup starts at the kernel's default io weight, which the
	// default zfs_io_priority maps to.
	if ioWeight(v.ZFSIOPriority) != defaultIOWeight {
		n.applyExtras(v)
	}
	steps.mark("state+extras")
	if n.WarmUserns {
		// A little later, off this boot's own path.
		time.AfterFunc(100*time.Millisecond, n.WarmNextUserns)
	}
	return nil
}

// WarmNextUserns makes the user namespace of the id range the next zone
// will get, unless it is made already.
func (n *Node) WarmNextUserns() {
	if r, err := n.IDs.NextFree(); err == nil {
		_ = idmap.Prewarm(r)
	}
}

// launch starts the runtime for the zone's boot ahead of its spec (see
// zone.Launch), with the zone's console as its stdio.
func (n *Node) launch(ctx context.Context, v *vm.VM) (*zone.Launch, error) {
	uuid := v.UUID
	// The runtime will move the zone's init into its cgroups: start the
	// kernel's wait before such a move now, while the boot is prepared.
	cgroup.PrimeMigration(n.Cgroups)
	in, out, err := n.openConsole(v)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	defer out.Close()
	l, err := n.Runtime.Launch(ctx, zone.ContainerID(uuid), n.bundle(uuid), in, out)
	if err != nil {
		return nil, err
	}
	failpoint("start/launched")
	return l, nil
}

// applyExtras sets the controls the runtime does not carry on every host:
// the io weight (absent from cgroup v1 without bfq) and the locked-memory
// limit of processes already running.
func (n *Node) applyExtras(v *vm.VM) {
	if v.ZFSIOPriority > 0 {
		_, _ = cgroup.SetIOWeight(n.Cgroups, zone.CgroupsPath(v.UUID), ioWeight(v.ZFSIOPriority))
	}
}

// defaultIOWeight is the io weight of a new cgroup (io.weight and
// blkio.bfq.weight alike).
const defaultIOWeight = 100

// ioWeight maps zfs_io_priority (default 100) onto the kernel's io weight
// (default 100), clamped to 1..10000.
func ioWeight(p int64) uint16 {
	return uint16(min(max(p, 1), 10000))
}

// idmappedPool is a pool driver that can present a dataset through an
// idmapping itself (overlay-based pools: the kernel cannot idmap an
// overlay mount, but can build one on idmapped layers).
type idmappedPool interface {
	MountIDMapped(dataset, target string, usernsFD int) error
}

// mapRoot mounts the zone's dataset at the zone's root view so that files
// owned by uid 0 on disk are owned by the zone's root, through the user
// namespace's mapping.
func (n *Node) mapRoot(uuid string, userns *os.File) error {
	view := n.rootFS(uuid)
	if p, ok := n.Pool.(idmappedPool); ok {
		return p.MountIDMapped(dataset(uuid), view, int(userns.Fd()))
	}
	return idmap.MountWithUserns(n.Zonepath(uuid), view, userns)
}

// background runs f in a goroutine; the function it returns waits for
// f's result (once; later calls return the same).
func background[T any](f func() (T, error)) func() (T, error) {
	type result struct {
		v   T
		err error
	}
	c := make(chan result, 1)
	go func() {
		v, err := f()
		c <- result{v, err}
	}()
	return sync.OnceValues(func() (T, error) {
		r := <-c
		return r.v, r.err
	})
}

// backgroundErr is background for work that yields only an error.
func backgroundErr(f func() error) func() error {
	wait := background(func() (struct{}, error) { return struct{}{}, f() })
	return func() error { _, err := wait(); return err }
}

// delegatedView is the VM's delegated dataset in the idmapped view of
// its zonepath ("" without one).
func (n *Node) delegatedView(v *vm.VM) string {
	if !hasDelegated(v) {
		return ""
	}
	return filepath.Join(n.rootFS(v.UUID), "data")
}

// zoneRoot is the zone's root directory in the idmapped view.
func (n *Node) zoneRoot(uuid string) string { return filepath.Join(n.rootFS(uuid), "root") }

func isRealDir(p string) bool {
	st, err := os.Lstat(p)
	return err == nil && st.IsDir()
}

func dataset(uuid string) string { return PoolName + "/" + uuid }

func ptr[T any](v T) *T { return &v }

// cleanupContainer removes everything a run of the zone holds on the
// host: the runtime's container and cgroups, the idmapped root, the
// bundle and the run record. Idempotent.
func (n *Node) cleanupContainer(ctx context.Context, uuid string) error {
	var errs []error
	// Asking the runtime costs a process start (tens of ms): only ask
	// when a run was attempted (its bundle exists) or the runtime keeps
	// state for the id.
	if n.mayHaveContainer(uuid) {
		if err := n.Runtime.Delete(ctx, zone.ContainerID(uuid), true); err != nil {
			errs = append(errs, err)
		}
	}
	if err := idmap.Unmount(n.rootFS(uuid)); err != nil {
		errs = append(errs, err)
	}
	os.Remove(n.rootFS(uuid))
	// A runtime launched by a process that died still waits for its
	// spec: it goes first, with the bundle.
	if err := zone.ReleaseConfig(n.bundle(uuid)); err != nil {
		errs = append(errs, err)
	}
	os.RemoveAll(n.bundle(uuid))
	if err := cgroup.Remove(n.Cgroups, zone.CgroupsPath(uuid)); err != nil {
		errs = append(errs, err)
	}
	if err := unplumb(uuid); err != nil {
		errs = append(errs, err)
	}
	// The run record goes last: while it is there, the next open finds
	// the dead zone and cleans up again after a crash in the middle.
	os.Remove(n.stateFile(uuid))
	return errors.Join(errs...)
}

func (n *Node) mayHaveContainer(uuid string) bool {
	for _, p := range []string{n.bundle(uuid), filepath.Join(n.Runtime.Root, zone.ContainerID(uuid))} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// Stop halts a running VM: a graceful shutdown inside the zone, then a
// forced halt after the grace period (or at once with force). A grace
// (vmadm stop -t) is for docker and hardware VMs only, as in SmartOS; 0
// is the VM's default. It clears autoboot, as vmadm stop does.
func (n *Node) Stop(ctx context.Context, uuid string, force bool, grace time.Duration) error {
	return n.changeState(uuid, "running", "stopped", func(v *vm.VM) error {
		// SmartOS takes a timeout only where it can wait for the guest:
		// a zone's shutdown has its own (forced stops ignore it).
		if grace > 0 && !force && !vm.StopTimeoutSupported(v) {
			if r, _ := n.loadRun(uuid); r.alive() {
				return ErrStopTimeout
			}
		}
		if vm.Bool(v.Autoboot, true) {
			v.Autoboot = ptr(false)
			if err := n.saveVM(v); err != nil {
				return err
			}
		}
		return n.stop(ctx, v, force, grace)
	})
}

// stop halts the zone: unless force, it asks the zone's init to shut down
// and waits up to grace (0: the VM's default, stopGrace) before killing it.
func (n *Node) stop(ctx context.Context, v *vm.VM, force bool, grace time.Duration) error {
	uuid := v.UUID
	r, _ := n.loadRun(uuid)
	if !r.alive() {
		_ = n.cleanupContainer(ctx, uuid)
		return ErrNotRunning
	}
	r.Stopping = true
	if err := n.saveRun(uuid, r); err != nil {
		return err
	}
	id := zone.ContainerID(uuid)
	if grace <= 0 {
		grace = stopGrace(v)
	}
	if !force {
		if err := n.requestShutdown(ctx, v, id); err == nil {
			waitGone(r, grace)
		}
	}
	killed := r.alive()
	if killed {
		_ = n.Runtime.Kill(ctx, id, syscall.SIGKILL, true)
		waitGone(r, 10*time.Second)
	}
	if r.alive() {
		return fmt.Errorf("zone %s did not halt", uuid)
	}
	status := stoppedStatus(n.takeExitMarker(uuid), killed, zone.IsDocker(v))
	failpoint("stop/before-cleanup")
	if err := n.cleanupContainer(ctx, uuid); err != nil {
		return err
	}
	v.ExitStatus, v.ExitTimestamp = status, stamp(time.Now())
	return n.saveVM(v)
}

// stoppedStatus is the exit_status a stop leaves, as SmartOS records one
// at every halt: init's own when it noted one, else 0 (a normal halt)
// but -9 for a docker program that had to be killed, its own init.
func stoppedStatus(marker string, killed, docker bool) *int {
	if _, st := parseExit(marker); st != nil {
		return st
	}
	if killed && docker {
		return ptr(-9)
	}
	return ptr(0)
}

// requestShutdown asks the zone's init to shut down the way that init
// understands: hull's inits halt on zoneinit.HaltSignal, a docker zone's
// dockerinit passes SIGTERM on to its program; lx images are asked
// through their own shutdown command when they have one, else by the
// signal their init uses for poweroff.
func (n *Node) requestShutdown(ctx context.Context, v *vm.VM, id string) error {
	if sig, ok := hullStopSignal(v); ok {
		return n.Runtime.Kill(ctx, id, sig, false)
	}
	root := filepath.Join(n.Zonepath(v.UUID), "root")
	target, _ := os.Readlink(filepath.Join(root, "sbin", "init"))
	switch {
	case strings.Contains(target, "systemd"):
		return n.Runtime.Kill(ctx, id, sigRTMin4, false)
	case strings.Contains(target, "busybox"):
		return n.Runtime.Kill(ctx, id, syscall.SIGUSR2, false)
	}
	c := n.Runtime.Exec(ctx, id, zone.ExecOptions{}, []string{"/sbin/shutdown", "-h", "now"})
	if err := c.Run(); err != nil {
		return n.Runtime.Kill(ctx, id, syscall.SIGPWR, false)
	}
	return nil
}

// hullStopSignal is the signal that asks v's init to stop when that init
// is hull's: SIGTERM for dockerinit, which passes it on to the program
// as docker stop does; zoneinit.HaltSignal for svc.startd. ok is false
// for an init of the image's own.
func hullStopSignal(v *vm.VM) (sig syscall.Signal, ok bool) {
	argv := zone.Init(v)
	switch {
	case argv[0] != zone.HullBin:
		return 0, false
	case len(argv) > 1 && argv[1] == "dockerinit":
		return syscall.SIGTERM, true
	}
	return zoneinit.HaltSignal, true
}

// sigRTMin4 is SIGRTMIN+4 as glibc numbers it: systemd's poweroff request.
const sigRTMin4 = syscall.Signal(38)

func waitGone(r *runState, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && r.alive() {
		time.Sleep(20 * time.Millisecond)
	}
}

// Boot boots a stopped VM and leaves autoboot as it is, as zoneadm boot
// does (vmadm start sets it).
func (n *Node) Boot(ctx context.Context, uuid string) error {
	return n.changeState(uuid, "stopped", "running", func(v *vm.VM) error { return n.boot(ctx, v) })
}

// Halt stops a running VM, at once with force (zoneadm halt), else by a
// shutdown inside the zone first (zoneadm shutdown), and leaves autoboot
// as it is (vmadm stop clears it).
func (n *Node) Halt(ctx context.Context, uuid string, force bool) error {
	return n.changeState(uuid, "running", "stopped", func(v *vm.VM) error { return n.stop(ctx, v, force, 0) })
}

// changeState runs change on the VM under its lock and, when it succeeds,
// tells of the VM's new state.
func (n *Node) changeState(uuid, from, to string, change func(v *vm.VM) error) error {
	v, unlock, err := n.lockedVM(uuid)
	if err != nil {
		return err
	}
	defer unlock()
	if err := change(v); err != nil {
		return err
	}
	n.emit("modify", v, []Change{{Path: "state", Action: "changed", Old: from, New: to}})
	return nil
}

// Reboot stops the VM (gracefully unless force) and boots it again.
func (n *Node) Reboot(ctx context.Context, uuid string, force bool) error {
	v, unlock, err := n.lockedVM(uuid)
	if err != nil {
		return err
	}
	defer unlock()
	if err := n.stop(ctx, v, force, 0); err != nil {
		return err
	}
	return n.boot(ctx, v)
}

// boot starts the zone as one journaled operation; the caller holds the
// VM's lock.
func (n *Node) boot(ctx context.Context, v *vm.VM) error {
	op, err := n.Journal.Begin("start", v.UUID, journal.Step{Kind: "container", Args: []string{v.UUID}})
	if err != nil {
		return err
	}
	defer op.Rollback()
	if err := n.start(ctx, v, op, startOptions{}); err != nil {
		return err
	}
	return op.Commit()
}

// Kill sends a signal to the zone's init.
func (n *Node) Kill(ctx context.Context, uuid string, sig syscall.Signal) error {
	v, err := n.Get(uuid)
	if err != nil {
		return err
	}
	if v.State != "running" {
		return ErrNotRunning
	}
	return n.Runtime.Kill(ctx, zone.ContainerID(uuid), sig, false)
}
