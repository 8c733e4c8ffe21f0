package btrfs

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	"hull/internal/pool"
	"hull/internal/pool/mounts"
)

// enableQuota turns qgroup accounting on unless it is.
func (d *Driver) enableQuota() error {
	return d.withStore(func(fd int) error {
		items, err := treeSearch(fd, quotaTreeID, 0, 0, qgroupStatusKey, qgroupStatusKey)
		if err == nil && len(items) > 0 && len(items[0].Data) >= 24 &&
			binary.LittleEndian.Uint64(items[0].Data[16:])&1 != 0 {
			return nil // on
		}
		if err := quotaEnable(fd); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		return nil
	})
}

// cleanQgroups removes the level-0 qgroups of subvolumes that are gone.
// A subvolume the cleaner has not dropped yet still has its root item
// (its qgroup is removed by a later call, or by the kernel itself).
// Errors are left for the next call.
func (d *Driver) cleanQgroups() {
	d.withStore(func(fd int) error {
		qs, _, err := qgroups(fd)
		if err != nil || len(qs) == 0 {
			return err
		}
		ids, err := subvolumeIDs(fd)
		if err != nil {
			return err
		}
		for id := range qs {
			if id>>48 == 0 && id >= firstFreeObjectID && !ids[id] {
				qgroupDestroy(fd, id)
			}
		}
		return nil
	})
}

// recover runs in New, under the lock: see the package comment.
func (d *Driver) recover() error {
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	for _, dir := range []string{"tmp", "trash"} {
		ents, _ := os.ReadDir(filepath.Join(d.store, dir))
		for _, e := range ents {
			if err := purge(filepath.Join(d.store, dir, e.Name())); err != nil {
				return err
			}
		}
	}
	ents, err := os.ReadDir(filepath.Join(d.store, "datasets"))
	if err != nil {
		return err
	}
	names := map[string]bool{}
	var order []string // sorted: a parent before its children
	for _, e := range ents {
		name := datasetName(e.Name())
		if err := d.recoverDataset(name); err != nil {
			return err
		}
		if exists(d.dsDir(name)) {
			names[name] = true
			order = append(order, name)
		}
	}
	d.cleanQgroups()
	// Bind mounts at mountRoot that no dataset explains come down, and
	// the datasets that should be mounted are.
	table, err := mounts.Read()
	if err != nil {
		return err
	}
	for _, m := range table {
		n, ok := d.datasetMount(m)
		if !ok {
			continue
		}
		_, off := getXattr(d.dsDir(n), xattrUnmounted)
		if !names[n] || off || m.Root != d.mountSource(n) {
			mounts.Unmount(m.Target, true)
		}
	}
	// A dataset that will not mount is reported when the caller asks for
	// it; it must not keep the whole pool closed.
	d.mountAll(order, map[string]bool{})
	mps, _ := os.ReadDir(d.mountRoot)
	for _, e := range mps {
		if e.IsDir() && !names[e.Name()] && e.Name() != pool.Archive {
			os.Remove(filepath.Join(d.mountRoot, e.Name())) // only if empty
		}
	}
	return nil
}

// datasetMount tells whether m is a dataset's mount of this pool (a
// top-level one at mountRoot/<name>, a child's at mountRoot/<name>/...,
// made from a data subvolume), and for which name its target stands.
func (d *Driver) datasetMount(m mounts.Entry) (string, bool) {
	rel, err := filepath.Rel(d.mountRoot, m.Target)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") || m.FSType != "btrfs" {
		return "", false
	}
	src, ok := strings.CutPrefix(m.Root, "/datasets/")
	if !ok {
		return "", false
	}
	if !strings.Contains(rel, "/") {
		return rel, true
	}
	// Deeper, only what a child's mount looks like: other mounts there
	// (inside a zone's dataset) are not the pool's.
	store, ok := strings.CutSuffix(src, "/data")
	return rel, ok && !strings.Contains(store, "/") && strings.Contains(store, "%")
}

// recoverDataset finishes or drops a half-done rollback of name.
func (d *Driver) recoverDataset(name string) error {
	ents, err := os.ReadDir(d.dsDir(name))
	if err != nil {
		return err
	}
	hasData := exists(d.dataPath(name))
	for _, e := range ents {
		snap, ok := strings.CutPrefix(e.Name(), "rollback@")
		if !ok {
			continue
		}
		next := filepath.Join(d.dsDir(name), e.Name())
		if hasData {
			if err := purge(next); err != nil { // before the commit
				return err
			}
			continue
		}
		if err := d.finishRollback(name, snap, next); err != nil {
			return err
		}
		hasData = true
	}
	if !hasData {
		// No commit point leaves a dataset without data; if one shows up
		// anyway it cannot be used, so it goes.
		return purge(d.dsDir(name))
	}
	return nil
}
