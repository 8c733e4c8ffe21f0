package btrfs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/pool/pooltest"
)

// TestCrash kills a process running pool operations at random moments;
// after each kill, the reopened pool must be whole (pooltest.CheckChurn),
// and once everything is destroyed no subvolume, qgroup or mount of it
// may be left.
func TestCrash(t *testing.T) {
	if env := os.Getenv("HULL_BTRFS_CRASH_CHILD"); env != "" {
		store, mroot, _ := strings.Cut(env, ":")
		d, err := New(store, mroot, pooltest.Pool)
		if err == nil {
			err = pooltest.Churn(d, 1000)
		}
		fmt.Fprintln(os.Stderr, "churn:", err)
		os.Exit(1)
	}
	pooltest.RequireRoot(t)
	d, base := newPool(t, 1<<30)
	store, mroot := d.store, d.mountRoot
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	for i := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
		cmd.Env = append(os.Environ(), "HULL_BTRFS_CRASH_CHILD="+store+":"+mroot)
		out := new(strings.Builder)
		cmd.Stderr = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(30+rand.IntN(300)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		if strings.Contains(out.String(), "churn:") {
			t.Fatalf("round %d: child stopped before the kill: %s", i, out)
		}
		d2, err := New(store, mroot, pooltest.Pool)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", i, err)
		}
		pooltest.CheckChurn(t, d2)
		if t.Failed() {
			t.Fatalf("round %d: pool inconsistent after the kill", i)
		}
	}
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
	ms, _ := readMounts()
	for _, m := range ms {
		if strings.HasPrefix(m.Target, d.mountRoot+"/") {
			t.Errorf("mount left: %s", m.Target)
		}
	}
}
