package btrfs

import (
	"fmt"
	"os"
	"path/filepath"
)

// DatasetNames lists the datasets (not snapshots) without reading usage:
// List commits the running transaction for honest numbers, which callers
// that only look for names need not pay for.
func (d *Driver) DatasetNames() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(d.store, "datasets"))
	if err != nil {
		return nil, fmt.Errorf("read pool: %w", err)
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, d.full(datasetName(e.Name())))
	}
	return out, nil
}

// Free is the pool's free space in bytes.
func (d *Driver) Free() (int64, error) {
	st, err := d.Status()
	if err != nil {
		return -1, err
	}
	return st.Free, nil
}
