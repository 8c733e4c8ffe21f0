package image

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"hull/internal/pool"
)

// Ancestry returns the image and its installed ancestors, the image
// first, following origin. An origin that is not installed ends the
// chain with an error.
func (s *Store) Ancestry(uuid string) ([]*Image, error) {
	var out []*Image
	seen := map[string]bool{}
	for cur := uuid; cur != ""; {
		if seen[cur] || len(out) > maxAncestry {
			return nil, fmt.Errorf("image %s: origin chain loops at %s", uuid, cur)
		}
		seen[cur] = true
		img, err := s.Get(cur)
		if err != nil {
			if len(out) > 0 {
				return out, fmt.Errorf("origin of image %s: %w", out[len(out)-1].Manifest.UUID, err)
			}
			return nil, err
		}
		out = append(out, img)
		cur = img.Manifest.Origin
	}
	return out, nil
}

// UpdateManifest replaces an installed image's manifest (imgadm update:
// the source's copy is newer), keeping its uuid and where it came from.
func (s *Store) UpdateManifest(m *Manifest, source string) error {
	unlock, err := s.lock(context.Background(), m.UUID)
	if err != nil {
		return err
	}
	defer unlock()
	img, err := s.Get(m.UUID)
	if err != nil {
		return err
	}
	img.Manifest = m
	if source != "" {
		img.Source = source
	}
	b, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.manifestPath(m.UUID), append(b, '\n')); err != nil {
		return fmt.Errorf("update image %s: %w", m.UUID, err)
	}
	return nil
}

// EnsureFinal makes sure an installed image has its @final snapshot and
// says whether it had to take it.
func (s *Store) EnsureFinal(uuid string) (bool, error) {
	ok, err := pool.Exists(s.pool, s.Snapshot(uuid))
	if err != nil || ok {
		return false, err
	}
	if err := s.pool.Snapshot(s.Dataset(uuid), FinalSnapshot); err != nil {
		return false, fmt.Errorf("image %s: snapshot @final: %w", uuid, err)
	}
	return true, nil
}

// Mountpoint is where an installed image's files are (its dataset; the
// image's root filesystem is its root/).
func (s *Store) Mountpoint(uuid string) (string, error) {
	dss, err := s.pool.List()
	if err != nil {
		return "", err
	}
	for _, d := range dss {
		if d.Name == s.Dataset(uuid) {
			return d.Mountpoint, nil
		}
	}
	return "", &NotInstalledError{UUID: uuid, Zpool: s.poolName}
}

// Snapshots lists the image dataset's snapshots and the datasets below
// it (`imgadm get -r`'s "snapshots", as `zfs list -r` names them).
func (s *Store) Snapshots(uuid string) ([]string, error) {
	dss, err := s.pool.List()
	if err != nil {
		return nil, fmt.Errorf("list snapshots of image %s: %w", uuid, err)
	}
	var out []string
	ds := s.Dataset(uuid)
	for _, d := range dss {
		if strings.HasPrefix(d.Name, ds+"@") || strings.HasPrefix(d.Name, ds+"/") {
			out = append(out, d.Name)
		}
	}
	return out, nil
}
