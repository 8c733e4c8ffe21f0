package btrfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"

	"hull/internal/pool"
)

// snapEntry is one snapshot found by a scan.
type snapEntry struct {
	Name     string
	UUID     string
	ID       uint64
	Otransid uint64
	Created  int64
}

// dsEntry is one dataset found by a scan.
type dsEntry struct {
	Name      string
	DataID    uint64
	Origin    string // snapshot uuid, "" if none
	Created   int64
	Unmounted bool
	Snaps     []snapEntry // oldest first
}

// scanDataset reads one dataset's state; snaps only when asked.
func (d *Driver) scanDataset(name string, snaps bool) (*dsEntry, error) {
	dir := d.dsDir(name)
	e := &dsEntry{Name: name}
	e.Origin, _ = getXattr(dir, xattrOrigin)
	c, _ := getXattr(dir, xattrCreated)
	e.Created, _ = strconv.ParseInt(c, 10, 64)
	_, e.Unmounted = getXattr(dir, xattrUnmounted)
	si, err := infoAt(d.dataPath(name))
	if err != nil {
		return nil, err
	}
	e.DataID = si.TreeID
	if !snaps {
		return e, nil
	}
	ents, err := os.ReadDir(d.snapsDir(name))
	if err != nil {
		return nil, err
	}
	for _, s := range ents {
		si, err := infoAt(d.snapPath(name, s.Name()))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		e.Snaps = append(e.Snaps, snapEntry{
			Name: s.Name(), UUID: hexUUID(si.UUID), ID: si.TreeID,
			Otransid: si.Otransid, Created: int64(si.Otime.Sec),
		})
	}
	sort.Slice(e.Snaps, func(i, j int) bool { return e.Snaps[i].Otransid < e.Snaps[j].Otransid })
	return e, nil
}

// scan reads every dataset with its snapshots.
func (d *Driver) scan() ([]*dsEntry, error) {
	ents, err := os.ReadDir(filepath.Join(d.store, "datasets"))
	if err != nil {
		return nil, fmt.Errorf("read pool: %w", err)
	}
	var out []*dsEntry
	for _, e := range ents {
		ds, err := d.scanDataset(datasetName(e.Name()), true)
		if errors.Is(err, os.ErrNotExist) {
			continue // destroyed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read pool: %w", err)
		}
		out = append(out, ds)
	}
	return out, nil
}

// clonesOf names the datasets cloned from any of the snapshot uuids.
func clonesOf(all []*dsEntry, uuids map[string]bool) []string {
	var out []string
	for _, e := range all {
		if e.Origin != "" && uuids[e.Origin] {
			out = append(out, e.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Exists tells whether a dataset or snapshot exists.
func (d *Driver) Exists(full string) (bool, error) {
	name, snap, err := d.parse(full, "")
	if err != nil {
		return false, fmt.Errorf("exists: %w", err)
	}
	if snap != "" {
		return exists(d.snapPath(name, snap)), nil
	}
	return exists(d.dsDir(name)), nil
}

// Get describes one dataset or snapshot, with its usage.
func (d *Driver) Get(full string) (*pool.Dataset, error) {
	name, snap, err := d.parse(full, "")
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if !exists(d.dsDir(name)) || snap != "" && !exists(d.snapPath(name, snap)) {
		return nil, fmt.Errorf("get: %w", pool.NotFound(full))
	}
	qs, err := d.usage()
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", full, err)
	}
	ds, err := d.describe(name, snap, qs, true)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("get: %w", pool.NotFound(full))
	}
	return ds, err
}

// List returns every dataset and snapshot, sorted by name, with usage.
func (d *Driver) List() ([]pool.Dataset, error) {
	qs, err := d.usage()
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	all, err := d.scan()
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	byUUID := originNames(d, all)
	var out []pool.Dataset
	for _, e := range all {
		out = append(out, d.fill(e, nil, qs, byUUID))
		for i := range e.Snaps {
			out = append(out, d.fill(e, &e.Snaps[i], qs, byUUID))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func originNames(d *Driver, all []*dsEntry) map[string]string {
	m := map[string]string{}
	for _, e := range all {
		for _, s := range e.Snaps {
			m[s.UUID] = d.full(e.Name) + "@" + s.Name
		}
	}
	return m
}

// usage commits the running transaction and reads the qgroups; nil when
// the accounting cannot be trusted.
func (d *Driver) usage() (map[uint64]*qgroupInfo, error) {
	var qs map[uint64]*qgroupInfo
	err := d.withStore(func(fd int) error {
		if err := unix.Syncfs(fd); err != nil {
			return err
		}
		m, ok, err := qgroups(fd)
		if ok {
			qs = m
		}
		return err
	})
	return qs, err
}

// describe fills a pool.Dataset for name or name@snap; with origin, the
// clone's origin is looked up (a scan of every snapshot).
func (d *Driver) describe(name, snap string, qs map[uint64]*qgroupInfo, origin bool) (*pool.Dataset, error) {
	e, err := d.scanDataset(name, true)
	if err != nil {
		return nil, err
	}
	byUUID := map[string]string{}
	if origin && e.Origin != "" {
		all, err := d.scan()
		if err != nil {
			return nil, err
		}
		byUUID = originNames(d, all)
	}
	if snap == "" {
		ds := d.fill(e, nil, qs, byUUID)
		return &ds, nil
	}
	for i := range e.Snaps {
		if e.Snaps[i].Name == snap {
			ds := d.fill(e, &e.Snaps[i], qs, byUUID)
			return &ds, nil
		}
	}
	return nil, os.ErrNotExist
}

func (d *Driver) fill(e *dsEntry, s *snapEntry, qs map[uint64]*qgroupInfo, byUUID map[string]string) pool.Dataset {
	ds := pool.Dataset{Name: d.full(e.Name), Created: e.Created, Used: -1, Refer: -1}
	if s != nil {
		ds.Name += "@" + s.Name
		ds.Created = s.Created
		if q := qs[s.ID]; q != nil {
			ds.Used, ds.Refer = q.Excl, q.Rfer
		}
		return ds
	}
	ds.Mountpoint = d.mountpoint(e.Name)
	ds.Origin = byUUID[e.Origin]
	if q := qs[e.DataID]; q != nil {
		ds.Used, ds.Refer, ds.Quota = q.Excl, q.Rfer, q.MaxRfer
		for _, s := range e.Snaps {
			if sq := qs[s.ID]; sq != nil {
				ds.Used += sq.Excl
			}
		}
	}
	return ds
}
