// Package node is a hull compute node: it owns the VM objects under the
// hull root and carries out vmadm's operations on them (create, start,
// stop, update, delete), journaled so that a crash at any step leaves a VM
// whole or gone. hulld and the vmadm CLI both drive a Node; per-VM locks
// on disk serialize them.
package node

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/cgroup"
	"hull/internal/idmap"
	"hull/internal/image"
	"hull/internal/journal"
	"hull/internal/pool"
	"hull/internal/vm"
	"hull/internal/zone"
)

// DefaultRoot is where a node keeps its state unless HULL_ROOT says
// otherwise.
const DefaultRoot = "/var/lib/hull"

// PoolName is the pool's name, as SmartOS's "zones".
const PoolName = "zones"

// RootFromEnv returns HULL_ROOT or the default.
func RootFromEnv() string {
	if r := os.Getenv("HULL_ROOT"); r != "" {
		return r
	}
	return DefaultRoot
}

// Node is one hull node's state and the parts that act on it.
type Node struct {
	Root    string
	Pool    pool.Driver
	Images  *image.Store
	IDs     *idmap.Allocator
	Runtime *zone.Runtime
	Cgroups cgroup.Mode
	Journal *journal.Journal
	// HullBinary is the static binary bind-mounted into zones.
	HullBinary string
	// WarmUserns makes the user namespace of the id range the next zone
	// will get ahead of time, after each boot (see idmap.Prewarm): worth
	// it in a long-lived process such as hulld, not in one command.
	WarmUserns bool

	restarts dockerRestarts // docker restart policies waiting for their delay
}

// Paths under the root.
func (n *Node) vmDir() string               { return filepath.Join(n.Root, "vms") }
func (n *Node) vmFile(uuid string) string   { return filepath.Join(n.vmDir(), uuid+".json") }
func (n *Node) lockFile(uuid string) string { return filepath.Join(n.Root, "locks", uuid+".lock") }
func (n *Node) runDir() string              { return filepath.Join(n.Root, "run") }

// prepareLockFile is held while imgadm create -s prepares the VM.
func (n *Node) prepareLockFile(uuid string) string { return n.lockFile(uuid) + ".prepare" }

// Zonepath is where a VM's dataset is mounted.
func (n *Node) Zonepath(uuid string) string { return filepath.Join(n.Root, "zones", uuid) }

// rootFS is the idmapped view of the zone's root that the runtime uses.
func (n *Node) rootFS(uuid string) string { return filepath.Join(n.runDir(), "rootfs", uuid) }
func (n *Node) bundle(uuid string) string { return filepath.Join(n.runDir(), "bundles", uuid) }
func (n *Node) stateFile(uuid string) string {
	return filepath.Join(n.runDir(), "zones", uuid+".json")
}

// ConsoleLog is the zone's console output on the host.
func (n *Node) ConsoleLog(uuid string) string {
	return filepath.Join(n.runDir(), "console", uuid+".log")
}

// ConsoleInput is the FIFO that feeds the zone's console.
func (n *Node) ConsoleInput(uuid string) string {
	return filepath.Join(n.runDir(), "console", uuid+".in")
}

// EventLog is the node's event stream (JSON lines).
func (n *Node) EventLog() string { return filepath.Join(n.Root, "events.jsonl") }

// Socket is hulld's API socket.
func (n *Node) Socket() string { return filepath.Join(n.runDir(), "hulld.sock") }

// Open opens (creating if needed) the node at root and finishes or undoes
// whatever a crashed hull process left in flight.
func Open(root string) (*Node, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("cannot run because: must be root")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"vms", "locks", "zones", "pool", "images", "run/rootfs", "run/bundles", "run/zones", "run/console", "run/runtime"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("open node %s: %w", root, err)
		}
	}
	// Zone datasets must be reachable by zone uids for the idmapped root
	// to be traversable; everything else stays private.
	if err := os.Chmod(filepath.Join(root, "zones"), 0o711); err != nil {
		return nil, err
	}
	if err := os.Chmod(root, 0o711); err != nil {
		return nil, err
	}
	for _, d := range []string{"run", "run/rootfs"} {
		os.Chmod(filepath.Join(root, d), 0o711)
	}
	if err := checkTraversable(root); err != nil {
		return nil, err
	}
	n := &Node{Root: root}
	mode, err := cgroup.Detect()
	if err != nil {
		return nil, fmt.Errorf("open node: %w", err)
	}
	n.Cgroups = mode
	rt, err := zone.FindRuntime(mode == cgroup.V2)
	if err != nil {
		return nil, err
	}
	n.Runtime = &zone.Runtime{Binary: rt, Root: filepath.Join(root, "run", "runtime")}
	// What can fail without the pool is checked before the pool is
	// mounted, so that a refused open leaves nothing mounted.
	if n.HullBinary, err = hullBinary(root); err != nil {
		return nil, err
	}
	if n.Journal, err = journal.Open(n.journalDir()); err != nil {
		return nil, err
	}
	p, err := openPool(root)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	n.Pool = p
	if n.Images, err = image.Open(filepath.Join(root, "images"), p, PoolName); err != nil {
		return nil, fmt.Errorf("open images: %w", err)
	}
	if n.IDs, err = idmap.Open(filepath.Join(root, "idmap")); err != nil {
		return nil, fmt.Errorf("open id ranges: %w", err)
	}
	n.registerUndos()
	if _, err := n.Journal.Recover(n.finish); err != nil {
		return nil, fmt.Errorf("recover interrupted operations: %w", err)
	}
	return n, nil
}

// OpenView opens the node for reading VM objects only (vmadm list, get,
// lookup): no recovery, no pool, no runtime. Reads need no lock: objects
// are replaced atomically, and state is derived from the kernel.
func OpenView(root string) (*Node, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "vms")); err != nil {
		// Not a node yet: the full open creates it.
		return Open(root)
	}
	return &Node{Root: root}, nil
}

// hullBinary puts the binary zones run into the root, once per version
// of the hull binary, so zones bind-mount a file that an upgrade or
// rebuild of the installed binary never changes under them. That is the
// in-zone build the hull binary carries (hull zone-binary), or, for a
// hull built without one, the hull binary itself.
func hullBinary(root string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if p := os.Getenv("HULL_BINARY"); p != "" {
		self = p
	}
	st, err := os.Stat(self)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(root, "bin", fmt.Sprintf("hull-%d-%d", st.Size(), st.ModTime().UnixNano()))
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := checkStatic(self); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	tmp := dst + ".tmp"
	if err := zoneBinary(self, tmp); err != nil {
		b, err := os.ReadFile(self)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(tmp, b, 0o755); err != nil {
			return "", err
		}
	}
	return dst, os.Rename(tmp, dst)
}

// PruneBinaries removes the copies hullBinary made for other versions of
// hull (one is left by every upgrade or rebuild), and copies a crash left
// half-made. Zones booted with one keep it through their bind mount,
// which outlives the file's name; zones boot with this version's. hulld
// calls it as it starts, once the hulld before it has stopped. It returns
// how many it removed.
func (n *Node) PruneBinaries() (int, error) {
	dir := filepath.Join(n.Root, "bin")
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	// Copies are named hull-<size>-<mtime of the binary>: one of a newer
	// binary than this is left to it.
	stamp := func(name string) (int64, bool) {
		f := strings.Split(strings.TrimSuffix(name, ".tmp"), "-")
		if len(f) != 3 || f[0] != "hull" {
			return 0, false
		}
		t, err := strconv.ParseInt(f[2], 10, 64)
		return t, err == nil
	}
	mine, ok := stamp(filepath.Base(n.HullBinary))
	if !ok || filepath.Dir(n.HullBinary) != dir {
		return 0, nil // a binary from elsewhere (HULL_BINARY): nothing to judge by
	}
	removed := 0
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if t, ok := stamp(e.Name()); !ok || p == n.HullBinary || t > mine || e.IsDir() {
			continue
		}
		// A copy being made right now (by a newer vmadm) is left alone.
		if strings.HasSuffix(p, ".tmp") {
			if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < time.Minute {
				continue
			}
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

// zoneBinary asks the hull binary self for its in-zone build and writes
// it to dst; an error means it has none (or it is not static).
func zoneBinary(self, dst string) error {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	c := exec.Command(self, "zone-binary")
	c.Stdout = f
	err = c.Run()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = checkStatic(dst)
	}
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("in-zone binary of %s: %w", self, err)
	}
	return nil
}

// lockedVM takes the VM's lock and loads its object; the caller calls
// unlock when done.
func (n *Node) lockedVM(uuid string) (*vm.VM, func(), error) {
	unlock, err := n.lock(uuid)
	if err != nil {
		return nil, nil, err
	}
	v, err := n.loadVM(uuid)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return v, unlock, nil
}

// checkStatic refuses a dynamically linked hull: zones run it as their
// init, and an image may have no libc (build with CGO_ENABLED=0).
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("hull binary %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("hull binary %s is dynamically linked; zones need a static one (build it with CGO_ENABLED=0, as make build does)", path)
		}
	}
	return nil
}

// lock takes the VM's exclusive lock; operations on one VM are serialized
// across processes, different VMs proceed in parallel.
func (n *Node) lock(uuid string) (func(), error) {
	f, err := os.OpenFile(n.lockFile(uuid), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", uuid, err)
	}
	return func() { f.Close() }, nil
}

// ValidUUID says whether s has SmartOS's uuid shape (36 chars, dashes at
// 8, 13, 18, 23).
func ValidUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

// checkTraversable makes sure every directory above the root can be
// passed through by others: zone roots live under it and are reached by
// the runtime as each zone's (unprivileged) root.
func checkTraversable(root string) error {
	for d := filepath.Dir(root); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("HULL_ROOT %s: %s is not searchable by others (chmod o+x %s): zones could not reach their roots", root, d, d)
		}
		if d == "/" {
			return nil
		}
	}
}
