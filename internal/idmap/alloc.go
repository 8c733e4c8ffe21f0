// Package idmap gives every zone its own host uid/gid range, so that root
// in a zone is not root on the host, and makes the zone's files appear
// owned by that range: with idmapped mounts where the kernel and the
// filesystem allow it, and with a one-time recorded chown shift otherwise.
package idmap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"hull/internal/atomicfile"
)

const (
	// Base is the first host id handed out; ids below it belong to the
	// host's own users and to subordinate ranges of /etc/subuid.
	Base = 1 << 24
	// Size is the size of every zone's range: zone ids 0..65535.
	Size = 1 << 16
	// Slots is how many ranges fit between Base and 1<<31 (ids at or
	// above 1<<31 are troublesome for tools that treat uid_t as signed).
	Slots = (1<<31 - Base) / Size
)

// Range is a block of host ids: zone id n is host id HostID+n for
// n < Size.
type Range struct {
	HostID uint32
	Size   uint32
}

// SlotRange is the range of allocator slot i.
func SlotRange(i int) Range { return Range{HostID: Base + uint32(i)*Size, Size: Size} }

// Contains reports whether host id id falls in r.
func (r Range) Contains(id uint32) bool { return id >= r.HostID && id-r.HostID < r.Size }

func (r Range) String() string { return fmt.Sprintf("%d+%d", r.HostID, r.Size) }

// Allocator hands out ranges, one per owner (a VM uuid), recorded in a
// directory so that they survive restarts and are shared by every hull
// process on the node.
//
// Layout under dir:
//
//	slots/<i>       -> the owner of slot i. Authoritative.
//	owners/<owner>  -> the slot number. An index for direct lookup.
//	tmp/            files being written (purged under the lock).
//	lock            flock(2)ed for the duration of Allocate and Free.
//
// Entries are symlinks whose target is their content: made in one step,
// never half-written, and with no data of their own to sync, so that an
// allocation costs two directory syncs. (Regular files with the same
// content, as older versions wrote, are read too.) A slot is created
// exclusively by symlink(2), which fails with EEXIST when it is taken. The
// owner index is written first (atomically by rename) and synced, and the
// slot second, so a crash between the two leaves only an index entry that
// names a slot not holding that owner; Lookup verifies the slot and treats
// such an entry as absent, and the next Allocate for that owner overwrites
// it. Free removes the slot first and the index second for the same
// reason: a slot never exists without an index entry pointing at it, so
// no slot can leak.
type Allocator struct {
	dir string
}

// Open opens (creating it if needed) the allocator state in dir.
func Open(dir string) (*Allocator, error) {
	for _, d := range []string{dir, filepath.Join(dir, "slots"), filepath.Join(dir, "owners"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("idmap: open %s: %w", dir, err)
		}
	}
	return &Allocator{dir: dir}, nil
}

func checkOwner(owner string) error {
	if owner == "" || owner == "." || owner == ".." || len(owner) > 200 || strings.ContainsAny(owner, "/\x00\n") {
		return fmt.Errorf("idmap: invalid owner %q", owner)
	}
	return nil
}

func (a *Allocator) slotPath(i int) string { return filepath.Join(a.dir, "slots", strconv.Itoa(i)) }

func (a *Allocator) ownerPath(owner string) string { return filepath.Join(a.dir, "owners", owner) }

// readEntry reads what an entry holds: a symlink's target, or a regular
// file's content.
func readEntry(path string) (string, error) {
	s, err := os.Readlink(path)
	if errors.Is(err, unix.EINVAL) {
		b, err := os.ReadFile(path)
		return string(b), err
	}
	return s, err
}

// slotOwner reads the owner recorded in slot i ("" and no error if free).
func (a *Allocator) slotOwner(i int) (string, error) {
	s, err := readEntry(a.slotPath(i))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return s, err
}

// indexed returns the slot the owner index names, or -1.
func (a *Allocator) indexed(owner string) (int, error) {
	s, err := readEntry(a.ownerPath(owner))
	if errors.Is(err, os.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return -1, err
	}
	i, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || i < 0 || i >= Slots {
		return -1, nil // a torn or foreign index entry is no allocation
	}
	return i, nil
}

// lookup finds owner's slot through the index, verified against the
// slot file.
func (a *Allocator) lookup(owner string) (int, bool, error) {
	i, err := a.indexed(owner)
	if err != nil || i < 0 {
		return -1, false, err
	}
	got, err := a.slotOwner(i)
	if err != nil {
		return -1, false, err
	}
	return i, got == owner, nil
}

// Lookup returns owner's range, if it has one. It reads two small files.
func (a *Allocator) Lookup(owner string) (Range, bool, error) {
	if err := checkOwner(owner); err != nil {
		return Range{}, false, err
	}
	i, ok, err := a.lookup(owner)
	if err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("idmap: lookup %s: %w", owner, err)
		}
		return Range{}, false, err
	}
	return SlotRange(i), true, nil
}

// lock takes the allocator's inter-process lock. Every call opens its own
// file description, so goroutines of one process exclude each other too.
func (a *Allocator) lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(a.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// Allocate returns owner's range, allocating the lowest free slot if the
// owner has none. It is idempotent, and safe between processes.
func (a *Allocator) Allocate(owner string) (Range, error) {
	if err := checkOwner(owner); err != nil {
		return Range{}, err
	}
	if r, ok, err := a.Lookup(owner); err != nil || ok {
		return r, err
	}
	unlock, err := a.lock()
	if err != nil {
		return Range{}, fmt.Errorf("idmap: allocate %s: lock: %w", owner, err)
	}
	defer unlock()
	i, err := a.allocateLocked(owner)
	if err != nil {
		return Range{}, fmt.Errorf("idmap: allocate %s: %w", owner, err)
	}
	return SlotRange(i), nil
}

func (a *Allocator) allocateLocked(owner string) (int, error) {
	// Another process may have allocated for this owner while we waited.
	if i, ok, err := a.lookup(owner); err != nil || ok {
		return i, err
	}
	a.purgeTmp()
	taken, err := a.taken()
	if err != nil {
		return -1, err
	}
	for i := 0; i < Slots; i++ {
		if taken[i] {
			continue
		}
		if err := a.writeIndex(owner, i); err != nil {
			return -1, err
		}
		err := a.claim(i, owner)
		if errors.Is(err, os.ErrExist) {
			continue // taken behind our back; the index is rewritten next round
		}
		if err != nil {
			return -1, err
		}
		return i, nil
	}
	return -1, errors.New("no free id range")
}

// NextFree returns the range the next allocation will most likely get:
// the lowest free slot's, as things are now. It takes no lock and
// reserves nothing.
func (a *Allocator) NextFree() (Range, error) {
	taken, err := a.taken()
	if err != nil {
		return Range{}, err
	}
	for i := 0; i < Slots; i++ {
		if !taken[i] {
			return SlotRange(i), nil
		}
	}
	return Range{}, errors.New("no free id range")
}

// taken lists the slots in use by name only: no slot file is read.
func (a *Allocator) taken() (map[int]bool, error) {
	ents, err := os.ReadDir(filepath.Join(a.dir, "slots"))
	if err != nil {
		return nil, err
	}
	m := make(map[int]bool, len(ents))
	for _, e := range ents {
		if i, err := strconv.Atoi(e.Name()); err == nil {
			m[i] = true
		}
	}
	return m, nil
}

func (a *Allocator) purgeTmp() {
	tmp := filepath.Join(a.dir, "tmp")
	ents, _ := os.ReadDir(tmp)
	for _, e := range ents {
		_ = os.Remove(filepath.Join(tmp, e.Name()))
	}
}

func (a *Allocator) writeIndex(owner string, i int) error {
	// A symlink made under a temporary name, then renamed over any
	// older entry.
	tmp := filepath.Join(a.dir, "tmp", "w-"+strconv.Itoa(os.Getpid())+"-"+owner)
	_ = os.Remove(tmp)
	if err := os.Symlink(strconv.Itoa(i), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, a.ownerPath(owner)); err != nil {
		os.Remove(tmp)
		return err
	}
	return atomicfile.Sync(filepath.Join(a.dir, "owners"))
}

// claim creates slot i for owner, failing with os.ErrExist if it is taken.
func (a *Allocator) claim(i int, owner string) error {
	if err := os.Symlink(owner, a.slotPath(i)); err != nil {
		return err
	}
	return atomicfile.Sync(filepath.Join(a.dir, "slots"))
}

// Free releases owner's range. Freeing an owner without a range is not an
// error.
func (a *Allocator) Free(owner string) error {
	if err := checkOwner(owner); err != nil {
		return err
	}
	unlock, err := a.lock()
	if err != nil {
		return fmt.Errorf("idmap: free %s: lock: %w", owner, err)
	}
	defer unlock()
	i, ok, err := a.lookup(owner)
	if err != nil {
		return fmt.Errorf("idmap: free %s: %w", owner, err)
	}
	if ok {
		if err := os.Remove(a.slotPath(i)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("idmap: free %s: %w", owner, err)
		}
		if err := atomicfile.Sync(filepath.Join(a.dir, "slots")); err != nil {
			return fmt.Errorf("idmap: free %s: %w", owner, err)
		}
	}
	if err := os.Remove(a.ownerPath(owner)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("idmap: free %s: %w", owner, err)
	}
	return nil
}

// List returns every allocated range by owner, read from the slot files.
func (a *Allocator) List() (map[string]Range, error) {
	taken, err := a.taken()
	if err != nil {
		return nil, fmt.Errorf("idmap: list: %w", err)
	}
	slots := make([]int, 0, len(taken))
	for i := range taken {
		slots = append(slots, i)
	}
	sort.Ints(slots)
	m := make(map[string]Range, len(slots))
	for _, i := range slots {
		owner, err := a.slotOwner(i)
		if err != nil {
			return nil, fmt.Errorf("idmap: list: %w", err)
		}
		if owner == "" || i >= Slots {
			continue
		}
		if _, dup := m[owner]; dup {
			// Cannot happen through this package; trust the index.
			if j, ok, _ := a.lookup(owner); ok && j != i {
				continue
			}
		}
		m[owner] = SlotRange(i)
	}
	return m, nil
}
