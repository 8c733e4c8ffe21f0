package btrfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"hull/internal/pool"
	"hull/internal/pool/loop"
	"hull/internal/pool/mounts"
	"hull/internal/pool/pooltest"
)

// newPool opens a file-backed pool of size bytes in a temp dir; cleanup
// exports it and checks that its loop device is gone.
func newPool(t testing.TB, size int64) (*Driver, string) {
	t.Helper()
	base := t.TempDir()
	d, err := Open(Options{
		Store: filepath.Join(base, "pool"), MountRoot: filepath.Join(base, "zones"),
		Pool: pooltest.Pool, File: filepath.Join(base, "pool.img"), Size: size,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exportPool(t, d, base) })
	return d, base
}

func exportPool(t testing.TB, d *Driver, base string) {
	t.Helper()
	if err := d.Export(); err != nil {
		t.Errorf("export: %v", err)
	}
	left, _ := mounts.Under(base)
	for _, m := range left {
		t.Errorf("mount left after export: %s", m)
	}
	// The kernel frees an autoclear device once the unmounted superblock
	// lets go of it, which may be a moment after umount returns.
	for i := 0; ; i++ {
		dev, ok := loop.Find(filepath.Join(base, "pool.img"))
		if !ok {
			break
		}
		if i == 2000 { // 40 s: a lazily detached mount lets go when btrfs finishes tearing it down
			t.Errorf("loop device %s still attached after export", dev)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConformance(t *testing.T) {
	pooltest.Run(t, func(t *testing.T) pool.Driver {
		d, _ := newPool(t, 1<<30)
		return d
	})
}

func TestChildren(t *testing.T) {
	pooltest.RunChildren(t, func(t *testing.T) pool.Driver {
		d, _ := newPool(t, 1<<30)
		return d
	})
}

func TestReopen(t *testing.T) {
	pooltest.RequireRoot(t)
	base := t.TempDir()
	o := Options{
		Store: filepath.Join(base, "pool"), MountRoot: filepath.Join(base, "zones"),
		Pool: pooltest.Pool, File: filepath.Join(base, "pool.img"), Size: 1 << 30,
	}
	d, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	// Where the pool file's filesystem takes direct I/O, the device
	// does its I/O that way.
	if f, err := os.OpenFile(o.File, os.O_RDONLY|syscall.O_DIRECT, 0); err == nil {
		f.Close()
		dev, _ := loop.Find(o.File)
		if !loop.DirectIO(dev) {
			t.Errorf("loop device %q of the pool does not use direct I/O", dev)
		}
	}
	a, err := d.Create("zones/a")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(a.Mountpoint, "f"), []byte("x"), 0o644)
	c, err := d.Create("zones/a/data")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(c.Mountpoint, "f"), []byte("y"), 0o644)
	if err := d.Export(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a.Mountpoint, "f")); err == nil {
		t.Fatal("dataset still visible after export")
	}
	if d, err = Open(o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exportPool(t, d, base) })
	if b, err := os.ReadFile(filepath.Join(a.Mountpoint, "f")); string(b) != "x" {
		t.Errorf("after reopen: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(c.Mountpoint, "f")); string(b) != "y" {
		t.Errorf("child after reopen: %q, %v", b, err)
	}
}
