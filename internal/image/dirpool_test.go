package image

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"hull/internal/image/imagetest"
	"hull/internal/pool"
	"hull/internal/pool/dir"
	"hull/internal/pool/pooltest"
	"hull/internal/testenv"
)

// dirStore is an image store on a dir pool in a temporary directory
// (base), with pool "zones".
func dirStore(t *testing.T) (base string, p *dir.Driver, s *Store) {
	t.Helper()
	base = t.TempDir()
	p, err := dir.New(filepath.Join(base, "pool"), filepath.Join(base, "zones"), "zones")
	if err != nil {
		t.Fatal(err)
	}
	if s, err = Open(filepath.Join(base, "db"), p, "zones"); err != nil {
		t.Fatal(err)
	}
	// Whatever a failed test left.
	t.Cleanup(func() { pooltest.Teardown(p, base) })
	return base, p, s
}

// The busybox image on the real dir pool driver: install, a zone-style
// clone of @final that runs busybox, delete refused while it exists, and
// cleanup of an interrupted install at Open.
func TestDirPoolBusybox(t *testing.T) {
	testenv.RequireRoot(t)
	mp, fp := imagetest.Busybox(t)
	base, p, s := dirStore(t)
	if _, err := s.Install(context.Background(), mp, fp, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	snap, err := p.Get(SnapshotName(imagetest.BusyboxUUID))
	if err != nil {
		t.Fatalf("@final: %v", err)
	}
	if snap.Name != SnapshotName(imagetest.BusyboxUUID) {
		t.Errorf("snapshot %q", snap.Name)
	}

	const vm = "0d9c4c6e-8a33-4a0b-9d43-5d8b1a7d0c01"
	zone, err := p.Clone(SnapshotName(imagetest.BusyboxUUID), "zones/"+vm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Destroy("zones/" + vm) })
	root := filepath.Join(zone.Mountpoint, "root")
	out, err := exec.Command("chroot", root, "/bin/sh", "-c", "echo ok > /tmp/x && cat /tmp/x").CombinedOutput()
	if err != nil || string(out) != "ok\n" {
		t.Errorf("chroot into the clone: %v %q", err, out)
	}
	img, _ := p.Get("zones/" + imagetest.BusyboxUUID)
	if _, err := os.Stat(filepath.Join(img.Mountpoint, "root", "tmp", "x")); !os.IsNotExist(err) {
		t.Errorf("a write in the clone shows in the image: %v", err)
	}

	if err := s.Delete(imagetest.BusyboxUUID); !errors.Is(err, pool.ErrHasDependents) {
		t.Errorf("delete with a clone: %v", err)
	}
	if err := p.Destroy("zones/" + vm); err != nil {
		t.Fatal(err)
	}

	// An install killed mid-way leaves a -partial dataset and its record.
	const other = "0d9c4c6e-8a33-4a0b-9d43-5d8b1a7d0c02"
	if _, err := p.Create("zones/" + other + "-partial"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(s.recordPath(other), nil, 0o644)
	if s, err = Open(filepath.Join(base, "db"), p, "zones"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Get("zones/" + other + "-partial"); !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("-partial after Open: %v", err)
	}

	if err := s.Delete(imagetest.BusyboxUUID); err != nil {
		t.Fatal(err)
	}
	if ds, _ := p.List(); len(ds) != 0 {
		t.Errorf("datasets left: %v", ds)
	}
}
