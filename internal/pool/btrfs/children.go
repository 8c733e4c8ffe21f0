package btrfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"hull/internal/pool"
	"hull/internal/pool/mounts"
)

// storeName is a dataset's directory under datasets/. A child's slashes
// become '%', which no dataset name has: every dataset is one directory,
// and a parent's name is a prefix of its children's, so sorted names put
// a parent before its children.
func storeName(n string) string { return strings.ReplaceAll(n, "/", "%") }

// datasetName is the dataset a directory under datasets/ holds.
func datasetName(s string) string { return strings.ReplaceAll(s, "%", "/") }

// mountSource is the mount table's root of name's bind mount.
func (d *Driver) mountSource(name string) string {
	return "/datasets/" + storeName(name) + "/data"
}

// descendants lists name's children and theirs, each parent before its
// children.
func (d *Driver) descendants(name string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(d.store, "datasets"))
	if err != nil {
		return nil, fmt.Errorf("read pool: %w", err)
	}
	prefix := storeName(name) + "%"
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	for i, s := range out {
		out[i] = datasetName(s)
	}
	return out, nil
}

// childrenIn names name's children and theirs among scanned datasets.
func childrenIn(all []*dsEntry, name string) []string {
	var out []string
	for _, e := range all {
		if strings.HasPrefix(e.Name, name+"/") {
			out = append(out, e.Name)
		}
	}
	slices.Sort(out)
	return out
}

func (d *Driver) fullNames(names []string) string {
	full := make([]string, len(names))
	for i, n := range names {
		full[i] = d.full(n)
	}
	return strings.Join(full, ", ")
}

// mountChildren mounts name's descendants that should be, parents first;
// below one kept unmounted nothing is mounted (its mountpoint would be a
// directory of whatever is there instead).
func (d *Driver) mountChildren(name string) error {
	cs, err := d.descendants(name)
	if err != nil {
		return err
	}
	var off []string
	for _, c := range cs {
		if slices.ContainsFunc(off, func(o string) bool { return strings.HasPrefix(c, o+"/") }) {
			continue
		}
		if _, no := getXattr(d.dsDir(c), xattrUnmounted); no {
			off = append(off, c)
			continue
		}
		if err := d.mount(c); err != nil {
			return err
		}
	}
	return nil
}

// unmountChildren unmounts name's descendants, children first, without
// changing whether they should be mounted (ZFS unmounts a dataset's
// children with it, and mounts them again with it).
func (d *Driver) unmountChildren(name string) error {
	cs, err := d.descendants(name)
	if err != nil {
		return err
	}
	for _, c := range slices.Backward(cs) {
		if err := mounts.Unmount(d.mountpoint(c), false); err != nil {
			return err
		}
	}
	return nil
}

// checkMove tells whether dataset from may be renamed to: not under
// itself, not with children (they would have to move with it), and
// only under a parent that exists.
func (d *Driver) checkMove(from, to string) error {
	if strings.HasPrefix(to, from+"/") {
		return fmt.Errorf("a dataset cannot move under itself: %w", pool.ErrInvalidName)
	}
	cs, err := d.descendants(from)
	if err != nil {
		return err
	}
	if len(cs) > 0 {
		return fmt.Errorf("has %s: %w", d.fullNames(cs), pool.ErrHasChildren)
	}
	if p := pool.Parent(to); p != "" && !exists(d.dsDir(p)) {
		return fmt.Errorf("parent %w", pool.NotFound(d.full(p)))
	}
	return nil
}

// ChildDatasets tells pool.HasChildren that this driver makes them.
func (d *Driver) ChildDatasets() bool { return true }
