package dir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	"hull/internal/pool"
	"hull/internal/pool/mounts"
)

// gc removes layers, work directories and metadata temp files that no
// record refers to: the leftovers of operations that failed or crashed
// before their commit, and what a commit let go. The caller holds the
// lock, so no operation is half-way. Errors are left for the next gc.
func (d *Driver) gc() {
	rs, err := d.load()
	if err != nil {
		return // unreadable metadata: delete nothing
	}
	refs := rs.layerRefs()
	uppers := map[string]bool{}
	for _, r := range rs {
		uppers[r.Upper] = true
	}
	sweep := func(dir string, keep func(string) bool) {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !keep(e.Name()) {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
	sweep(filepath.Join(d.store, "layers"), func(n string) bool { return refs[n] > 0 })
	sweep(filepath.Join(d.store, "work"), func(n string) bool {
		return uppers[strings.TrimSuffix(n, idmapSuffix)]
	})
	sweep(filepath.Join(d.store, "meta"), func(n string) bool { return !strings.HasPrefix(n, ".tmp-") })
}

// recover runs in New: it removes leftovers and makes the mounts agree
// with the records (see the package comment).
func (d *Driver) recover() error {
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	d.gc()
	rs, err := d.load()
	if err != nil {
		return err
	}
	table, err := mounts.Read()
	if err != nil {
		return err
	}
	// Overlays of ours at mountRoot that no record explains (a renamed or
	// destroyed dataset, an old upper) come down.
	layers := filepath.Join(d.store, "layers") + "/"
	for _, m := range table {
		if filepath.Dir(m.Target) != d.mountRoot || !strings.HasPrefix(m.Upper, layers) {
			continue
		}
		r := rs.byName(filepath.Base(m.Target))
		if r == nil || !r.Mounted || m.Upper != d.layerPath(r.Upper) {
			mounts.Unmount(m.Target, true)
		}
	}
	for _, r := range rs {
		if r.Mounted {
			// A dataset that will not mount is reported by Mount when the
			// caller asks for it; it must not keep the whole pool closed.
			d.mount(r)
		}
	}
	// Empty mountpoints of datasets that are gone (os.Remove leaves
	// non-empty directories and mount points alone).
	ents, _ := os.ReadDir(d.mountRoot)
	for _, e := range ents {
		if e.IsDir() && rs.byName(e.Name()) == nil && e.Name() != pool.Archive {
			os.Remove(filepath.Join(d.mountRoot, e.Name()))
		}
	}
	return nil
}

// copyRootMeta gives dst's root the owner, mode, xattrs and times of src's.
func copyRootMeta(src, dst string) error {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return fmt.Errorf("stat %s: %w", src, err)
	}
	c := &copier{} // not raw: an opaque mark on the new root would hide its lowers
	return c.meta(src, dst, &st)
}
