package node

import (
	"errors"
	"fmt"

	"hull/internal/pool"
	"hull/internal/vm"
)

// delegated is a VM's delegated dataset, SmartOS's <zoneroot>/data: a
// child of the VM's dataset, mounted at <zonepath>/data on the host and
// at /zones/<uuid>/data in the zone. It is the zone's own across
// reprovision; its size is limited by the VM's quota, as its root is
// (each of the two on its own: a btrfs quota does not take in a child).
func delegated(uuid string) string { return dataset(uuid) + "/data" }

// reprovisionData is where reprovision keeps the delegated dataset while
// the root under it is replaced (SmartOS's name for it).
func reprovisionData(uuid string) string { return dataset(uuid) + "-reprovisioning-data" }

// checkDelegate refuses, before anything is made, a delegated dataset
// that the pool cannot hold.
func (n *Node) checkDelegate(v *vm.VM) error {
	if vm.Bool(v.DelegateDataset, false) {
		return n.needChildDatasets("delegate_dataset")
	}
	return nil
}

// needChildDatasets refuses what needs child datasets on a pool without.
func (n *Node) needChildDatasets(what string) error {
	if pool.HasChildren(n.Pool) {
		return nil
	}
	return fmt.Errorf("%s needs a pool with child datasets; the %s pool driver has none (use pool_driver=btrfs)", what, n.Pool.Name())
}

// makeDelegated creates the VM's delegated dataset when the payload asks
// for one; the VM object lists it in datasets, as SmartOS's does (the
// create-time delegate_dataset is not kept).
func (n *Node) makeDelegated(v *vm.VM) error {
	if !vm.Bool(v.DelegateDataset, false) {
		return nil
	}
	if _, err := n.Pool.Create(delegated(v.UUID)); err != nil {
		return fmt.Errorf("create dataset %s: %w", delegated(v.UUID), err)
	}
	v.Datasets, v.DelegateDataset = []string{delegated(v.UUID)}, nil
	return nil
}

// hasDelegated tells whether the VM has its delegated dataset.
func hasDelegated(v *vm.VM) bool { return len(v.Datasets) > 0 }

// checkDestructible refuses to delete a VM made indestructible, in
// SmartOS's words.
func checkDestructible(v *vm.VM) error {
	if vm.Bool(v.IndestructibleRoot, false) {
		return errors.New("indestructible_zoneroot is set, cannot delete")
	}
	if hasDelegated(v) && vm.Bool(v.IndestructibleData, false) {
		return errors.New("indestructible_delegated is set, cannot delete")
	}
	return nil
}
