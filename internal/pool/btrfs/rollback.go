package btrfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"hull/internal/pool"
	"hull/internal/pool/mounts"
)

// Rollback replaces the dataset by a writable snapshot of snap and
// destroys the newer snapshots (refusing while one of those is cloned).
// A dataset still in use is detached lazily: its users keep the old
// content until they let go.
func (d *Driver) Rollback(snapFull string) error {
	name, snap, err := d.parse(snapFull, "snapshot")
	if err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	unlock, err := d.lock()
	if err != nil {
		return fmt.Errorf("rollback %s: %w", snapFull, err)
	}
	defer unlock()
	if !exists(d.dsDir(name)) || !exists(d.snapPath(name, snap)) {
		return fmt.Errorf("rollback: %w", pool.NotFound(snapFull))
	}
	all, err := d.scan()
	if err != nil {
		return fmt.Errorf("rollback %s: %w", snapFull, err)
	}
	var me *dsEntry
	for _, e := range all {
		if e.Name == name {
			me = e
		}
	}
	if me == nil {
		return fmt.Errorf("rollback: %w", pool.NotFound(snapFull))
	}
	for _, s := range newer(me.Snaps, snap) {
		if c := clonesOf(all, map[string]bool{s.UUID: true}); len(c) > 0 {
			return fmt.Errorf("rollback %s: newer snapshot %s@%s is cloned by %s: %w",
				snapFull, d.full(name), s.Name, strings.Join(c, ", "), pool.ErrHasDependents)
		}
	}
	next := filepath.Join(d.dsDir(name), "rollback@"+snap)
	if err := d.prepareRollback(name, snap, next); err != nil {
		purge(next)
		return fmt.Errorf("rollback %s: %w", snapFull, err)
	}
	if err := mounts.Unmount(d.mountpoint(name), true); err != nil {
		purge(next)
		return fmt.Errorf("rollback %s: %w", snapFull, err)
	}
	trash := d.trashPath()
	if err := os.Rename(d.dataPath(name), trash); err != nil { // the commit
		purge(next)
		d.mountIfWanted(name)
		return fmt.Errorf("rollback %s: %w", snapFull, err)
	}
	err = d.finishRollback(name, snap, next)
	if perr := purge(trash); err == nil {
		err = perr
	}
	d.cleanQgroups()
	if merr := d.mountIfWanted(name); err == nil {
		err = merr
	}
	if err != nil {
		return fmt.Errorf("rollback %s: %w", snapFull, err)
	}
	return nil
}

// newer returns the snapshots taken after snap.
func newer(snaps []snapEntry, snap string) []snapEntry {
	for i, s := range snaps {
		if s.Name == snap {
			return snaps[i+1:]
		}
	}
	return nil
}

// prepareRollback makes next, a writable snapshot of name@snap with the
// dataset's quota and compression.
func (d *Driver) prepareRollback(name, snap, next string) error {
	src, err := openDir(d.snapPath(name, snap))
	if err != nil {
		return err
	}
	defer unix.Close(src)
	dir, err := openDir(d.dsDir(name))
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	if err := snapCreate(src, dir, filepath.Base(next), false); err != nil {
		return fmt.Errorf("snapshot %s: %w", snap, err)
	}
	old, err := infoAt(d.dataPath(name))
	if err != nil {
		return err
	}
	nsi, err := infoAt(next)
	if err != nil {
		return err
	}
	err = d.withStore(func(fd int) error {
		qs, _, err := qgroups(fd)
		if err != nil || qs[old.TreeID] == nil || qs[old.TreeID].MaxRfer == 0 {
			return err
		}
		return qgroupSetLimit(fd, nsi.TreeID, qs[old.TreeID].MaxRfer)
	})
	if err != nil {
		return fmt.Errorf("carry the quota over: %w", err)
	}
	if c, ok := getXattr(d.dataPath(name), xattrCompress); ok {
		unix.Lsetxattr(next, xattrCompress, []byte(c), 0)
	} else {
		unix.Lremovexattr(next, xattrCompress)
	}
	return nil
}

// finishRollback runs after the commit (and again in recovery): next
// becomes data and the snapshots newer than snap go.
func (d *Driver) finishRollback(name, snap, next string) error {
	if err := os.Rename(next, d.dataPath(name)); err != nil {
		return err
	}
	e, err := d.scanDataset(name, true)
	if err != nil {
		return err
	}
	for _, s := range newer(e.Snaps, snap) {
		if err := destroySubvolume(d.snapPath(name, s.Name)); err != nil {
			return err
		}
	}
	return nil
}
