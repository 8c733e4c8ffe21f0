package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"hull/internal/pool"
	"hull/internal/vm"
)

// snapNames lists the VM's snapshots array, checking on the way that it
// agrees with the pool and that no journal entry is left.
func snapNames(t *testing.T, n *Node, uuid string) []string {
	t.Helper()
	v, err := n.Get(uuid)
	if err != nil {
		t.Fatal(err)
	}
	var names, inPool []string
	for _, s := range v.Snapshots {
		if len(s.CreatedAt) != len("2006-01-02T15:04:05.000Z") || !strings.HasSuffix(s.CreatedAt, "Z") {
			t.Errorf("snapshot %s: created_at %q", s.Name, s.CreatedAt)
		}
		names = append(names, s.Name)
	}
	all, err := n.Pool.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		if s, ok := strings.CutPrefix(d.Name, dataset(uuid)+"@"+SnapPrefix); ok {
			inPool = append(inPool, s)
		}
	}
	a, b := append([]string(nil), names...), inPool
	sort.Strings(a)
	sort.Strings(b)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("snapshots array %v but pool has %v", names, inPool)
	}
	if ents, _ := os.ReadDir(filepath.Join(n.Root, "journal")); len(ents) > 0 {
		t.Errorf("journal entries left: %v", ents)
	}
	return names
}

func wantSnaps(t *testing.T, n *Node, uuid string, want ...string) {
	t.Helper()
	if got := snapNames(t, n, uuid); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("snapshots %v, want %v (newest first)", got, want)
	}
}

// writeRoot writes a file in the zone's root from the host (on disk the
// zone's root user is uid 0).
func writeRoot(t *testing.T, n *Node, uuid, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(n.Zonepath(uuid), "root", name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readRoot(t *testing.T, n *Node, uuid, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.Zonepath(uuid), "root", name))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

// TestSnapshotsOfRunningZone takes snapshots while the zone writes, rolls
// back (the zone is halted and booted again), and deletes.
func TestSnapshotsOfRunningZone(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	uuid := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`"}`)
	for i, s := range []string{"s1", "s2", "s3"} {
		mustExec(t, n, uuid, fmt.Sprintf("echo v%d > /data.txt", i+1))
		if err := n.CreateSnapshot(ctx, uuid, s); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(t, n, uuid, "echo v4 > /data.txt")
	wantSnaps(t, n, uuid, "s3", "s2", "s1")
	if err := n.CreateSnapshot(ctx, uuid, "s2"); err == nil || err.Error() != `snapshot with name "s2" already exists.` {
		t.Fatalf("duplicate: %v", err)
	}
	pid := mustGet(t, n, uuid).PID
	if err := n.RollbackSnapshot(ctx, uuid, "s2"); err != nil {
		t.Fatal(err)
	}
	v := mustGet(t, n, uuid)
	if v.State != "running" || v.PID == pid {
		t.Fatalf("after rollback of a running zone: state %s pid %d (was %d)", v.State, v.PID, pid)
	}
	if got := mustExec(t, n, uuid, "cat /data.txt"); got != "v2" {
		t.Fatalf("after rollback to s2: %q", got)
	}
	wantSnaps(t, n, uuid, "s2", "s1")
	want := fmt.Sprintf(`No snapshot named "s3" for %s`, uuid)
	if err := n.RollbackSnapshot(ctx, uuid, "s3"); err == nil || err.Error() != want {
		t.Fatalf("rollback to a destroyed snapshot: %v", err)
	}
	if err := n.DeleteSnapshot(ctx, uuid, "s1"); err != nil {
		t.Fatal(err)
	}
	wantSnaps(t, n, uuid, "s2")
	if err := n.DeleteSnapshot(ctx, uuid, "s1"); err == nil || !strings.Contains(err.Error(), `No snapshot named "s1"`) {
		t.Fatalf("delete twice: %v", err)
	}
	// A stopped zone stays stopped.
	if err := n.Stop(ctx, uuid, true, 0); err != nil {
		t.Fatal(err)
	}
	writeRoot(t, n, uuid, "data.txt", "stopped")
	if err := n.RollbackSnapshot(ctx, uuid, "s2"); err != nil {
		t.Fatal(err)
	}
	if s := state(t, n, uuid); s != "stopped" {
		t.Fatalf("stopped zone is %s after rollback", s)
	}
	if got := readRoot(t, n, uuid, "data.txt"); got != "v2\n" {
		t.Fatalf("stopped rollback: %q", got)
	}
	if err := n.Start(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	if got := mustExec(t, n, uuid, "cat /data.txt"); got != "v2" {
		t.Fatalf("booted after rollback: %q", got)
	}
}

func mustGet(t *testing.T, n *Node, uuid string) *vm.VM {
	t.Helper()
	v, err := n.Get(uuid)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSnapshotBadInput(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	uuid := create(t, n, `{"brand":"joyent-minimal","autoboot":false,"image_uuid":"`+BusyboxUUID+`"}`)
	for _, bad := range []string{"", "a b", "x@y", "../x", "a/b", "ü", strings.Repeat("a", 65)} {
		for name, op := range map[string]func(context.Context, string, string) error{
			"create": n.CreateSnapshot, "rollback": n.RollbackSnapshot, "delete": n.DeleteSnapshot,
		} {
			if err := op(ctx, uuid, bad); !errors.Is(err, ErrInvalidSnapName) {
				t.Errorf("%s %q: %v", name, bad, err)
			}
		}
	}
	for name, op := range map[string]func(context.Context, string, string) error{
		"rollback": n.RollbackSnapshot, "delete": n.DeleteSnapshot,
	} {
		want := fmt.Sprintf(`No snapshot named "nope" for %s`, uuid)
		if err := op(ctx, uuid, "nope"); err == nil || err.Error() != want {
			t.Errorf("%s of a missing snapshot: %v", name, err)
		}
	}
	missing := "0a1b2c3d-0000-4000-8000-00000000dead"
	if err := n.CreateSnapshot(ctx, missing, "x"); !errors.Is(err, ErrNoSuchVM) {
		t.Errorf("snapshot of a missing VM: %v", err)
	}
	wantSnaps(t, n, uuid)
	// Every character SmartOS allows, and its longest name when the
	// pool's names leave room for it.
	ok := []string{"A-z_0.9:%"}
	if len(SnapPrefix)+MaxSnapName <= pool.MaxSnapLen {
		ok = append(ok, strings.Repeat("b", MaxSnapName))
	}
	for _, s := range ok {
		if err := n.CreateSnapshot(ctx, uuid, s); err != nil {
			t.Errorf("create %q: %v", s, err)
		}
	}
}

// TestFiftySnapshots takes 50 snapshots of one zone, each of different
// content, rolls back to the 25th and deletes the rest.
func TestFiftySnapshots(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	uuid := create(t, n, `{"brand":"joyent-minimal","autoboot":false,"image_uuid":"`+BusyboxUUID+`"}`)
	var want []string
	for i := 1; i <= 50; i++ {
		writeRoot(t, n, uuid, "gen", fmt.Sprint(i))
		s := fmt.Sprintf("gen%02d", i)
		if err := n.CreateSnapshot(ctx, uuid, s); err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
		want = append([]string{s}, want...)
	}
	wantSnaps(t, n, uuid, want...)
	if err := n.RollbackSnapshot(ctx, uuid, "gen25"); err != nil {
		t.Fatal(err)
	}
	if got := readRoot(t, n, uuid, "gen"); got != "25" {
		t.Fatalf("after rollback to gen25: %q", got)
	}
	wantSnaps(t, n, uuid, want[25:]...)
	for _, s := range want[25:] {
		if err := n.DeleteSnapshot(ctx, uuid, s); err != nil {
			t.Fatal(err)
		}
	}
	wantSnaps(t, n, uuid)
	if got := readRoot(t, n, uuid, "gen"); got != "25" {
		t.Fatalf("after deleting every snapshot: %q", got)
	}
}

// TestKillDuringSnapshotOps kills vmadm at every step of create-snapshot,
// delete-snapshot and rollback-snapshot. After the next open the
// snapshots array agrees with the pool, no journal entry is left, the
// VM's data is that of before or after the operation (after, for a
// deletion or a rollback: the open finishes them), and the operation can
// be run (again) to its end.
func TestKillDuringSnapshotOps(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	uuid := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`"}`)
	run := func(fp string, args ...string) {
		t.Helper()
		if out, err := hull(t, n, []string{"HULL_FAILPOINT=" + fp}, "", append([]string{"vmadm"}, args...)...); err == nil || err.Error() != "signal: killed" {
			t.Fatalf("vmadm %v was not killed at %s: %v %s", args, fp, err, out)
		}
		n = reopen(t, n)
	}
	for _, fp := range []string{"create-snapshot/before", "create-snapshot/after-snapshot", "create-snapshot/after-save"} {
		run(fp, "create-snapshot", uuid, "a")
		wantSnaps(t, n, uuid)
	}
	for _, s := range []string{"a", "b"} {
		if err := n.CreateSnapshot(ctx, uuid, s); err != nil {
			t.Fatal(err)
		}
	}
	// An interrupted delete is finished by the next open.
	for _, fp := range []string{"delete-snapshot/before-destroy", "delete-snapshot/after-destroy"} {
		if err := n.CreateSnapshot(ctx, uuid, "doomed"); err != nil {
			t.Fatal(err)
		}
		run(fp, "delete-snapshot", uuid, "doomed")
		wantSnaps(t, n, uuid, "b", "a")
	}
	// Rollback of a running zone to "a" while "b" and "c" are newer.
	mustExec(t, n, uuid, "echo before > /data.txt")
	for _, fp := range []string{"rollback-snapshot/after-stop", "rollback-snapshot/before-destroy",
		"rollback-snapshot/after-destroy", "rollback-snapshot/before-rollback", "rollback-snapshot/after-rollback"} {
		if err := n.CreateSnapshot(ctx, uuid, "c"); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
		run(fp, "rollback-snapshot", uuid, "a")
		// The open after the crash finished the rollback.
		wantSnaps(t, n, uuid, "a")
		if got := readRoot(t, n, uuid, "data.txt"); !strings.Contains(got, "no such file") {
			t.Fatalf("after a crash at %s: data %q, want that of a", fp, got)
		}
		if s := state(t, n, uuid); s != "stopped" {
			t.Fatalf("after a crash at %s: zone %s, want it halted", fp, s)
		}
		if err := n.RollbackSnapshot(ctx, uuid, "a"); err != nil {
			t.Fatalf("rollback after a crash at %s: %v", fp, err)
		}
		wantSnaps(t, n, uuid, "a")
		if err := n.Start(ctx, uuid); err != nil && !errors.Is(err, ErrAlreadyRunning) {
			t.Fatal(err)
		}
		mustExec(t, n, uuid, "test ! -e /data.txt && echo before > /data.txt")
		for _, s := range []string{"b", "c"} {
			if err := n.CreateSnapshot(ctx, uuid, s); err != nil {
				t.Fatal(err)
			}
		}
	}
}
