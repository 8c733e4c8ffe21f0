// Package btrfs is the pool driver on a btrfs filesystem: every dataset is
// a subvolume, a snapshot a read-only snapshot of it, a clone a writable
// snapshot of a snapshot (an ioctl: blocks are shared, nothing is copied),
// quotas are qgroup limits and usage comes from qgroup accounting.
// Everything goes through btrfs ioctls; no btrfs tool is run.
//
// # Layout
//
// The filesystem's top level is mounted at the store directory:
//
//	datasets/<name>/data          the dataset (a subvolume)
//	datasets/<name>/snaps/<snap>  its snapshots (read-only subvolumes)
//	datasets/<parent>%<child>/    a child dataset ("<parent>/<child>")
//	tmp/<id>/                     a dataset being made
//	trash/<id>                    what is being destroyed
//	lock                          serializes operations across processes
//
// and each dataset's data subvolume is bind-mounted at mountRoot/<name>,
// as the dir driver mounts its overlays; a child's mountpoint is a
// directory of its parent, as in ZFS, mounted after it. The dataset
// directory carries the clone's origin (by the snapshot's subvolume uuid,
// so renames need no update), the creation time and the wanted mount
// state as xattrs.
//
// # Crash safety
//
// Every multi-step operation has one atomic commit, a rename: a dataset
// is built under tmp/ and renamed into datasets/ (Create, Clone); a
// destroyed dataset is renamed into trash/ before its subvolumes go; a
// rollback's new subvolume is made beside data as "rollback@<snap>" and
// the old data renamed into trash/. New (under the same lock) removes
// tmp/ and trash/, finishes or drops half-done rollbacks, removes the
// qgroups of subvolumes that no longer exist and makes the mounts agree
// with the datasets, so a kill -9 at any point leaves no orphan.
//
// # Quotas and usage
//
// Quotas are enabled on the filesystem. A dataset's quota limits the
// bytes its data subvolume references (its level-0 qgroup's max_rfer),
// the way ZFS's refquota does: blocks shared with the image count, its
// snapshots do not. Refer is the qgroup's referenced bytes; Used is the
// bytes the dataset and its snapshots hold exclusively (a fresh clone
// uses nothing). Numbers are those of the last committed transaction;
// Get and List commit first (syncfs). When the kernel marks the
// accounting inconsistent, Used and Refer are -1.
package btrfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/pool"
	"hull/internal/pool/mounts"
	"hull/internal/pool/storedir"
)

// Driver is the btrfs pool driver. It is safe for concurrent use by
// goroutines and by processes sharing the store.
type Driver struct {
	store     string // the filesystem's top level
	mountRoot string // datasets are bind-mounted at mountRoot/<name>
	pool      string

	// Set by Open for the pool it mounted (status, export).
	device, backingFile string
}

var _ pool.Driver = (*Driver)(nil)

// New opens the pool poolName on the btrfs filesystem whose top level is
// mounted at store, with datasets mounted under mountRoot, and recovers
// from interrupted operations (see the package comment).
func New(store, mountRoot, poolName string) (*Driver, error) {
	st, mr, err := storedir.Open("btrfs", store, mountRoot, poolName, checkStore, "datasets", "tmp", "trash")
	if err != nil {
		return nil, err
	}
	d := &Driver{store: st, mountRoot: mr, pool: poolName}
	if err := d.enableQuota(); err != nil {
		return nil, fmt.Errorf("open btrfs pool: %w", err)
	}
	if err := d.recover(); err != nil {
		return nil, fmt.Errorf("open btrfs pool: %w", err)
	}
	return d, nil
}

// checkStore wants store to be the root of a subvolume on btrfs.
func checkStore(store string) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(store, &sfs); err != nil {
		return err
	}
	if sfs.Type != unix.BTRFS_SUPER_MAGIC {
		return fmt.Errorf("%s is not on btrfs", store)
	}
	if !isSubvolume(store) {
		return fmt.Errorf("%s is not the root of a subvolume", store)
	}
	return nil
}

// Name is "btrfs".
func (d *Driver) Name() string { return "btrfs" }

// Store is where the filesystem's top level is mounted.
func (d *Driver) Store() string { return d.store }

func (d *Driver) dsDir(n string) string       { return filepath.Join(d.store, "datasets", storeName(n)) }
func (d *Driver) dataPath(n string) string    { return filepath.Join(d.dsDir(n), "data") }
func (d *Driver) snapsDir(n string) string    { return filepath.Join(d.dsDir(n), "snaps") }
func (d *Driver) snapPath(n, s string) string { return filepath.Join(d.snapsDir(n), s) }
func (d *Driver) mountpoint(n string) string  { return filepath.Join(d.mountRoot, n) }
func (d *Driver) full(n string) string        { return d.pool + "/" + n }
func exists(p string) bool                    { _, err := os.Lstat(p); return err == nil }
func (d *Driver) trashPath() string           { return filepath.Join(d.store, "trash", storedir.NewID()) }
func (d *Driver) withStore(fn func(int) error) error {
	fd, err := openDir(d.store)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd)
}

// Path is the directory holding a dataset's or snapshot's files (for
// send streams and tests); snapshots are read-only.
func (d *Driver) Path(full string) (string, error) {
	name, snap, err := d.parse(full, "")
	if err != nil {
		return "", err
	}
	p := d.dataPath(name)
	if snap != "" {
		p = d.snapPath(name, snap)
	}
	if !exists(p) {
		return "", pool.NotFound(full)
	}
	return p, nil
}

// parse splits a full name; kind is "dataset", "snapshot" or "" (either).
func (d *Driver) parse(full, kind string) (name, snap string, err error) {
	return pool.ParseKind(d.pool, full, kind)
}

// lock takes the pool's exclusive lock (an flock the kernel drops when a
// process dies).
func (d *Driver) lock() (func(), error) { return storedir.Lock(d.store) }

// Create makes an empty dataset mounted at mountRoot/<name>.
func (d *Driver) Create(full string) (*pool.Dataset, error) {
	return d.make(full, "", nil)
}

// Clone makes name, a writable snapshot of snapshot mounted at
// mountRoot/<name>.
func (d *Driver) Clone(snapFull, full string) (*pool.Dataset, error) {
	if _, _, err := d.parse(snapFull, "snapshot"); err != nil {
		return nil, fmt.Errorf("clone: %w", err)
	}
	return d.make(full, snapFull, nil)
}

// make builds a dataset in tmp/ (empty, or a clone of origin), lets fill
// put files in it, and publishes it with one rename.
func (d *Driver) make(full, origin string, fill func(data string) error) (_ *pool.Dataset, err error) {
	op := "create"
	if origin != "" {
		op = "clone"
	}
	name, _, err := d.parse(full, "dataset")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	unlock, err := d.lock()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, full, err)
	}
	defer unlock()
	var src string
	if origin != "" {
		oname, osnap, _ := d.parse(origin, "snapshot")
		src = d.snapPath(oname, osnap)
		if !exists(src) {
			return nil, fmt.Errorf("%s %s: %w", op, full, pool.NotFound(origin))
		}
	}
	if exists(d.dsDir(name)) {
		return nil, fmt.Errorf("%s %s: %w", op, full, pool.ErrExists)
	}
	if p := pool.Parent(name); p != "" && !exists(d.dsDir(p)) {
		return nil, fmt.Errorf("%s %s: parent %w", op, full, pool.NotFound(d.full(p)))
	}
	tmp := filepath.Join(d.store, "tmp", storedir.NewID())
	defer func() {
		if err != nil {
			purge(tmp)
		}
	}()
	if err := d.build(tmp, src, fill); err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, full, err)
	}
	if err := renameNoReplace(tmp, d.dsDir(name)); err != nil {
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			err = pool.ErrExists
		}
		return nil, fmt.Errorf("%s %s: %w", op, full, err)
	}
	if err := d.mount(name); err != nil {
		// Published but not mountable: take it back, nothing half-made.
		if perr := d.discard(name); perr != nil {
			err = errors.Join(err, perr)
		}
		return nil, fmt.Errorf("%s %s: %w", op, full, err)
	}
	return &pool.Dataset{
		Name: full, Mountpoint: d.mountpoint(name), Origin: origin,
		Used: -1, Refer: -1, Created: time.Now().Unix(),
	}, nil
}

func (d *Driver) build(tmp, src string, fill func(string) error) error {
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(tmp, "snaps"), 0o700); err != nil {
		return err
	}
	if err := unix.Lsetxattr(tmp, xattrCreated, []byte(strconv.FormatInt(time.Now().Unix(), 10)), 0); err != nil {
		return fmt.Errorf("set creation time: %w", err)
	}
	tfd, err := openDir(tmp)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	if src == "" {
		if err := subvolCreate(tfd, "data"); err != nil {
			return fmt.Errorf("create subvolume: %w", err)
		}
	} else {
		si, err := infoAt(src)
		if err != nil {
			return err
		}
		if err := unix.Lsetxattr(tmp, xattrOrigin, []byte(hexUUID(si.UUID)), 0); err != nil {
			return fmt.Errorf("set origin: %w", err)
		}
		sfd, err := openDir(src)
		if err != nil {
			return err
		}
		err = snapCreate(sfd, tfd, "data", false)
		unix.Close(sfd)
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", src, err)
		}
	}
	if fill != nil {
		return fill(filepath.Join(tmp, "data"))
	}
	return nil
}

// discard destroys a published dataset at once (the undo of make).
func (d *Driver) discard(name string) error {
	mounts.Unmount(d.mountpoint(name), true)
	trash := d.trashPath()
	if err := os.Rename(d.dsDir(name), trash); err != nil {
		return err
	}
	os.Remove(d.mountpoint(name))
	return purge(trash)
}

func hexUUID(u [16]byte) string { return fmt.Sprintf("%x", u[:]) }

// Snapshot takes name@snap, a read-only snapshot (one ioctl: the kernel
// flushes the dataset's dirty data into it first, so it is exact even
// while the dataset is written).
func (d *Driver) Snapshot(full, snap string) error {
	name, _, err := d.parse(full, "dataset")
	if err == nil {
		_, _, err = d.parse(full+"@"+snap, "snapshot")
	}
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	unlock, err := d.lock()
	if err != nil {
		return fmt.Errorf("snapshot %s@%s: %w", full, snap, err)
	}
	defer unlock()
	if !exists(d.dsDir(name)) {
		return fmt.Errorf("snapshot %s@%s: %w", full, snap, pool.NotFound(full))
	}
	if exists(d.snapPath(name, snap)) {
		return fmt.Errorf("snapshot %s@%s: %w", full, snap, pool.ErrExists)
	}
	src, err := openDir(d.dataPath(name))
	if err != nil {
		return fmt.Errorf("snapshot %s@%s: %w", full, snap, err)
	}
	defer unix.Close(src)
	dst, err := openDir(d.snapsDir(name))
	if err != nil {
		return fmt.Errorf("snapshot %s@%s: %w", full, snap, err)
	}
	defer unix.Close(dst)
	if err := snapCreate(src, dst, snap, true); err != nil {
		if errors.Is(err, unix.EEXIST) {
			err = pool.ErrExists
		}
		return fmt.Errorf("snapshot %s@%s: %w", full, snap, err)
	}
	return nil
}

// Destroy removes a dataset with its snapshots, or one snapshot, unless
// clones depend on it.
func (d *Driver) Destroy(full string) error {
	name, snap, err := d.parse(full, "")
	if err != nil {
		return fmt.Errorf("destroy: %w", err)
	}
	unlock, err := d.lock()
	if err != nil {
		return fmt.Errorf("destroy %s: %w", full, err)
	}
	defer unlock()
	if !exists(d.dsDir(name)) || snap != "" && !exists(d.snapPath(name, snap)) {
		return fmt.Errorf("destroy: %w", pool.NotFound(full))
	}
	all, err := d.scan()
	if err != nil {
		return fmt.Errorf("destroy %s: %w", full, err)
	}
	uuids := map[string]bool{}
	for _, e := range all {
		if e.Name != name {
			continue
		}
		for _, s := range e.Snaps {
			if snap == "" || s.Name == snap {
				uuids[s.UUID] = true
			}
		}
	}
	if c := clonesOf(all, uuids); len(c) > 0 {
		return fmt.Errorf("destroy %s: cloned by %s: %w", full, strings.Join(c, ", "), pool.ErrHasDependents)
	}
	if snap == "" {
		if err := d.childless(name); err != nil {
			return fmt.Errorf("destroy %s: %w", full, err)
		}
	}
	if snap != "" {
		if err := destroySubvolume(d.snapPath(name, snap)); err != nil {
			return fmt.Errorf("destroy %s: %w", full, err)
		}
		d.cleanQgroups()
		return nil
	}
	mp := d.mountpoint(name)
	if err := mounts.Unmount(mp, true); err != nil {
		return fmt.Errorf("destroy %s: %w", full, err)
	}
	trash := d.trashPath()
	if err := os.Rename(d.dsDir(name), trash); err != nil {
		return fmt.Errorf("destroy %s: %w", full, err)
	}
	os.Remove(mp) // only if empty: never delete what is not ours
	if err := purge(trash); err != nil {
		return fmt.Errorf("destroy %s: %w", full, err)
	}
	d.cleanQgroups()
	return nil
}

// Rename renames a dataset (moving its mount and its snapshots) or,
// within one dataset, a snapshot. Clones follow: they name their origin
// by uuid.
func (d *Driver) Rename(oldFull, newFull string) error {
	oldName, oldSnap, newName, newSnap, err := pool.ParseRename(d.pool, oldFull, newFull)
	if err != nil {
		return err
	}
	unlock, err := d.lock()
	if err != nil {
		return fmt.Errorf("rename %s: %w", oldFull, err)
	}
	defer unlock()
	from, to := d.dsDir(oldName), d.dsDir(newName)
	if oldSnap != "" {
		from, to = d.snapPath(oldName, oldSnap), d.snapPath(newName, newSnap)
	}
	if !exists(from) {
		return fmt.Errorf("rename: %w", pool.NotFound(oldFull))
	}
	if exists(to) {
		return fmt.Errorf("rename %s to %s: %w", oldFull, newFull, pool.ErrExists)
	}
	if oldSnap == "" {
		if err := d.checkMove(oldName, newName); err != nil {
			return fmt.Errorf("rename %s to %s: %w", oldFull, newFull, err)
		}
	}
	if oldSnap != "" {
		if err := renameNoReplace(from, to); err != nil {
			return fmt.Errorf("rename %s: %w", oldFull, err)
		}
		return nil
	}
	oldMP := d.mountpoint(oldName)
	if err := mounts.Unmount(oldMP, false); err != nil {
		return fmt.Errorf("rename %s: %w", oldFull, err)
	}
	err = renameNoReplace(from, to)
	name := newName
	if err != nil {
		name = oldName
	}
	if merr := d.mountIfWanted(name); err == nil {
		err = merr
	}
	if err != nil {
		return fmt.Errorf("rename %s: %w", oldFull, err)
	}
	os.Remove(oldMP)
	return nil
}

// Mount bind-mounts the dataset at its mountpoint if it is not there
// already, and remembers that it should stay mounted.
func (d *Driver) Mount(full string) (*pool.Dataset, error) {
	name, err := pool.ParseDataset(d.pool, full, "mount", "mount "+full+": snapshots have no mountpoint")
	if err != nil {
		return nil, err
	}
	unlock, err := d.lock()
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", full, err)
	}
	defer unlock()
	dir := d.dsDir(name)
	if !exists(dir) {
		return nil, fmt.Errorf("mount: %w", pool.NotFound(full))
	}
	if err := unix.Lremovexattr(dir, xattrUnmounted); err != nil && !errors.Is(err, unix.ENODATA) {
		return nil, fmt.Errorf("mount %s: %w", full, err)
	}
	if err := d.mount(name); err != nil {
		return nil, fmt.Errorf("mount %s: %w", full, err)
	}
	if err := d.mountChildren(name); err != nil {
		return nil, fmt.Errorf("mount %s: %w", full, err)
	}
	return d.describe(name, "", nil, false)
}

// Unmount unmounts the dataset (EBUSY while it is in use) and remembers
// that it should stay unmounted.
func (d *Driver) Unmount(full string) error {
	name, err := pool.ParseDataset(d.pool, full, "unmount", "unmount "+full+": snapshots have no mountpoint")
	if err != nil {
		return err
	}
	unlock, err := d.lock()
	if err != nil {
		return fmt.Errorf("unmount %s: %w", full, err)
	}
	defer unlock()
	dir := d.dsDir(name)
	if !exists(dir) {
		return fmt.Errorf("unmount: %w", pool.NotFound(full))
	}
	if err := unix.Lsetxattr(dir, xattrUnmounted, []byte("1"), 0); err != nil {
		return fmt.Errorf("unmount %s: %w", full, err)
	}
	if err := d.unmountChildren(name); err != nil {
		return fmt.Errorf("unmount %s: %w", full, err)
	}
	if err := mounts.Unmount(d.mountpoint(name), false); err != nil {
		return fmt.Errorf("unmount %s: %w", full, err)
	}
	return nil
}

// mountIfWanted mounts name unless it was unmounted on purpose, and then
// its children, whose mountpoints are in it.
func (d *Driver) mountIfWanted(name string) error {
	if _, off := getXattr(d.dsDir(name), xattrUnmounted); off {
		return nil
	}
	if err := d.mount(name); err != nil {
		return err
	}
	return d.mountChildren(name)
}

// mount bind-mounts name's data at its mountpoint unless it is there;
// whatever else is mounted there (a stale view) is taken down first.
func (d *Driver) mount(name string) error {
	target := d.mountpoint(name)
	if mounts.IsMountRoot(target) {
		table, err := mounts.Read()
		if err != nil {
			return err
		}
		top := mounts.TopAt(table, target)
		if top == nil {
			return fmt.Errorf("%s: a mount root missing from the mount table", target)
		}
		if top.FSType == "btrfs" && top.Root == d.mountSource(name) {
			return nil
		}
		if err := mounts.Unmount(target, true); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(d.dataPath(name), target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount %s at %s: %w", name, target, err)
	}
	return nil
}

// SetQuota limits the bytes the dataset references (0 removes the
// limit). It applies at once, to a running zone too.
func (d *Driver) SetQuota(full string, bytes int64) error {
	name, err := pool.ParseDataset(d.pool, full, "set quota", "set quota on "+full)
	if err != nil {
		return err
	}
	if bytes < 0 {
		return fmt.Errorf("set quota on %s: negative size", full)
	}
	si, err := infoAt(d.dataPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("set quota: %w", pool.NotFound(full))
	}
	if err != nil {
		return fmt.Errorf("set quota on %s: %w", full, err)
	}
	err = d.withStore(func(fd int) error { return qgroupSetLimit(fd, si.TreeID, bytes) })
	if err != nil {
		return fmt.Errorf("set quota on %s: %w", full, err)
	}
	return nil
}
