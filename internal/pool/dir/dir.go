// Package dir is the pool driver that works on any filesystem: datasets
// are overlayfs mounts of directory layers kept under a store directory.
// It has no quotas (SetQuota returns pool.ErrNotSupported, except that
// removing a quota with 0 succeeds) and Used/Refer come from directory
// walks (Get computes them, List reports -1).
//
// # Layers
//
// Everything is a layer: a directory store/layers/<id>. A dataset is an
// upper layer (where writes go) over a chain of read-only layers, topmost
// first, mounted as an overlay at mountRoot/<name> (a fresh dataset has no
// read-only layers and mounts over the shared empty directory store/empty).
// A snapshot is a chain of read-only layers; a clone is a new empty upper
// over its snapshot's chain, so it takes one mkdir, one metadata write and
// one mount. A clone of a snapshot of a clone simply has a longer chain.
//
// Snapshot freezes when it can: when no mount other than the dataset's own
// uses the upper and that one unmounts cleanly (nothing open in it), the
// upper itself becomes the snapshot's top layer and the dataset gets a new
// empty upper over it, so snapshotting an image that was just installed
// costs no copy at all. When the dataset is busy (a running zone), the
// upper alone is copied (reflinks where the filesystem has them) into the
// snapshot's top layer: the cost is that of the dataset's own writes, not
// of its origin. A chain deeper than maxDepth is flattened into one copied
// layer instead. Rollback gives the dataset a new empty upper over the
// snapshot's chain. Layers are shared between chains and removed once no
// dataset or snapshot refers to them.
//
// # Idmapped zone roots
//
// Overlayfs cannot itself be idmapped (mainline kernels, 6.18 included,
// refuse mount_setattr(MOUNT_ATTR_IDMAP) on an overlay with EINVAL,
// whatever its options). MountIDMapped gives the zone layer the
// equivalent: an overlay of the dataset's layers built over an idmapped
// mount of the store.
//
// # Cost
//
// Every operation reads every record (a few microseconds each), so Clone
// takes about 2 ms on a small pool and 5 ms with 300 datasets; Snapshot
// of an idle dataset costs the same, of a busy one a copy of its writes.
//
// # Crash safety
//
// Each dataset's metadata is one JSON file, store/meta/<id>.json, keyed by
// an id that never changes (so Rename rewrites one file and clones refer to
// their origin by id). Every operation, under an flock of store/lock that
// all processes share, works in this order:
//
//  1. make new layers and work directories (unreferenced, so invisible);
//  2. commit: replace (or, for Destroy, remove) the one metadata file
//     atomically (temp file, fsync, rename, fsync of the directory);
//  3. remove what no metadata refers to any more, and mount.
//
// A crash before the commit leaves the pool as it was plus unreferenced
// directories; a crash after it leaves the operation done. Unreferenced
// layers, work directories and temp files are removed at the end of every
// later operation and in New. Mounts are derived state: each record keeps
// the wanted state (mounted or not) and New makes the kernel agree with it,
// so a dataset unmounted by an interrupted operation, or by a reboot, is
// mounted again, and overlays of ours at mountRoot that no record (or an
// old upper) explains are taken down.
package dir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/pool"
	"hull/internal/pool/mounts"
	"hull/internal/pool/storedir"
)

// maxDepth bounds a chain's length (overlayfs stacks at most 500 layers);
// a snapshot that would go deeper is flattened into one layer.
var maxDepth = 100

// Driver is the dir pool driver. It is safe for concurrent use by
// goroutines and by processes sharing the store.
type Driver struct {
	store     string // layers, work dirs, metadata, lock
	mountRoot string // datasets are mounted at mountRoot/<name>
	pool      string // pool name, "zones"
}

var _ pool.Driver = (*Driver)(nil)

// New opens (creating if needed) the pool poolName kept in storeDir, with
// datasets mounted under mountRoot, and recovers from any interrupted
// operation: see the package comment.
func New(storeDir, mountRoot, poolName string) (*Driver, error) {
	store, mroot, err := storedir.Open("dir", storeDir, mountRoot, poolName, nil, "meta", "layers", "work", "empty")
	if err != nil {
		return nil, err
	}
	d := &Driver{store: store, mountRoot: mroot, pool: poolName}
	if err := d.recover(); err != nil {
		return nil, fmt.Errorf("open dir pool: %w", err)
	}
	return d, nil
}

// Name is "dir".
func (d *Driver) Name() string { return "dir" }

func (d *Driver) layerPath(id string) string { return filepath.Join(d.store, "layers", id) }
func (d *Driver) workPath(id string) string  { return filepath.Join(d.store, "work", id) }
func (d *Driver) mountpoint(n string) string { return filepath.Join(d.mountRoot, n) }
func (d *Driver) full(n string) string       { return d.pool + "/" + n }

func (d *Driver) lowers(r *record) []string {
	if len(r.Layers) == 0 {
		return []string{filepath.Join(d.store, "empty")}
	}
	out := make([]string, len(r.Layers))
	for i, l := range r.Layers {
		out[i] = d.layerPath(l)
	}
	return out
}

// parse splits a full name; kind is "dataset", "snapshot" or "" (either).
func (d *Driver) parse(full, kind string) (name, snap string, err error) {
	return pool.ParseKind(d.pool, full, kind)
}

// topLevel refuses to make a child dataset ("<parent>/<child>"): its
// mount would sit inside its parent's overlay, which this driver does not
// order. Child names are otherwise valid: looking one up finds nothing.
func topLevel(full, name string) error {
	if pool.Parent(name) != "" {
		return fmt.Errorf("%s: child datasets: %w", full, pool.ErrNotSupported)
	}
	return nil
}

// begin takes the pool lock and loads the records; done releases the
// lock. Operations that let go of layers (Destroy, Rollback) or fail after
// making some call gc before done.
func (d *Driver) begin() (rs records, done func(collect bool), err error) {
	unlock, err := d.lock()
	if err != nil {
		return nil, nil, err
	}
	rs, err = d.load()
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return rs, func(collect bool) {
		if collect {
			d.gc()
		}
		unlock()
	}, nil
}

// newUpper makes an empty layer and its work directory. The layer's root
// takes the attributes of from's root (the layer it will cover), since an
// overlay's root shows the upper's owner and mode.
func (d *Driver) newUpper(from string) (string, error) {
	id := storedir.NewID()
	if err := os.Mkdir(d.layerPath(id), 0o755); err != nil {
		return "", err
	}
	if err := os.Mkdir(d.workPath(id), 0o700); err != nil {
		return "", err
	}
	if from != "" {
		if err := copyRootMeta(d.layerPath(from), d.layerPath(id)); err != nil {
			return "", err
		}
	}
	return id, nil
}

// Create makes an empty dataset mounted at mountRoot/<name>.
func (d *Driver) Create(full string) (_ *pool.Dataset, err error) {
	name, _, err := d.parse(full, "dataset")
	if err == nil {
		err = topLevel(full, name)
	}
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	rs, done, err := d.begin()
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", full, err)
	}
	defer func() { done(err != nil) }()
	if rs.byName(name) != nil {
		return nil, fmt.Errorf("create %s: %w", full, pool.ErrExists)
	}
	up, err := d.newUpper("")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", full, err)
	}
	r := &record{ID: storedir.NewID(), Name: name, Created: time.Now().Unix(), Upper: up, Mounted: true}
	if err := d.commitMounted(r); err != nil {
		return nil, fmt.Errorf("create %s: %w", full, err)
	}
	return d.describe(append(rs, r), r, nil, false), nil
}

// commitMounted saves a new record and mounts it; if the mount fails the
// record goes again, so the caller sees nothing half-made.
func (d *Driver) commitMounted(r *record) error {
	if err := d.save(r); err != nil {
		return err
	}
	if err := d.mount(r); err != nil {
		if rerr := d.remove(r); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return nil
}

// Snapshot takes name@snap: see the package comment for how.
func (d *Driver) Snapshot(full, snapName string) (err error) {
	name, _, err := d.parse(full, "dataset")
	if err == nil {
		_, _, err = d.parse(full+"@"+snapName, "snapshot")
	}
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	rs, done, err := d.begin()
	if err != nil {
		return fmt.Errorf("snapshot %s@%s: %w", full, snapName, err)
	}
	defer func() { done(err != nil) }()
	r := rs.byName(name)
	if r == nil {
		return fmt.Errorf("snapshot %s@%s: %w", full, snapName, pool.NotFound(full))
	}
	if _, s := r.snap(snapName); s != nil {
		return fmt.Errorf("snapshot %s@%s: %w", full, snapName, pool.ErrExists)
	}
	s := snapshot{ID: storedir.NewID(), Name: snapName, Created: time.Now().Unix()}
	if err := d.takeSnapshot(r, &s); err != nil {
		return fmt.Errorf("snapshot %s@%s: %w", full, snapName, err)
	}
	return nil
}

func (d *Driver) takeSnapshot(r *record, s *snapshot) error {
	if len(r.Layers)+1 >= maxDepth {
		// Flatten: one layer holding the merged view.
		l, err := d.copyLayer(append([]string{r.Upper}, r.Layers...), true)
		if err != nil {
			return err
		}
		s.Layers = []string{l}
		r.Snapshots = append(r.Snapshots, *s)
		return d.save(r)
	}
	frozen, err := d.freeze(r, s)
	if frozen || err != nil {
		return err
	}
	// Busy: copy the upper alone.
	l, err := d.copyLayer([]string{r.Upper}, false)
	if err != nil {
		return err
	}
	s.Layers = append([]string{l}, r.Layers...)
	r.Snapshots = append(r.Snapshots, *s)
	return d.save(r)
}

// freeze turns r's upper into s's top layer if nothing uses it; it
// reports false (and changes nothing) when the dataset is busy.
func (d *Driver) freeze(r *record, s *snapshot) (bool, error) {
	table, err := mounts.Read()
	if err != nil {
		return false, err
	}
	target := d.mountpoint(r.Name)
	mountedHere := false
	for _, m := range table {
		// By suffix: views made by MountIDMapped name the upper through
		// /proc/self/fd/N/, and layer ids are unique.
		if !strings.HasSuffix(m.Upper, "/layers/"+r.Upper) {
			continue
		}
		if m.Target != target || mountedHere {
			return false, nil // another view of it (an idmapped root) is alive
		}
		mountedHere = true
	}
	if mountedHere {
		if err := mounts.Unmount(target, false); err != nil {
			return false, nil // open files: busy
		}
	}
	up, err := d.newUpper(r.Upper)
	if err == nil {
		s.Layers = append([]string{r.Upper}, r.Layers...)
		next := *r
		next.Upper, next.Layers = up, s.Layers
		next.Snapshots = append(append([]snapshot(nil), r.Snapshots...), *s)
		if err = d.save(&next); err == nil {
			*r = next
		}
	}
	if r.Mounted {
		// The new layout if committed, else the old one again.
		if merr := d.mount(r); err == nil {
			err = merr
		}
	}
	return true, err
}

// copyLayer makes a new read-only layer holding a copy of layers (raw,
// or their merged view).
func (d *Driver) copyLayer(layers []string, merge bool) (string, error) {
	id := storedir.NewID()
	dst := d.layerPath(id)
	src := make([]string, len(layers))
	for i, l := range layers {
		src[i] = d.layerPath(l)
	}
	if err := copyTree(src, dst, merge); err != nil {
		return "", err
	}
	return id, nil
}

// Clone makes name, a writable dataset over snapshot's layers.
func (d *Driver) Clone(snapFull, full string) (_ *pool.Dataset, err error) {
	srcName, snapName, err := d.parse(snapFull, "snapshot")
	if err != nil {
		return nil, fmt.Errorf("clone: %w", err)
	}
	name, _, err := d.parse(full, "dataset")
	if err == nil {
		err = topLevel(full, name)
	}
	if err != nil {
		return nil, fmt.Errorf("clone: %w", err)
	}
	rs, done, err := d.begin()
	if err != nil {
		return nil, fmt.Errorf("clone %s: %w", full, err)
	}
	defer func() { done(err != nil) }()
	src := rs.byName(srcName)
	var s *snapshot
	if src != nil {
		_, s = src.snap(snapName)
	}
	if s == nil {
		return nil, fmt.Errorf("clone %s: %w", full, pool.NotFound(snapFull))
	}
	if rs.byName(name) != nil {
		return nil, fmt.Errorf("clone %s: %w", full, pool.ErrExists)
	}
	up, err := d.newUpper(s.Layers[0])
	if err != nil {
		return nil, fmt.Errorf("clone %s: %w", full, err)
	}
	r := &record{
		ID: storedir.NewID(), Name: name, Created: time.Now().Unix(), Upper: up,
		Layers:  append([]string(nil), s.Layers...),
		Origin:  &origin{Dataset: src.ID, Snapshot: s.ID},
		Mounted: true,
	}
	if err := d.commitMounted(r); err != nil {
		return nil, fmt.Errorf("clone %s: %w", full, err)
	}
	return d.describe(append(rs, r), r, nil, false), nil
}

// Rollback puts a new empty upper over the snapshot's layers and drops
// the newer snapshots. A dataset still in use is detached lazily: its
// users keep the old content until they let go.
func (d *Driver) Rollback(snapFull string) (err error) {
	name, snapName, err := d.parse(snapFull, "snapshot")
	if err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	rs, done, err := d.begin()
	if err != nil {
		return fmt.Errorf("rollback %s: %w", snapFull, err)
	}
	defer func() { done(true) }()
	r := rs.byName(name)
	i, s := -1, (*snapshot)(nil)
	if r != nil {
		i, s = r.snap(snapName)
	}
	if s == nil {
		return fmt.Errorf("rollback: %w", pool.NotFound(snapFull))
	}
	for _, newer := range r.Snapshots[i+1:] {
		if c := rs.clonesOf(r, newer.ID); len(c) > 0 {
			return fmt.Errorf("rollback %s: newer snapshot %s@%s is cloned by %s: %w",
				snapFull, d.full(name), newer.Name, strings.Join(c, ", "), pool.ErrHasDependents)
		}
	}
	if err := mounts.Unmount(d.mountpoint(name), true); err != nil {
		return fmt.Errorf("rollback %s: %w", snapFull, err)
	}
	up, err := d.newUpper(s.Layers[0])
	if err == nil {
		next := *r
		next.Upper = up
		next.Layers = append([]string(nil), s.Layers...)
		next.Snapshots = append([]snapshot(nil), r.Snapshots[:i+1]...)
		if err = d.save(&next); err == nil {
			*r = next
		}
	}
	if r.Mounted {
		if merr := d.mount(r); err == nil {
			err = merr
		}
	}
	if err != nil {
		return fmt.Errorf("rollback %s: %w", snapFull, err)
	}
	return nil
}

// Destroy removes a dataset with its snapshots, or one snapshot.
func (d *Driver) Destroy(full string) (err error) {
	name, snapName, err := d.parse(full, "")
	if err != nil {
		return fmt.Errorf("destroy: %w", err)
	}
	rs, done, err := d.begin()
	if err != nil {
		return fmt.Errorf("destroy %s: %w", full, err)
	}
	defer func() { done(true) }()
	r := rs.byName(name)
	if r == nil {
		return fmt.Errorf("destroy: %w", pool.NotFound(full))
	}
	if snapName != "" {
		i, s := r.snap(snapName)
		if s == nil {
			return fmt.Errorf("destroy: %w", pool.NotFound(full))
		}
		if c := rs.clonesOf(r, s.ID); len(c) > 0 {
			return fmt.Errorf("destroy %s: cloned by %s: %w", full, strings.Join(c, ", "), pool.ErrHasDependents)
		}
		r.Snapshots = append(r.Snapshots[:i:i], r.Snapshots[i+1:]...)
		if err := d.save(r); err != nil {
			return fmt.Errorf("destroy %s: %w", full, err)
		}
		return nil
	}
	if c := rs.clonesOf(r, ""); len(c) > 0 {
		return fmt.Errorf("destroy %s: cloned by %s: %w", full, strings.Join(c, ", "), pool.ErrHasDependents)
	}
	mp := d.mountpoint(name)
	if err := mounts.Unmount(mp, true); err != nil {
		return fmt.Errorf("destroy %s: %w", full, err)
	}
	if err := d.remove(r); err != nil {
		return fmt.Errorf("destroy %s: %w", full, err)
	}
	os.Remove(mp) // only if empty: never delete what is not ours
	return nil
}

// Rename renames a dataset (moving its mount) or, within one dataset, a
// snapshot. Clones follow, since they refer to their origin by id.
func (d *Driver) Rename(oldFull, newFull string) (err error) {
	oldName, oldSnap, newName, newSnap, err := pool.ParseRename(d.pool, oldFull, newFull)
	if err != nil {
		return err
	}
	if err := topLevel(newFull, newName); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	rs, done, err := d.begin()
	if err != nil {
		return fmt.Errorf("rename %s: %w", oldFull, err)
	}
	defer func() { done(err != nil) }()
	r := rs.byName(oldName)
	if r == nil {
		return fmt.Errorf("rename: %w", pool.NotFound(oldFull))
	}
	if oldSnap != "" {
		_, s := r.snap(oldSnap)
		if s == nil {
			return fmt.Errorf("rename: %w", pool.NotFound(oldFull))
		}
		if _, t := r.snap(newSnap); t != nil {
			return fmt.Errorf("rename %s to %s: %w", oldFull, newFull, pool.ErrExists)
		}
		s.Name = newSnap
		if err := d.save(r); err != nil {
			return fmt.Errorf("rename %s: %w", oldFull, err)
		}
		return nil
	}
	if rs.byName(newName) != nil {
		return fmt.Errorf("rename %s to %s: %w", oldFull, newFull, pool.ErrExists)
	}
	oldMP, newMP := d.mountpoint(oldName), d.mountpoint(newName)
	// The overlay is moved to its new mountpoint, open files and all;
	// where the kernel refuses (under a shared mount) it is mounted
	// again there, which needs it idle.
	moved := false
	if r.Mounted {
		if err := os.MkdirAll(newMP, 0o755); err != nil {
			return fmt.Errorf("rename %s: %w", oldFull, err)
		}
		moved = unix.Mount(oldMP, newMP, "", unix.MS_MOVE, "") == nil
	}
	if !moved {
		if err := mounts.Unmount(oldMP, false); err != nil {
			os.Remove(newMP)
			return fmt.Errorf("rename %s: %w", oldFull, err)
		}
	}
	r.Name = newName
	if err = d.save(r); err != nil {
		r.Name = oldName
		if moved && unix.Mount(newMP, oldMP, "", unix.MS_MOVE, "") == nil {
			moved = false
		}
		os.Remove(newMP) // (an empty directory; a mountpoint stays)
	}
	if r.Mounted && !(moved && err == nil) {
		if merr := d.mount(r); err == nil {
			err = merr
		}
	}
	if err != nil {
		return fmt.Errorf("rename %s: %w", oldFull, err)
	}
	os.Remove(oldMP)
	return nil
}

// SetQuota is not supported by the dir driver: a directory has no size
// limit of its own. Removing a quota (0) succeeds, as there is none.
func (d *Driver) SetQuota(full string, bytes int64) error {
	name, err := pool.ParseDataset(d.pool, full, "set quota", "set quota on "+full)
	if err != nil {
		return err
	}
	rs, err := d.load()
	if err != nil {
		return fmt.Errorf("set quota on %s: %w", full, err)
	}
	if rs.byName(name) == nil {
		return fmt.Errorf("set quota: %w", pool.NotFound(full))
	}
	if bytes == 0 {
		return nil
	}
	return fmt.Errorf("set quota on %s: %w", full, pool.ErrNotSupported)
}
