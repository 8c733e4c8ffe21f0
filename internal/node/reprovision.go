package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"hull/internal/image"
	"hull/internal/journal"
	"hull/internal/pool"
	"hull/internal/vm"
	"hull/internal/zone"
)

// The datasets of a reprovision beside the VM's own: the new root while
// it is made, and the old one once set aside (SmartOS's name for it).
func reprovisionNew(uuid string) string { return dataset(uuid) + "-reprovisioning-new" }
func reprovisionOld(uuid string) string { return dataset(uuid) + "-reprovisioning-root" }

// Reprovision gives an OS VM a fresh root from another image, as SmartOS's
// vmadm reprovision: imageUUID (the payload's, nil when it has none) must
// be installed and of a type the brand boots. The VM is stopped if it
// runs; its root becomes a clone of the image's @final snapshot, keeping
// the zonepath's config/, cores/ and logs/, its delegated dataset, the
// VM's configuration (nics, metadata, resources, quota) and its id range;
// its snapshots go with the old root. Then it boots, with autoboot set.
//
// Until the new root is cloned a failure or crash undoes it (the VM stays
// stopped); from then on the operation is finished, across a crash too
// (finishReprovision).
func (n *Node) Reprovision(ctx context.Context, uuid string, imageUUID *string) error {
	v, unlock, err := n.lockedVM(uuid)
	if err != nil {
		return err
	}
	defer unlock()
	if err := n.checkReprovision(v, imageUUID); err != nil {
		return err
	}
	next := *v
	next.ImageUUID = *imageUUID
	next.Autoboot = ptr(true)
	next.Snapshots = nil
	next.ExitStatus, next.ExitTimestamp = nil, ""
	b, err := json.Marshal(&next)
	if err != nil {
		return err
	}
	if err := n.stop(ctx, v, false, 0); err != nil && !errors.Is(err, ErrNotRunning) {
		return fmt.Errorf("stop %s for reprovision: %w", uuid, err)
	}
	op, err := n.Journal.Begin("reprovision", uuid,
		journal.Step{Kind: "dataset", Args: []string{reprovisionNew(uuid)}},
		journal.Step{Kind: "mount", Args: []string{dataset(uuid)}})
	if err != nil {
		return err
	}
	defer op.Rollback()
	if _, err := n.Pool.Clone(image.SnapshotName(next.ImageUUID), reprovisionNew(uuid)); err != nil {
		return fmt.Errorf("clone image %s: %w", next.ImageUUID, err)
	}
	failpoint("reprovision/after-clone")
	// The old root is unmounted while the operation can still be undone
	// (which mounts it again): a root in use (a host process inside it)
	// fails the reprovision here, not in a swap that recovery could then
	// never finish.
	if err := n.Pool.Unmount(dataset(uuid)); err != nil {
		return fmt.Errorf("the root of %s is in use: %w", uuid, err)
	}
	failpoint("reprovision/after-unmount")
	if err := op.Forward(journal.Step{Kind: "vm", Args: []string{uuid, string(b)}}); err != nil {
		return err
	}
	failpoint("reprovision/after-forward")
	// From here a failure leaves the journal (Rollback does not undo a
	// forward operation): the next hull command finishes it.
	if err := n.reprovisionSteps(&next); err != nil {
		return err
	}
	if err := op.Commit(); err != nil {
		return err
	}
	n.emit("modify", &next, []Change{{Path: "image_uuid", Action: "changed", Old: v.ImageUUID, New: next.ImageUUID}})
	if err := n.boot(ctx, &next); err != nil {
		return fmt.Errorf("boot %s after reprovision: %w", uuid, err)
	}
	n.emit("modify", &next, []Change{{Path: "state", Action: "changed", Old: "stopped", New: "running"}})
	return nil
}

// checkReprovision refuses, before anything is changed, what SmartOS
// refuses, in its words, and a VM whose snapshots are cloned (they go
// with the old root).
func (n *Node) checkReprovision(v *vm.VM, imageUUID *string) error {
	switch v.Brand {
	case "joyent", "joyent-minimal", "lx":
	default:
		return fmt.Errorf("brand %q does not yet support reprovision", v.Brand)
	}
	if imageUUID == nil {
		return errors.New("payload is missing image_uuid")
	}
	if vm.Bool(v.IndestructibleRoot, false) {
		return errors.New("indestructible_zoneroot is set, cannot reprovision")
	}
	if len(v.Datasets) > 1 {
		return errors.New("cannot support reprovision with multiple delegated datasets")
	}
	if len(v.Datasets) == 1 && v.Datasets[0] != delegated(v.UUID) {
		return fmt.Errorf("cannot support reprovision with non-standard %q dataset", v.Datasets[0])
	}
	img, err := n.Images.Get(*imageUUID)
	if err != nil {
		return err
	}
	types := zonerootTypes(v.Brand, vm.Bool(v.Docker, false))
	if !slices.Contains(types, img.Manifest.Type) {
		t, _ := json.Marshal(types)
		return fmt.Errorf("image %s is type %s, but must be one of: %s", *imageUUID, img.Manifest.Type, t)
	}
	return n.checkUncloned("reprovision", v.UUID, v.Snapshots)
}

// reprovisionSteps puts the new root (cloned beside the VM's dataset) in
// place and the old one aside, carries config/, cores/ and logs/ over, writes
// the zone's identity files and the VM object, and destroys the old
// root. Every step may be run again: recovery runs them all.
func (n *Node) reprovisionSteps(v *vm.VM) error {
	ds, fresh, old := dataset(v.UUID), reprovisionNew(v.UUID), reprovisionOld(v.UUID)
	ok, err := pool.Exists(n.Pool, fresh)
	if err != nil {
		return err
	}
	if ok {
		// The delegated dataset is the zone's data: it waits beside the
		// root while the root under it is replaced.
		if err := n.renameIfThere(delegated(v.UUID), reprovisionData(v.UUID)); err != nil {
			return fmt.Errorf("set aside the data of %s: %w", v.UUID, err)
		}
		failpoint("reprovision/after-data-aside")
		has, err := pool.Exists(n.Pool, ds)
		if err != nil {
			return err
		}
		if has {
			if err := n.Pool.Rename(ds, old); err != nil {
				return fmt.Errorf("set aside the root of %s: %w", v.UUID, err)
			}
			failpoint("reprovision/after-aside")
		}
		if err := n.Pool.Rename(fresh, ds); err != nil {
			return fmt.Errorf("put the new root of %s in place: %w", v.UUID, err)
		}
		failpoint("reprovision/after-swap")
	}
	if _, err := n.Pool.Mount(ds); err != nil {
		return fmt.Errorf("mount dataset of %s: %w", v.UUID, err)
	}
	if err := n.renameIfThere(reprovisionData(v.UUID), delegated(v.UUID)); err != nil {
		return fmt.Errorf("put the data of %s back: %w", v.UUID, err)
	}
	if has, err := pool.Exists(n.Pool, old); err != nil {
		return err
	} else if has {
		d, err := n.Pool.Mount(old)
		if err != nil {
			return fmt.Errorf("mount the old root of %s: %w", v.UUID, err)
		}
		for _, dir := range []string{"config", "cores", "logs"} {
			err := zone.CopyTree(filepath.Join(d.Mountpoint, dir), filepath.Join(n.Zonepath(v.UUID), dir))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("keep %s of %s: %w", dir, v.UUID, err)
			}
		}
	}
	if err := makeRoot(n.Zonepath(v.UUID)); err != nil {
		return err
	}
	if err := n.fillDataset(v); err != nil {
		return err
	}
	if err := n.writeHostsAddress(v); err != nil {
		return err
	}
	if err := n.saveVM(v); err != nil {
		return err
	}
	failpoint("reprovision/after-config")
	if err := n.Pool.Destroy(old); err != nil && !errors.Is(err, pool.ErrNotFound) {
		return fmt.Errorf("destroy the old root of %s: %w", v.UUID, err)
	}
	return nil
}

// renameIfThere renames dataset from to, unless from is not there (done
// already, or never made).
func (n *Node) renameIfThere(from, to string) error {
	ok, err := pool.Exists(n.Pool, from)
	if err != nil || !ok {
		return err
	}
	return n.Pool.Rename(from, to)
}

// finishReprovision completes a reprovision that a crashed process left
// after its new root was cloned, from the VM object its record holds. The
// VM is left stopped; hulld boots it (autoboot is set).
func (n *Node) finishReprovision(rec journal.Record) error {
	for _, st := range slices.Backward(rec.Undo) {
		if st.Kind != "vm" || len(st.Args) != 2 {
			continue
		}
		var v vm.VM
		if err := json.Unmarshal([]byte(st.Args[1]), &v); err != nil {
			return err
		}
		if _, err := os.Stat(n.vmFile(v.UUID)); err != nil {
			return nil // deleted since: nothing to finish
		}
		return n.reprovisionSteps(&v)
	}
	return nil
}
