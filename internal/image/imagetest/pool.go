package imagetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"hull/internal/pool"
)

// Pool is a pool.Driver for unit tests that need no real pool driver:
// datasets are directories, snapshots and clones are full copies (cp -a).
// It keeps the bookkeeping (origins, dependents) the real drivers keep,
// and lives in memory, so a "restart" reuses the same Pool.
type Pool struct {
	mu   sync.Mutex
	dir  string
	ds   map[string]*pool.Dataset // datasets and snapshots by name
	fail map[string]error         // operation name -> error to return once
}

// NewPool makes an empty Pool keeping its files under dir.
func NewPool(dir string) *Pool {
	return &Pool{dir: dir, ds: map[string]*pool.Dataset{}, fail: map[string]error{}}
}

// Fail makes the next op ("create", "snapshot", "rename") return err.
func (p *Pool) Fail(op string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail[op] = err
}

func (p *Pool) path(name string) string {
	return filepath.Join(p.dir, strings.NewReplacer("/", "_", "@", "=").Replace(name))
}

func (p *Pool) failing(op string) error {
	if err, ok := p.fail[op]; ok {
		delete(p.fail, op)
		return err
	}
	return nil
}

func (p *Pool) Name() string { return "fake" }

func (p *Pool) Create(name string) (*pool.Dataset, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.failing("create"); err != nil {
		return nil, err
	}
	if _, ok := p.ds[name]; ok {
		return nil, fmt.Errorf("create %s: %w", name, pool.ErrExists)
	}
	if err := os.MkdirAll(p.path(name), 0o755); err != nil {
		return nil, err
	}
	d := &pool.Dataset{Name: name, Mountpoint: p.path(name)}
	p.ds[name] = d
	c := *d
	return &c, nil
}

func (p *Pool) Snapshot(name, snap string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.failing("snapshot"); err != nil {
		return err
	}
	if _, ok := p.ds[name]; !ok {
		return fmt.Errorf("snapshot %s: %w", name, pool.ErrNotFound)
	}
	full := name + "@" + snap
	if _, ok := p.ds[full]; ok {
		return fmt.Errorf("snapshot %s: %w", full, pool.ErrExists)
	}
	if out, err := exec.Command("cp", "-a", p.path(name), p.path(full)).CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	p.ds[full] = &pool.Dataset{Name: full}
	return nil
}

func (p *Pool) Clone(snapshot, name string) (*pool.Dataset, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.ds[snapshot]; !ok {
		return nil, fmt.Errorf("clone %s: %w", snapshot, pool.ErrNotFound)
	}
	if _, ok := p.ds[name]; ok {
		return nil, fmt.Errorf("clone %s: %w", name, pool.ErrExists)
	}
	if out, err := exec.Command("cp", "-a", p.path(snapshot), p.path(name)).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	d := &pool.Dataset{Name: name, Mountpoint: p.path(name), Origin: snapshot}
	p.ds[name] = d
	c := *d
	return &c, nil
}

func (p *Pool) Rollback(string) error { return pool.ErrNotSupported }

func (p *Pool) Destroy(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.ds[name]; !ok {
		return fmt.Errorf("destroy %s: %w", name, pool.ErrNotFound)
	}
	victims := []string{name}
	if !strings.Contains(name, "@") {
		for n := range p.ds {
			if strings.HasPrefix(n, name+"@") {
				victims = append(victims, n)
			}
		}
	}
	for _, d := range p.ds {
		for _, v := range victims {
			if d.Origin == v {
				return fmt.Errorf("destroy %s: %w", name, pool.ErrHasDependents)
			}
		}
	}
	for _, v := range victims {
		if err := os.RemoveAll(p.path(v)); err != nil {
			return err
		}
		delete(p.ds, v)
	}
	return nil
}

func (p *Pool) Rename(oldName, newName string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.failing("rename"); err != nil {
		return err
	}
	d, ok := p.ds[oldName]
	if !ok {
		return fmt.Errorf("rename %s: %w", oldName, pool.ErrNotFound)
	}
	if _, ok := p.ds[newName]; ok {
		return fmt.Errorf("rename %s: %w", newName, pool.ErrExists)
	}
	if err := os.Rename(p.path(oldName), p.path(newName)); err != nil {
		return err
	}
	delete(p.ds, oldName)
	d.Name, d.Mountpoint = newName, p.path(newName)
	p.ds[newName] = d
	for n, s := range p.ds {
		if rest, ok := strings.CutPrefix(n, oldName+"@"); ok {
			nn := newName + "@" + rest
			if err := os.Rename(p.path(n), p.path(nn)); err != nil {
				return err
			}
			delete(p.ds, n)
			s.Name = nn
			p.ds[nn] = s
		}
	}
	return nil
}

func (p *Pool) Mount(name string) (*pool.Dataset, error) { return p.Get(name) }
func (p *Pool) Unmount(string) error                     { return nil }

func (p *Pool) Get(name string) (*pool.Dataset, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.ds[name]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", name, pool.ErrNotFound)
	}
	c := *d
	return &c, nil
}

func (p *Pool) List() ([]pool.Dataset, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]pool.Dataset, 0, len(p.ds))
	for _, d := range p.ds {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (p *Pool) SetQuota(string, int64) error { return pool.ErrNotSupported }

var _ pool.Driver = (*Pool)(nil)
