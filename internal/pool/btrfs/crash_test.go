package btrfs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/pool"
	"hull/internal/pool/mounts"
	"hull/internal/pool/pooltest"
)

// TestCrash kills a process running pool operations at random moments;
// after each kill, the reopened pool must be whole (pooltest.CheckChurn),
// and once everything is destroyed no subvolume, qgroup or mount of it
// may be left.
func TestCrash(t *testing.T) {
	const env = "HULL_BTRFS_CRASH_CHILD"
	open := func(store, mroot string) (pool.Driver, error) { return New(store, mroot, pooltest.Pool) }
	pooltest.CrashChild(env, open)
	pooltest.RequireRoot(t)
	d, base := newPool(t, 1<<30)
	pooltest.Crash(t, env, d.store, d.mountRoot, 20, 30*time.Millisecond, open)
	checkEmpty(t, d, base)
}

// checkEmpty checks that a pool holding no dataset holds no subvolume,
// no qgroup of a dead subvolume, no leftover and no mount.
func checkEmpty(t *testing.T, d *Driver, base string) {
	t.Helper()
	for _, sub := range []string{"datasets", "tmp", "trash"} {
		if ents, _ := os.ReadDir(filepath.Join(d.store, sub)); len(ents) > 0 {
			t.Errorf("%s/ holds %d entries after destroying everything", sub, len(ents))
		}
	}
	fd, err := openDir(d.store)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFD(fd)
	// The cleaner drops deleted subvolumes in the background, at the next
	// periodic commit (30 s).
	deadline := time.Now().Add(40 * time.Second)
	for {
		unix.Syncfs(fd)
		d.cleanQgroups()
		ids, err := subvolumeIDs(fd)
		if err != nil {
			t.Fatal(err)
		}
		qs, _, err := qgroups(fd)
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for id := range ids {
			left = append(left, fmt.Sprintf("subvolume %d", id))
		}
		for id := range qs {
			if id>>48 == 0 && id >= firstFreeObjectID {
				left = append(left, fmt.Sprintf("qgroup 0/%d", id))
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			if len(left) > 10 {
				left = append(left[:10], fmt.Sprintf("and %d more", len(left)-10))
			}
			t.Errorf("left after destroying everything: %v", left)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	left, _ := mounts.Under(d.mountRoot)
	for _, m := range left {
		t.Errorf("mount left: %s", m)
	}
}
