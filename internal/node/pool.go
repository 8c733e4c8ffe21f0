package node

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"hull/internal/config"
	"hull/internal/pool"
	"hull/internal/pool/btrfs"
	"hull/internal/pool/dir"
)

// DefaultPoolSize is the size of the file-backed btrfs pool made when the
// config names no device (a sparse file: it takes disk space as it fills).
const DefaultPoolSize = "20G"

// Node config keys that choose the pool.
const (
	keyPoolDriver = "pool_driver" // btrfs | dir
	keyPoolDevice = "pool_device" // block device for the btrfs pool
	keyPoolSize   = "pool_size"   // size of the file-backed pool
)

// PoolFile is the file behind a file-backed pool.
func PoolFile(root string) string { return filepath.Join(root, "pool.img") }

// openPool opens the pool the node config at root asks for: pool_driver
// btrfs or dir; unset, btrfs when the kernel has it (dir when the root
// already holds a dir pool). A btrfs pool lives on pool_device, or else
// on a sparse file of pool_size under the root, attached to a loop
// device; either is mounted at root/pool, datasets at root/zones/<name>.
func openPool(root string) (pool.Driver, error) {
	cfg, err := config.Load(root)
	if err != nil {
		return nil, err
	}
	store, mroot := filepath.Join(root, "pool"), filepath.Join(root, "zones")
	drv := cfg.Value(keyPoolDriver, "")
	dev := cfg.Value(keyPoolDevice, "")
	if drv == "" {
		drv = defaultDriver(root, dev)
	}
	switch drv {
	case "dir":
		if dev != "" {
			return nil, fmt.Errorf("%s is set but %s is dir (the dir pool uses the root's filesystem)", keyPoolDevice, keyPoolDriver)
		}
		return dir.New(store, mroot, PoolName)
	case "btrfs":
		if holdsDirPool(store) {
			return nil, fmt.Errorf("%s holds a dir pool; set %s=dir or move the node to a new root", store, keyPoolDriver)
		}
		size, err := ParseSize(cfg.Value(keyPoolSize, DefaultPoolSize))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyPoolSize, err)
		}
		return btrfs.Open(btrfs.Options{
			Store: store, MountRoot: mroot, Pool: PoolName,
			Device: dev, File: PoolFile(root), Size: size,
		})
	}
	return nil, fmt.Errorf("%s=%q: want btrfs or dir", keyPoolDriver, drv)
}

// defaultDriver picks btrfs unless the root already has a dir pool or
// the host cannot make a btrfs one.
func defaultDriver(root, dev string) string {
	switch {
	case dev != "":
		return "btrfs"
	case holdsDirPool(filepath.Join(root, "pool")):
		return "dir"
	case fileExists(PoolFile(root)):
		return "btrfs"
	case kernelHasBtrfs() && haveMkfs():
		return "btrfs"
	}
	return "dir"
}

// holdsDirPool tells whether store is a dir driver's store.
func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func holdsDirPool(store string) bool { return fileExists(filepath.Join(store, "meta")) }

func kernelHasBtrfs() bool {
	if b, err := os.ReadFile("/proc/filesystems"); err == nil && strings.Contains(string(b), "\tbtrfs\n") {
		return true
	}
	// A module that mount loads on demand.
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m, _ := filepath.Glob(filepath.Join("/lib/modules", strings.TrimSpace(string(b)), "kernel/fs/btrfs/btrfs.ko*"))
		return len(m) > 0
	}
	return false
}

func haveMkfs() bool { _, err := exec.LookPath("mkfs.btrfs"); return err == nil }

// ParseSize reads a size as the config writes it: bytes, or a number
// with K, M, G or T (powers of 1024), e.g. 20G.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	mult := int64(1)
	if n := len(s); n > 0 {
		if i := strings.IndexByte("KMGT", s[n-1]); i >= 0 {
			mult = 1 << (10 * (i + 1))
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q (want e.g. 20G)", s)
	}
	return v * mult, nil
}

// ClosePool releases the node's pool: a btrfs pool is exported (its
// datasets and filesystem unmounted, a file-backed pool's loop device
// freed), a dir pool's overlays stay. Tests that make node roots call it
// in their cleanup, after deleting their VMs. The node must not use the
// pool afterwards; Open brings it back.
func (n *Node) ClosePool() error {
	if e, ok := n.Pool.(interface{ Export() error }); ok {
		return e.Export()
	}
	return nil
}

// ExportPool exports the btrfs pool of the node at root without opening
// the node (nothing to do for a dir pool, or a pool not mounted).
func ExportPool(root string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	return btrfs.Export(filepath.Join(root, "pool"), filepath.Join(root, "zones"))
}

// OpenWithPool opens the node at root on the given pool driver (btrfs or
// dir), writing pool_driver to root/config first when the root has no
// config of its own: benchmarks compare the drivers with it.
func OpenWithPool(root, driver string) (*Node, error) {
	if driver != "btrfs" && driver != "dir" {
		return nil, fmt.Errorf("pool driver %q: want btrfs or dir", driver)
	}
	p := config.Paths(root)[0]
	if !fileExists(p) {
		if err := os.MkdirAll(root, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(keyPoolDriver+"="+driver+"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	return Open(root)
}
