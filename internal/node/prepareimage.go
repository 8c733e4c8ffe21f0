package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/vm"
)

// `imgadm create -s <prepare-image script>` prepares a VM before making
// an image of it, as SmartOS's imgadm does: the VM is stopped and
// snapshotted, the script is set as its operator-script and the VM
// booted; the script reports through the customer_metadata key
// prepare-image:state ("running", then "success" or "error", with
// prepare-image:error) and halts the zone. Afterwards, whether the image
// was made or not, the VM is rolled back to the snapshot (which goes),
// its metadata is as it was, and it is booted again if it was running.
// A crash on the way is undone the same way by the next open of the node.

// Customer metadata keys of the prepare-image handshake.
const (
	PrepareStateKey = "prepare-image:state"
	PrepareErrorKey = "prepare-image:error"
	operatorScript  = "operator-script"
	// prepareSnapshot is the vmsnap the VM returns to.
	prepareSnapshot = "imgadm-create-pre-prepare"
)

// PrepareTimeout bounds each wait of a preparation: for the script to
// start, to finish, and for the zone to halt (SmartOS's 300 s).
var PrepareTimeout = 300 * time.Second

// PrepareError is a preparation that failed in the VM: the script said
// "error", did not run, or did not finish; its text is imgadm's.
type PrepareError struct {
	Code string // PrepareImageError or PrepareImageDidNotRun
	Msg  string
}

func (e *PrepareError) Error() string { return e.Msg }

func prepareFailed(uuid, details string) error {
	msg := "prepare-image script error while preparing VM " + uuid
	if details != "" {
		msg += ": " + details
	}
	return &PrepareError{Code: "PrepareImageError", Msg: msg}
}

// priorMetadata is what a preparation changes in the VM object, kept to
// be put back.
type priorMetadata struct {
	OperatorScript *string `json:"operator_script"`
	State          *string `json:"state"`
	Error          *string `json:"error"`
	Autoboot       *bool   `json:"autoboot"`
}

// handlePrepare registers the undos of a preparation.
func (n *Node) handlePrepare(ctx context.Context) {
	n.Journal.Handle("prepare-start", func(a []string) error {
		err := n.Start(ctx, a[0])
		if errors.Is(err, ErrAlreadyRunning) || errors.Is(err, ErrNoSuchVM) {
			return nil
		}
		return err
	})
	n.Journal.Handle("prepare-snapshot", func(a []string) error { return n.unprepareDataset(ctx, a[0]) })
	n.Journal.Handle("prepare-metadata", func(a []string) error {
		var p priorMetadata
		if err := json.Unmarshal([]byte(a[1]), &p); err != nil {
			return err
		}
		err := n.restoreMetadata(ctx, a[0], p)
		if errors.Is(err, ErrNoSuchVM) {
			return nil
		}
		return err
	})
}

// PrepareImage runs script in the VM as a prepare-image script and waits
// until the VM has halted after it succeeded; logf reports progress. The
// VM is then ready for an image to be made of it. cleanup, which the
// caller must call (also after an error), restores the VM.
func (n *Node) PrepareImage(ctx context.Context, uuid, script string, logf func(string, ...any)) (cleanup func() error, err error) {
	v, err := n.Get(uuid)
	if err != nil {
		return nil, err
	}
	// Only zones whose init is hull's SMF run an operator-script.
	if v.Brand == "lx" || vm.Bool(v.Docker, false) {
		return nil, fmt.Errorf("VM %s cannot run a prepare-image script: only joyent, joyent-minimal and sparse zones run an operator-script at boot", uuid)
	}
	if findSnapshot(v, prepareSnapshot) >= 0 {
		return nil, fmt.Errorf("VM %s has a snapshot %q already: delete it first", uuid, prepareSnapshot)
	}
	if !n.metadataServed(uuid) {
		return nil, fmt.Errorf("VM %s has no metadata service (is hulld running?): a prepare-image script reports through it", uuid)
	}
	unlock, err := n.prepareLock(uuid)
	if err != nil {
		return nil, err
	}
	op, err := n.Journal.Begin("prepare-image", uuid)
	if err != nil {
		unlock()
		return nil, err
	}
	restore := func() error {
		defer unlock()
		return op.Rollback()
	}
	defer func() {
		if err != nil {
			if cerr := restore(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("restore the VM: %w", cerr))
			}
		}
	}()
	if v.State == "running" {
		logf("Stopping VM %s to snapshot it", uuid)
		if err := op.Undo("prepare-start", uuid); err != nil {
			return nil, err
		}
		if err := n.Stop(ctx, uuid, false, 0); err != nil && !errors.Is(err, ErrNotRunning) {
			return nil, err
		}
	}
	prior := priorMetadata{Autoboot: v.Autoboot}
	if s, ok := v.InternalMetadata[operatorScript]; ok {
		prior.OperatorScript = &s
	}
	if s, ok := v.CustomerMetadata[PrepareStateKey]; ok {
		prior.State = &s
	}
	if s, ok := v.CustomerMetadata[PrepareErrorKey]; ok {
		prior.Error = &s
	}
	b, err := json.Marshal(prior)
	if err != nil {
		return nil, err
	}
	// Undone in reverse: the zone is halted and its dataset rolled back
	// before the metadata is put back, so that a script still running
	// cannot change it again.
	if err := op.Undo("prepare-metadata", uuid, string(b)); err != nil {
		return nil, err
	}
	logf("Snapshotting VM %q to %s", uuid, prepareSnapshot)
	if err := op.Undo("prepare-snapshot", uuid); err != nil {
		return nil, err
	}
	if err := n.CreateSnapshot(ctx, uuid, prepareSnapshot); err != nil {
		return nil, err
	}
	upd, _ := json.Marshal(map[string]any{
		"set_internal_metadata":    map[string]string{operatorScript: script},
		"remove_customer_metadata": []string{PrepareStateKey, PrepareErrorKey},
	})
	if _, err := n.Update(ctx, uuid, upd); err != nil {
		return nil, err
	}
	failpoint("prepare-image/before-boot")
	logf("Preparing VM %s (starting it)", uuid)
	if err := n.Start(ctx, uuid); err != nil {
		return nil, err
	}
	failpoint("prepare-image/after-boot")
	// "running" may be passed by between two looks: any state will do.
	if _, err := n.waitVM(ctx, uuid, func(v *vm.VM) bool { return v.CustomerMetadata[PrepareStateKey] != "" }); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			logf("Timeout waiting for prepare-image script to signal it started")
			return nil, &PrepareError{Code: "PrepareImageDidNotRun", Msg: "prepare-image script did not run on VM " + uuid + " boot"}
		}
		return nil, err
	}
	logf("Prepare script is running")
	v, err = n.waitVM(ctx, uuid, func(v *vm.VM) bool {
		s := v.CustomerMetadata[PrepareStateKey]
		return s == "success" || s == "error"
	})
	if err != nil {
		return nil, prepareFailed(uuid, "prepare-image script did not complete")
	}
	if v.CustomerMetadata[PrepareStateKey] == "error" {
		return nil, prepareFailed(uuid, v.CustomerMetadata[PrepareErrorKey])
	}
	logf("Prepare script succeeded")
	if _, err := n.waitVM(ctx, uuid, func(v *vm.VM) bool { return v.State == "stopped" }); err != nil {
		return nil, prepareFailed(uuid, "VM did not shutdown")
	}
	logf("Prepare script stopped VM %s", uuid)
	return restore, nil
}

// prepareLock keeps a second preparation of the VM out while one runs
// (its undo would roll the VM back under the first); the lock goes with
// the process that holds it.
func (n *Node) prepareLock(uuid string) (release func(), err error) {
	p := n.prepareLockFile(uuid)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	busy := fmt.Errorf("VM %s is being prepared by another imgadm create", uuid)
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		f.Close()
		return nil, busy
	}
	// The holder before may have removed the file as it let go: the
	// lock is only ours if the path still names what we locked.
	var held, now unix.Stat_t
	if unix.Fstat(int(f.Fd()), &held) != nil || unix.Stat(p, &now) != nil || held.Ino != now.Ino {
		f.Close()
		return nil, busy
	}
	return func() {
		os.Remove(p)
		f.Close()
	}, nil
}

// metadataServed reports whether the VM's metadata socket answers,
// waiting a little for it: hulld makes a new VM's within a second.
func (n *Node) metadataServed(uuid string) bool {
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if c, err := net.DialTimeout("unix", n.MetadataSocket(uuid), time.Second); err == nil {
			c.Close()
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// waitVM polls the VM until cond holds, for at most PrepareTimeout.
func (n *Node) waitVM(ctx context.Context, uuid string, cond func(*vm.VM) bool) (*vm.VM, error) {
	ctx, cancel := context.WithTimeout(ctx, PrepareTimeout)
	defer cancel()
	for {
		v, err := n.Get(uuid)
		if err != nil {
			return nil, err
		}
		if cond(v) {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// unprepareDataset halts the VM and returns its dataset to the snapshot
// taken before the preparation, which then goes. Idempotent: without the
// snapshot there is nothing to do.
func (n *Node) unprepareDataset(ctx context.Context, uuid string) error {
	v, err := n.Get(uuid)
	if errors.Is(err, ErrNoSuchVM) {
		return nil
	}
	if err != nil {
		return err
	}
	if findSnapshot(v, prepareSnapshot) < 0 {
		return nil
	}
	if err := n.Stop(ctx, uuid, true, 0); err != nil && !errors.Is(err, ErrNotRunning) {
		return err
	}
	if err := n.RollbackSnapshot(ctx, uuid, prepareSnapshot); err != nil {
		return err
	}
	return n.DeleteSnapshot(ctx, uuid, prepareSnapshot)
}

// restoreMetadata puts back what a preparation changed in the VM object.
func (n *Node) restoreMetadata(ctx context.Context, uuid string, p priorMetadata) error {
	payload := map[string]any{"autoboot": p.Autoboot == nil || *p.Autoboot}
	put := func(set, remove string, vals map[string]*string) {
		s, r := map[string]string{}, []string{}
		for k, v := range vals {
			if v != nil {
				s[k] = *v
			} else {
				r = append(r, k)
			}
		}
		if len(s) > 0 {
			payload[set] = s
		}
		if len(r) > 0 {
			sort.Strings(r)
			payload[remove] = r
		}
	}
	put("set_internal_metadata", "remove_internal_metadata", map[string]*string{operatorScript: p.OperatorScript})
	put("set_customer_metadata", "remove_customer_metadata", map[string]*string{PrepareStateKey: p.State, PrepareErrorKey: p.Error})
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	_, err = n.Update(ctx, uuid, b)
	return err
}
