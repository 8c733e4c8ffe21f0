// Package pool is hull's storage pool: named datasets (SmartOS style,
// "zones/<uuid>", and child datasets such as "zones/<uuid>/data"),
// read-only snapshots ("zones/<uuid>@final"), clones of snapshots, quotas
// and usage. Drivers (btrfs, dir) implement Driver; every driver passes
// the same conformance suite in pool/pooltest.
package pool

import (
	"errors"
	"strings"
)

// Errors every driver returns (wrapped) so callers can tell cases apart.
var (
	ErrNotFound      = errors.New("dataset does not exist")
	ErrExists        = errors.New("dataset already exists")
	ErrHasDependents = errors.New("dataset has dependent clones")
	ErrHasChildren   = errors.New("dataset has children")
	ErrNotSupported  = errors.New("not supported by this pool driver")
	ErrInvalidName   = errors.New("invalid dataset name")
	ErrSnapshotNotRO = errors.New("snapshots are read-only")
)

// Archive is the directory under the pool's mount root that the operator
// makes for the debug data of deleted VMs (SmartOS's /zones/archive). No
// dataset has its name, and drivers never remove it as a stale mount
// point.
const Archive = "archive"

// Dataset describes one dataset or snapshot in the pool.
type Dataset struct {
	Name       string // "zones/<uuid>" or "zones/<uuid>@snap"
	Mountpoint string // where the dataset's files are visible ("" for snapshots)
	Origin     string // the snapshot a clone was made from, "" otherwise
	Used       int64  // bytes uniquely held, -1 when the driver cannot tell
	Refer      int64  // bytes referenced, -1 when the driver cannot tell
	Quota      int64  // bytes, 0 = none
	Created    int64  // unix seconds
}

// Driver is one storage backend. Names are "<pool>/<name>" for datasets
// and "<pool>/<name>@<snap>" for snapshots. All operations are idempotent
// where that makes sense for crash recovery (Destroy of a missing dataset
// returns ErrNotFound; callers undoing a step treat that as done).
type Driver interface {
	// Name is the driver name ("dir", "btrfs").
	Name() string
	// Create makes a new empty, mounted, writable dataset.
	Create(name string) (*Dataset, error)
	// Snapshot takes a read-only point-in-time snapshot name@snap.
	Snapshot(name, snap string) error
	// Clone makes a new writable, mounted dataset from a snapshot. It must be
	// cheap in time and space (shared blocks / overlay), not a full copy.
	Clone(snapshot, name string) (*Dataset, error)
	// Rollback returns the dataset to the snapshot's content and destroys
	// every snapshot of it newer than that one.
	Rollback(snapshot string) error
	// Destroy removes a dataset with its snapshots, or one snapshot. It
	// refuses with ErrHasDependents while clones of it (or its snapshots)
	// exist.
	Destroy(name string) error
	// Rename renames a dataset (used to publish "-partial" datasets).
	Rename(oldName, newName string) error
	// Mount makes the dataset visible at its mountpoint (idempotent); used
	// after a host reboot. Unmount undoes it (idempotent).
	Mount(name string) (*Dataset, error)
	Unmount(name string) error
	// Get describes one dataset or snapshot.
	Get(name string) (*Dataset, error)
	// List returns every dataset and snapshot, sorted by name.
	List() ([]Dataset, error)
	// SetQuota limits the dataset's size in bytes (0 removes the limit).
	SetQuota(name string, bytes int64) error
}

// Exists tells whether a dataset or snapshot exists. Drivers that can
// answer without computing usage implement Exists themselves; for the
// others it is a Get.
func Exists(d Driver, name string) (bool, error) {
	if e, ok := d.(interface{ Exists(string) (bool, error) }); ok {
		return e.Exists(name)
	}
	_, err := d.Get(name)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// DatasetNames lists the datasets (not snapshots), cheaply where the
// driver can (DatasetNames), else through List.
func DatasetNames(d Driver) ([]string, error) {
	if n, ok := d.(interface{ DatasetNames() ([]string, error) }); ok {
		return n.DatasetNames()
	}
	all, err := d.List()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ds := range all {
		if !strings.Contains(ds.Name, "@") {
			out = append(out, ds.Name)
		}
	}
	return out, nil
}

// HasChildren tells whether the driver makes child datasets
// ("<parent>/<child>").
func HasChildren(d Driver) bool {
	c, ok := d.(interface{ ChildDatasets() bool })
	return ok && c.ChildDatasets()
}
