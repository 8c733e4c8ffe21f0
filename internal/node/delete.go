package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"hull/internal/pool"
	"hull/internal/vm"
)

// Delete halts and removes a VM with its dataset, id range and logs. Once
// begun it is finished even across a crash.
func (n *Node) Delete(ctx context.Context, uuid string) error {
	v, unlock, err := n.lockedVM(uuid)
	if err != nil {
		return err
	}
	defer unlock()
	if err := checkDestructible(v); err != nil {
		return err
	}
	op, err := n.Journal.Begin("delete", uuid)
	if err != nil {
		return err
	}
	if err := op.Forward(); err != nil {
		op.Rollback()
		return err
	}
	if err := n.deleteSteps(ctx, uuid); err != nil {
		// Leave the journal: the next start of any hull command
		// finishes the deletion.
		return fmt.Errorf("Failed to delete VM %s: %w", uuid, err)
	}
	if err := op.Commit(); err != nil {
		return err
	}
	n.emit("delete", v, nil)
	return nil
}

func (n *Node) deleteSteps(ctx context.Context, uuid string) error {
	if r, _ := n.loadRun(uuid); r.alive() {
		if v, err := n.loadVM(uuid); err == nil {
			if err := n.stop(ctx, v, true, time.Second); err != nil && !errors.Is(err, ErrNotRunning) {
				return err
			}
		}
	}
	if err := n.cleanupContainer(ctx, uuid); err != nil {
		return err
	}
	failpoint("delete/after-stop")
	if v, err := n.Get(uuid); err == nil && vm.Bool(v.ArchiveOnDelete, false) {
		// As SmartOS's: what cannot be archived does not keep the VM.
		if err := n.archive(v); err != nil {
			slog.Warn("archive incomplete", "uuid", uuid, "err", err)
		}
	}
	for _, ds := range []string{delegated(uuid), dataset(uuid)} {
		if err := n.Pool.Destroy(ds); err != nil && !errors.Is(err, pool.ErrNotFound) {
			return err
		}
	}
	failpoint("delete/after-destroy")
	if err := n.IDs.Free(uuid); err != nil {
		return err
	}
	if err := n.RemoveZonecontrol(uuid); err != nil {
		return err
	}
	if v, err := n.loadVM(uuid); err == nil {
		if err := n.releaseNetworks(nicMACs(v)); err != nil {
			return err
		}
	}
	os.Remove(n.ConsoleLog(uuid))
	os.Remove(n.ConsoleLog(uuid) + ".0")
	os.Remove(n.ConsoleInput(uuid))
	os.Remove(n.Zonepath(uuid)) // only when empty: never delete through a mount
	if err := os.Remove(n.vmFile(uuid)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	os.Remove(n.lockFile(uuid))
	os.Remove(n.prepareLockFile(uuid))
	return nil
}
