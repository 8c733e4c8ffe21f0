package btrfs

import (
	"errors"
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

// childless is nil for a dataset without children, else ErrHasChildren
// naming them.
func (d *Driver) childless(name string) error {
	cs, err := d.descendants(name)
	if err != nil || len(cs) == 0 {
		return err
	}
	full := make([]string, len(cs))
	for i, n := range cs {
		full[i] = d.full(n)
	}
	return fmt.Errorf("has %s: %w", strings.Join(full, ", "), pool.ErrHasChildren)
}

// mountChildren mounts name's descendants that should be (name is
// mounted).
func (d *Driver) mountChildren(name string) error {
	cs, err := d.descendants(name)
	if err != nil {
		return err
	}
	return d.mountAll(cs, map[string]bool{name: true})
}

// mountAll mounts the datasets of names, parents before children, that
// should be; a child whose parent is not mounted (in mounted, which it
// fills) is left: its mountpoint would be a directory of whatever is
// there instead. It goes on past a dataset that fails to mount.
func (d *Driver) mountAll(names []string, mounted map[string]bool) error {
	var errs []error
	for _, n := range names {
		if p := pool.Parent(n); p != "" && !mounted[p] {
			continue
		}
		if _, off := getXattr(d.dsDir(n), xattrUnmounted); off {
			continue
		}
		err := d.mount(n)
		mounted[n] = err == nil
		errs = append(errs, err)
	}
	return errors.Join(errs...)
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
	if err := d.childless(from); err != nil {
		return err
	}
	if p := pool.Parent(to); p != "" && !exists(d.dsDir(p)) {
		return fmt.Errorf("parent %w", pool.NotFound(d.full(p)))
	}
	return nil
}

// ChildDatasets tells pool.HasChildren that this driver makes them.
func (d *Driver) ChildDatasets() bool { return true }
