package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"hull/internal/journal"
	"hull/internal/pool"
	"hull/internal/vm"
)

// SnapPrefix marks the snapshots vmadm manages: zones/<uuid>@vmsnap-<name>,
// as SmartOS names them. Others (an image's @final, a pool's own) are not
// shown in the VM's snapshots array.
const SnapPrefix = "vmsnap-"

// MaxSnapName is SmartOS's limit on a snapshot name.
const MaxSnapName = 64

// ErrInvalidSnapName is SmartOS's message for a bad snapshot name.
var ErrInvalidSnapName = errors.New("Invalid snapshot name")

// ValidSnapName applies SmartOS's rule (ZFS's): 1 to 64 characters out of
// [A-Za-z0-9_.:%-].
func ValidSnapName(s string) bool {
	if len(s) < 1 || len(s) > MaxSnapName {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:%", c)) {
			return false
		}
	}
	return true
}

func snapDataset(uuid, name string) string { return dataset(uuid) + "@" + SnapPrefix + name }

func noSnapshot(uuid, name string) error {
	return fmt.Errorf("No snapshot named %q for %s", name, uuid)
}

// snapshotVM loads a VM for a snapshot operation: it must exist and be a
// kind SmartOS snapshots. Its snapshots array is brought in line with the
// pool first (and saved when that changed anything), so the pool is what
// every decision is made on. It takes the VM's lock; the caller lets go
// of it with unlock once done.
func (n *Node) snapshotVM(uuid, name string) (v *vm.VM, unlock func(), err error) {
	if !ValidSnapName(name) {
		return nil, nil, ErrInvalidSnapName
	}
	if v, unlock, err = n.lockedVM(uuid); err != nil {
		return nil, nil, err
	}
	if vm.BrandType(v.Brand) == "KVM" || vm.BrandType(v.Brand) == "BHYVE" {
		err = fmt.Errorf("snapshots for %s VMs currently unsupported", v.Brand)
	}
	if err == nil {
		err = n.syncSnapshots(v, false)
	}
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return v, unlock, nil
}

// syncSnapshots makes v.Snapshots list exactly the pool's vmsnap
// snapshots of the VM's dataset, newest first, keeping the creation
// times (with milliseconds) recorded when they were taken, and saves v
// if that changed it (always, with save). Operations keep the two in step
// through the journal; this repairs anything else (a pool changed by
// hand).
func (n *Node) syncSnapshots(v *vm.VM, save bool) error {
	all, err := n.Pool.List()
	if err != nil {
		return fmt.Errorf("list snapshots of %s: %w", v.UUID, err)
	}
	prefix := dataset(v.UUID) + "@" + SnapPrefix
	inPool := map[string]pool.Dataset{}
	for _, d := range all {
		if name, ok := strings.CutPrefix(d.Name, prefix); ok {
			inPool[name] = d
		}
	}
	var out []vm.Snapshot
	seen := map[string]bool{}
	for _, s := range v.Snapshots {
		d, ok := inPool[s.Name]
		if !ok || seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		s.Size = mib(d.Used)
		out = append(out, s)
	}
	for name, d := range inPool {
		if !seen[name] {
			out = append(out, vm.Snapshot{Name: name, Size: mib(d.Used), CreatedAt: stamp(time.Unix(d.Created, 0))})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt > out[j].CreatedAt })
	if !save && snapshotsEqual(out, v.Snapshots) {
		return nil
	}
	v.Snapshots = out
	return n.saveVM(v)
}

func snapshotsEqual(a, b []vm.Snapshot) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// mib is SmartOS's snapshot size unit; unknown usage shows as 0.
func mib(bytes int64) int64 {
	if bytes <= 0 {
		return 0
	}
	return bytes >> 20
}

func stamp(t time.Time) string { return t.UTC().Format(stampLayout) }

// stampLayout is SmartOS's timestamp form (boot_timestamp, exit_timestamp).
const stampLayout = "2006-01-02T15:04:05.000Z"

func findSnapshot(v *vm.VM, name string) int {
	for i, s := range v.Snapshots {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// snapshotSteps are the journal steps of a snapshot operation, recorded
// with one write before it changes anything: the object saved as obj,
// then (run in reverse, so first) the snapshots destroyed. For a create
// they undo it; for a deletion or a rollback they complete it.
func snapshotSteps(obj *vm.VM, snaps ...string) ([]journal.Step, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	steps := []journal.Step{{Kind: "vm", Args: []string{obj.UUID, string(b)}}}
	for _, s := range snaps {
		steps = append(steps, journal.Step{Kind: "dataset", Args: []string{snapDataset(obj.UUID, s)}})
	}
	return steps, nil
}

// CreateSnapshot takes zones/<uuid>@vmsnap-<name> of a running or stopped
// VM and adds it to the VM's snapshots array. A failure or a crash at any
// point leaves neither the snapshot nor the entry.
func (n *Node) CreateSnapshot(ctx context.Context, uuid, name string) error {
	v, unlock, err := n.snapshotVM(uuid, name)
	if err != nil {
		return err
	}
	defer unlock()
	if len(v.Datasets) > 0 {
		return errors.New("Cannot currently snapshot zones that have datasets")
	}
	if findSnapshot(v, name) >= 0 {
		return fmt.Errorf("snapshot with name %q already exists.", name)
	}
	// Undone in reverse: the snapshot goes, then the old object is back.
	steps, err := snapshotSteps(v, name)
	if err != nil {
		return err
	}
	op, err := n.Journal.Begin("create-snapshot", uuid, steps...)
	if err != nil {
		return err
	}
	defer op.Rollback()
	failpoint("create-snapshot/before")
	if err := n.Pool.Snapshot(dataset(uuid), SnapPrefix+name); err != nil {
		if errors.Is(err, pool.ErrInvalidName) {
			return fmt.Errorf("%w: %v", ErrInvalidSnapName, err)
		}
		return fmt.Errorf("snapshot %s: %w", uuid, err)
	}
	failpoint("create-snapshot/after-snapshot")
	s := vm.Snapshot{Name: name, CreatedAt: stamp(time.Now())}
	v.Snapshots = append([]vm.Snapshot{s}, v.Snapshots...)
	// Saved through the sync, which also fills in the size the pool
	// reports (its List, not a usage walk per snapshot).
	if err := n.syncSnapshots(v, true); err != nil {
		return err
	}
	failpoint("create-snapshot/after-save")
	if err := op.Commit(); err != nil {
		return err
	}
	n.emit("modify", v, []Change{{Path: "snapshots.*", Action: "added", New: s}})
	return nil
}

// DeleteSnapshot destroys a vmsnap. Once begun it is finished even across
// a crash (the next open of the node completes it), as a ZFS destroy is.
func (n *Node) DeleteSnapshot(ctx context.Context, uuid, name string) error {
	v, unlock, err := n.snapshotVM(uuid, name)
	if err != nil {
		return err
	}
	defer unlock()
	if err := n.deleteSnapshot(v, name, "delete-snapshot"); err != nil {
		return err
	}
	return nil
}

// deleteSnapshot destroys one vmsnap of v and drops it from v's array.
// The journal holds both steps as the way to complete it, recorded before
// either is taken: a crash anywhere after that finishes the deletion.
func (n *Node) deleteSnapshot(v *vm.VM, name, opName string) error {
	i := findSnapshot(v, name)
	if i < 0 {
		return noSnapshot(v.UUID, name)
	}
	gone := v.Snapshots[i]
	next := *v
	next.Snapshots = append(append([]vm.Snapshot(nil), v.Snapshots[:i]...), v.Snapshots[i+1:]...)
	steps, err := snapshotSteps(&next, name)
	if err != nil {
		return err
	}
	op, err := n.Journal.Begin(opName, v.UUID, steps...)
	if err != nil {
		return err
	}
	failpoint(opName + "/before-destroy")
	if err := n.Pool.Destroy(snapDataset(v.UUID, name)); err != nil && !errors.Is(err, pool.ErrNotFound) {
		// Nothing changed: drop the completion steps rather than run them.
		op.Commit()
		return fmt.Errorf("delete snapshot %s of %s: %w", name, v.UUID, err)
	}
	failpoint(opName + "/after-destroy")
	if err := n.saveVM(&next); err != nil {
		// The journal keeps the step; the next open writes the object.
		op.Rollback()
		return err
	}
	if err := op.Commit(); err != nil {
		return err
	}
	*v = next
	n.emit("modify", v, []Change{{Path: "snapshots.*", Action: "removed", Old: gone}})
	return nil
}

// RollbackSnapshot returns the VM's dataset to a vmsnap: a running zone
// is halted first and booted again afterwards; snapshots newer than the
// one rolled back to are destroyed, as zfs rollback -r does. Once begun
// it is finished even across a crash: the journal holds the newer
// snapshots and the VM object as it will be, and the next open of the
// node completes the rollback (finishRollback). A zone halted for the
// rollback then stays halted until booted, or until hulld's autoboot.
func (n *Node) RollbackSnapshot(ctx context.Context, uuid, name string) error {
	v, unlock, err := n.snapshotVM(uuid, name)
	if err != nil {
		return err
	}
	defer unlock()
	i := findSnapshot(v, name)
	if i < 0 {
		return noSnapshot(uuid, name)
	}
	gone := append([]vm.Snapshot(nil), v.Snapshots[:i]...)
	if err := n.checkUncloned("rollback", uuid, gone); err != nil {
		return err
	}
	// The steps that complete it, recorded before any is taken: the newer
	// snapshots go and the object keeps the rest (its first snapshot is
	// the one rolled back to).
	next := *v
	next.Snapshots = v.Snapshots[i:]
	names := make([]string, len(gone))
	for j, s := range gone {
		names[j] = s.Name
	}
	steps, err := snapshotSteps(&next, names...)
	if err != nil {
		return err
	}
	op, err := n.beginForward("rollback-snapshot", uuid, steps)
	if err != nil {
		return err
	}
	r, _ := n.loadRun(uuid)
	running := r.alive()
	err = n.rollbackSteps(ctx, v, name, gone, true)
	// Done, or failed for good (not a crash): nothing is left to finish,
	// and the object is brought in line with how far the pool got.
	if serr := n.syncSnapshots(v, false); err == nil {
		err = serr
	}
	if cerr := op.Commit(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if running {
		if err := n.boot(ctx, v); err != nil {
			return fmt.Errorf("boot %s after rollback: %w", uuid, err)
		}
	}
	n.emit("modify", v, []Change{{Path: "snapshots", Action: "rolled back", New: name}})
	return nil
}

// beginForward starts an operation that recovery finishes (finish)
// rather than undoes, with steps as the record of what finishing takes.
// It is marked forward in the same write that records the steps: recovery
// must never run them as undos.
func (n *Node) beginForward(name, uuid string, steps []journal.Step) (*journal.Op, error) {
	op, err := n.Journal.Begin(name, uuid)
	if err == nil {
		if err = op.Forward(steps...); err != nil {
			op.Commit()
		}
	}
	return op, err
}

// rollbackSteps halts the zone, destroys the snapshots newer than name
// (emitting their removal when live) and rolls the dataset back. Every
// step may be run again: recovery runs them all after a crash.
func (n *Node) rollbackSteps(ctx context.Context, v *vm.VM, name string, gone []vm.Snapshot, live bool) error {
	if r, _ := n.loadRun(v.UUID); r.alive() {
		// SmartOS halts rather than shuts down for a rollback.
		if err := n.stop(ctx, v, true, time.Second); err != nil && !errors.Is(err, ErrNotRunning) {
			return fmt.Errorf("stop %s for rollback: %w", v.UUID, err)
		}
	}
	failpoint("rollback-snapshot/after-stop")
	for _, s := range gone {
		failpoint("rollback-snapshot/before-destroy")
		if err := n.Pool.Destroy(snapDataset(v.UUID, s.Name)); err != nil && !errors.Is(err, pool.ErrNotFound) {
			return fmt.Errorf("delete snapshot %s of %s: %w", s.Name, v.UUID, err)
		}
		failpoint("rollback-snapshot/after-destroy")
		if live {
			n.emit("modify", v, []Change{{Path: "snapshots.*", Action: "removed", Old: s}})
		}
	}
	failpoint("rollback-snapshot/before-rollback")
	if err := n.Pool.Rollback(snapDataset(v.UUID, name)); err != nil {
		return fmt.Errorf("rollback %s to %s: %w", v.UUID, name, err)
	}
	failpoint("rollback-snapshot/after-rollback")
	return nil
}

// checkUncloned refuses an action (rollback, reprovision) that would have
// to destroy a snapshot a clone depends on, before anything is changed.
func (n *Node) checkUncloned(action, uuid string, gone []vm.Snapshot) error {
	if len(gone) == 0 {
		return nil
	}
	doomed := map[string]bool{}
	for _, s := range gone {
		doomed[snapDataset(uuid, s.Name)] = true
	}
	all, err := n.Pool.List()
	if err != nil {
		return fmt.Errorf("list clones of %s: %w", uuid, err)
	}
	for _, d := range all {
		if doomed[d.Origin] {
			return fmt.Errorf("%s %s: snapshot %s is cloned by %s: %w", action, uuid, d.Origin, d.Name, pool.ErrHasDependents)
		}
	}
	return nil
}

// finishRollback completes a rollback-snapshot that a crashed process
// left half-done, from its journal record: the object it recorded names
// the snapshot rolled back to (its first), the dataset steps the newer
// ones. A rollback that can no longer be done (the VM or the snapshot is
// gone, a clone appeared) is left where it got, consistent.
func (n *Node) finishRollback(rec journal.Record) error {
	var next vm.VM
	var gone []vm.Snapshot
	for _, st := range rec.Undo {
		switch {
		case st.Kind == "vm" && len(st.Args) == 2:
			if err := json.Unmarshal([]byte(st.Args[1]), &next); err != nil {
				return nil // torn: nothing to go by
			}
		case st.Kind == "dataset" && len(st.Args) == 1:
			_, snap, _ := strings.Cut(st.Args[0], "@"+SnapPrefix)
			gone = append(gone, vm.Snapshot{Name: snap})
		}
	}
	if len(next.Snapshots) == 0 {
		return nil
	}
	v, err := n.loadVM(rec.Subject)
	if err != nil {
		return nil // deleted meanwhile
	}
	err = n.rollbackSteps(context.Background(), v, next.Snapshots[0].Name, gone, false)
	if errors.Is(err, pool.ErrNotFound) || errors.Is(err, pool.ErrHasDependents) {
		err = nil
	}
	if serr := n.syncSnapshots(v, false); err == nil {
		err = serr
	}
	return err
}
