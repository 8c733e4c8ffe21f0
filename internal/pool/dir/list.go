package dir

import (
	"errors"
	"fmt"
	"sort"

	"hull/internal/pool"
)

// Get describes one dataset or snapshot, with its usage from a walk of
// its layers.
func (d *Driver) Get(full string) (*pool.Dataset, error) {
	rs, r, s, err := d.find(full)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	return d.describe(rs, r, s, true), nil
}

// Exists tells whether a dataset or snapshot exists, without Get's walk
// for usage.
func (d *Driver) Exists(full string) (bool, error) {
	_, _, _, err := d.find(full)
	if errors.Is(err, pool.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("exists: %w", err)
	}
	return true, nil
}

// find looks up a dataset, and its snapshot when full names one.
func (d *Driver) find(full string) (records, *record, *snapshot, error) {
	name, snapName, err := d.parse(full, "")
	if err != nil {
		return nil, nil, nil, err
	}
	rs, err := d.load()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", full, err)
	}
	r := rs.byName(name)
	if r == nil {
		return nil, nil, nil, pool.NotFound(full)
	}
	var s *snapshot
	if snapName != "" {
		if _, s = r.snap(snapName); s == nil {
			return nil, nil, nil, pool.NotFound(full)
		}
	}
	return rs, r, s, nil
}

// List returns every dataset and snapshot sorted by name; Used and Refer
// are -1 (a walk of every dataset is too slow for a listing).
func (d *Driver) List() ([]pool.Dataset, error) {
	rs, err := d.load()
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	var out []pool.Dataset
	for _, r := range rs {
		out = append(out, *d.describe(rs, r, nil, false))
		for i := range r.Snapshots {
			out = append(out, *d.describe(rs, r, &r.Snapshots[i], false))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// describe fills a pool.Dataset for r, or for its snapshot s.
func (d *Driver) describe(rs records, r *record, s *snapshot, usage bool) *pool.Dataset {
	ds := &pool.Dataset{Name: d.full(r.Name), Created: r.Created, Used: -1, Refer: -1}
	if s != nil {
		ds.Name += "@" + s.Name
		ds.Created = s.Created
	} else {
		ds.Mountpoint = d.mountpoint(r.Name)
		if r.Origin != nil {
			if o := rs.byID(r.Origin.Dataset); o != nil {
				for _, os := range o.Snapshots {
					if os.ID == r.Origin.Snapshot {
						ds.Origin = d.full(o.Name) + "@" + os.Name
					}
				}
			}
		}
	}
	if usage {
		ds.Used, ds.Refer = d.usage(rs, r, s)
	}
	return ds
}

// usage is (used, refer). A dataset uses the layers it made (its upper,
// and those its snapshots froze or copied), not its origin's; it refers
// to its overlay view. A snapshot uses its top layer when nothing else
// of its dataset holds it (a copied layer; a frozen one is shared with
// the dataset until a rollback), and refers to its chain's view.
func (d *Driver) usage(rs records, r *record, s *snapshot) (used, refer int64) {
	size := func(layers []string, merge bool) int64 {
		p := make([]string, len(layers))
		for i, l := range layers {
			p[i] = d.layerPath(l)
		}
		n, err := treeSize(p, merge)
		if err != nil {
			return -1
		}
		return n
	}
	inherited := map[string]bool{}
	if r.Origin != nil {
		if o := rs.byID(r.Origin.Dataset); o != nil {
			for _, os := range o.Snapshots {
				if os.ID == r.Origin.Snapshot {
					for _, l := range os.Layers {
						inherited[l] = true
					}
				}
			}
		}
	}
	if s != nil {
		top := s.Layers[0]
		shared := inherited[top] || top == r.Upper
		for _, l := range r.Layers {
			shared = shared || l == top
		}
		for _, o := range r.Snapshots {
			shared = shared || o.ID != s.ID && o.Layers[0] == top
		}
		used = 0
		if !shared {
			used = size([]string{top}, false)
		}
		return used, size(s.Layers, true)
	}
	own := map[string]bool{r.Upper: true}
	for _, l := range r.Layers {
		own[l] = true
	}
	for _, o := range r.Snapshots {
		for _, l := range o.Layers {
			own[l] = true
		}
	}
	for l := range own {
		if inherited[l] {
			continue
		}
		n := size([]string{l}, false)
		if n < 0 {
			used = -1
			break
		}
		used += n
	}
	return used, size(append([]string{r.Upper}, r.Layers...), true)
}
