package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

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
// every decision is made on. The caller holds the VM's lock.
func (n *Node) snapshotVM(uuid, name string) (*vm.VM, error) {
	if !ValidSnapName(name) {
		return nil, ErrInvalidSnapName
	}
	v, err := n.loadVM(uuid)
	if err != nil {
		return nil, err
	}
	if vm.BrandType(v.Brand) == "KVM" || vm.BrandType(v.Brand) == "BHYVE" {
		return nil, fmt.Errorf("snapshots for %s VMs currently unsupported", v.Brand)
	}
	if err := n.syncSnapshots(v, false); err != nil {
		return nil, err
	}
	return v, nil
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

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func findSnapshot(v *vm.VM, name string) int {
	for i, s := range v.Snapshots {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// CreateSnapshot takes zones/<uuid>@vmsnap-<name> of a running or stopped
// VM and adds it to the VM's snapshots array. A failure or a crash at any
// point leaves neither the snapshot nor the entry.
func (n *Node) CreateSnapshot(ctx context.Context, uuid, name string) error {
	unlock, err := n.lock(uuid)
	if err != nil {
		return err
	}
	defer unlock()
	v, err := n.snapshotVM(uuid, name)
	if err != nil {
		return err
	}
	if len(v.Datasets) > 0 {
		return errors.New("Cannot currently snapshot zones that have datasets")
	}
	if findSnapshot(v, name) >= 0 {
		return fmt.Errorf("snapshot with name %q already exists.", name)
	}
	old, err := json.Marshal(v)
	if err != nil {
		return err
	}
	op, err := n.Journal.Begin("create-snapshot", uuid)
	if err != nil {
		return err
	}
	defer op.Rollback()
	// Undone in reverse: the snapshot goes, then the old object is back.
	if err := op.Undo("vm", uuid, string(old)); err != nil {
		return err
	}
	if err := op.Undo("dataset", snapDataset(uuid, name)); err != nil {
		return err
	}
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
	unlock, err := n.lock(uuid)
	if err != nil {
		return err
	}
	defer unlock()
	v, err := n.snapshotVM(uuid, name)
	if err != nil {
		return err
	}
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
	b, err := json.Marshal(&next)
	if err != nil {
		return err
	}
	op, err := n.Journal.Begin(opName, v.UUID)
	if err != nil {
		return err
	}
	if err := op.Undo("vm", v.UUID, string(b)); err != nil {
		op.Commit()
		return err
	}
	if err := op.Undo("dataset", snapDataset(v.UUID, name)); err != nil {
		op.Commit()
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
// one rolled back to are destroyed, as zfs rollback -r does. Each newer
// snapshot's deletion is journaled as DeleteSnapshot's is, and the
// rollback itself is one step of the pool, so a crash leaves the VM
// either before or after each step, never in between (a zone halted for
// the rollback then stays halted until booted, or until hulld's autoboot).
func (n *Node) RollbackSnapshot(ctx context.Context, uuid, name string) error {
	unlock, err := n.lock(uuid)
	if err != nil {
		return err
	}
	defer unlock()
	v, err := n.snapshotVM(uuid, name)
	if err != nil {
		return err
	}
	i := findSnapshot(v, name)
	if i < 0 {
		return noSnapshot(uuid, name)
	}
	r, _ := n.loadRun(uuid)
	running := r.alive()
	if running {
		// SmartOS halts rather than shuts down for a rollback.
		if err := n.stop(ctx, v, true, time.Second); err != nil && !errors.Is(err, ErrNotRunning) {
			return fmt.Errorf("stop %s for rollback: %w", uuid, err)
		}
	}
	failpoint("rollback-snapshot/after-stop")
	newer := make([]string, i)
	for j := range newer {
		newer[j] = v.Snapshots[j].Name
	}
	for _, s := range newer {
		if err := n.deleteSnapshot(v, s, "rollback-snapshot"); err != nil {
			return err
		}
	}
	failpoint("rollback-snapshot/before-rollback")
	if err := n.Pool.Rollback(snapDataset(uuid, name)); err != nil {
		return fmt.Errorf("rollback %s to %s: %w", uuid, name, err)
	}
	failpoint("rollback-snapshot/after-rollback")
	// The pool agrees with v unless the driver dropped more than the
	// newer snapshots; resync to be sure.
	if err := n.syncSnapshots(v, false); err != nil {
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
