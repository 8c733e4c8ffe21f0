package dir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"hull/internal/atomicfile"
	"hull/internal/pool/storedir"
)

// record is one dataset's metadata, meta/<ID>.json. It is keyed by an ID
// that never changes so that every operation rewrites exactly one file:
// that rewrite (or removal) is the operation's commit point.
type record struct {
	ID      string `json:"id"`
	Name    string `json:"name"` // without the pool prefix
	Created int64  `json:"created"`
	// Upper is the layer that takes writes; Layers are the read-only
	// layers under it, topmost first (empty for a fresh dataset).
	Upper     string     `json:"upper"`
	Layers    []string   `json:"layers,omitempty"`
	Origin    *origin    `json:"origin,omitempty"`
	Snapshots []snapshot `json:"snapshots,omitempty"` // oldest first
	// Mounted is the wanted mount state; recovery in New makes the
	// kernel's state match it.
	Mounted bool `json:"mounted"`
}

// snapshot is a frozen chain of read-only layers, topmost first.
type snapshot struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Created int64    `json:"created"`
	Layers  []string `json:"layers"`
}

// origin names a clone's snapshot by IDs so that renames do not touch it.
type origin struct {
	Dataset  string `json:"dataset"`
	Snapshot string `json:"snapshot"`
}

func (r *record) snap(name string) (int, *snapshot) {
	for i := range r.Snapshots {
		if r.Snapshots[i].Name == name {
			return i, &r.Snapshots[i]
		}
	}
	return -1, nil
}

// records is every record of the pool, loaded for one operation.
type records []*record

func (rs records) byName(name string) *record {
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func (rs records) byID(id string) *record {
	for _, r := range rs {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// clonesOf returns the names of clones made from r's snapshot snapID, or
// from any of r's snapshots when snapID is "".
func (rs records) clonesOf(r *record, snapID string) []string {
	var out []string
	for _, c := range rs {
		if c.Origin != nil && c.Origin.Dataset == r.ID && (snapID == "" || c.Origin.Snapshot == snapID) {
			out = append(out, c.Name)
		}
	}
	sort.Strings(out)
	return out
}

// layerRefs counts, for every layer, how many chains (uppers, dataset
// layers, snapshot layers) reference it.
func (rs records) layerRefs() map[string]int {
	refs := map[string]int{}
	for _, r := range rs {
		refs[r.Upper]++
		for _, l := range r.Layers {
			refs[l]++
		}
		for _, s := range r.Snapshots {
			for _, l := range s.Layers {
				refs[l]++
			}
		}
	}
	return refs
}

func (d *Driver) metaPath(id string) string { return filepath.Join(d.store, "meta", id+".json") }

// load reads every record. It takes no lock: records are replaced by
// rename, so a reader sees each one whole, old or new.
func (d *Driver) load() (records, error) {
	dir := filepath.Join(d.store, "meta")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read pool metadata: %w", err)
	}
	var rs records
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".json") {
			continue // temp files of an unfinished write
		}
		b, err := readSmall(filepath.Join(dir, n))
		if errors.Is(err, os.ErrNotExist) {
			continue // destroyed since ReadDir
		}
		if err != nil {
			return nil, fmt.Errorf("read pool metadata: %w", err)
		}
		r := new(record)
		if err := json.Unmarshal(b, r); err != nil {
			return nil, fmt.Errorf("read pool metadata %s: %w", n, err)
		}
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Name < rs[j].Name })
	return rs, nil
}

// save writes r atomically: temp file, fsync, rename, fsync of the
// directory. After it returns the change survives a crash; before the
// rename nothing of it is visible.
func (d *Driver) save(r *record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Join(d.store, "meta")
	f, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return fmt.Errorf("write metadata of %s: %w", r.Name, err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, d.metaPath(r.ID))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write metadata of %s: %w", r.Name, err)
	}
	return syncDir(dir)
}

// remove deletes r's record durably: the commit point of Destroy.
func (d *Driver) remove(r *record) error {
	if err := os.Remove(d.metaPath(r.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove metadata of %s: %w", r.Name, err)
	}
	return syncDir(filepath.Join(d.store, "meta"))
}

func syncDir(dir string) error {
	if err := atomicfile.Sync(dir); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// lock takes the pool's exclusive lock (storedir.Lock).
func (d *Driver) lock() (unlock func(), err error) { return storedir.Lock(d.store) }

// readSmall reads a metadata file with plain syscalls: os.ReadFile's
// poller setup costs more than the read, and load reads every record.
func readSmall(p string) ([]byte, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: p, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}
