package journal

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRollbackRunsUndosInReverse(t *testing.T) {
	j, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	j.Handle("note", func(a []string) error { got = append(got, a[0]); return nil })
	op, err := j.Begin("create", "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a", "b", "c"} {
		if err := op.Undo("note", s); err != nil {
			t.Fatal(err)
		}
	}
	if err := op.Rollback(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"c", "b", "a"}) {
		t.Fatalf("undo order %v", got)
	}
	if err := op.Rollback(); err != nil {
		t.Fatal("second rollback:", err)
	}
}

func TestCommitDropsUndos(t *testing.T) {
	dir := t.TempDir()
	j, _ := Open(dir)
	called := false
	j.Handle("note", func([]string) error { called = true; return nil })
	op, _ := j.Begin("create", "x")
	op.Undo("note", "a")
	if err := op.Commit(); err != nil {
		t.Fatal(err)
	}
	op.Rollback()
	if called {
		t.Fatal("undo ran after commit")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("journal files left: %v", ents)
	}
}

func TestUnknownKindRefused(t *testing.T) {
	j, _ := Open(t.TempDir())
	op, _ := j.Begin("create", "x")
	defer op.Rollback()
	if err := op.Undo("nope"); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

func TestFailedUndoKeepsJournalForRetry(t *testing.T) {
	dir := t.TempDir()
	j, _ := Open(dir)
	fail := true
	j.Handle("flaky", func([]string) error {
		if fail {
			return errors.New("busy")
		}
		return nil
	})
	op, _ := j.Begin("create", "x")
	op.Undo("flaky")
	if err := op.Rollback(); err == nil {
		t.Fatal("want error")
	}
	fail = false
	recs, err := j.Recover(nil)
	if err != nil || len(recs) != 1 {
		t.Fatalf("recover: %v %v", recs, err)
	}
}

// TestRecoverAfterKill runs a child that records undos and dies with
// SIGKILL; recovery in this process must run them.
func TestRecoverAfterKill(t *testing.T) {
	if os.Getenv("JOURNAL_CHILD") != "" {
		j, _ := Open(os.Getenv("JOURNAL_CHILD"))
		j.Handle("note", func([]string) error { return nil })
		op, _ := j.Begin("create", "x")
		op.Undo("note", "first")
		op.Undo("note", "second")
		p, _ := os.FindProcess(os.Getpid())
		p.Kill()
		select {}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecoverAfterKill$")
	cmd.Env = append(os.Environ(), "JOURNAL_CHILD="+dir)
	_ = cmd.Run()
	j, _ := Open(dir)
	var got []string
	j.Handle("note", func(a []string) error { got = append(got, a[0]); return nil })
	recs, err := j.Recover(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || !slices.Equal(got, []string{"second", "first"}) {
		t.Fatalf("recovered %v, undid %v", recs, got)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Fatalf("left %v", m)
	}
}

func TestRecoverLeavesLiveOps(t *testing.T) {
	j, _ := Open(t.TempDir())
	j.Handle("note", func([]string) error { return nil })
	op, _ := j.Begin("create", "x")
	op.Undo("note", "a")
	recs, err := j.Recover(nil)
	if err != nil || len(recs) != 0 {
		t.Fatalf("recovered a live op: %v %v", recs, err)
	}
	op.Commit()
}

func TestForwardOpsAreFinished(t *testing.T) {
	dir := t.TempDir()
	j, _ := Open(dir)
	op, _ := j.Begin("delete", "vm1")
	op.Forward()
	op.f.Close() // simulate the owner dying: its lock goes with the fd
	var finished []string
	recs, err := j.Recover(func(r Record) error { finished = append(finished, r.Subject); return nil })
	if err != nil || len(recs) != 1 || !slices.Equal(finished, []string{"vm1"}) {
		t.Fatalf("%v %v %v", recs, finished, err)
	}
}

// TestRecoverRacesBegin: operations begun and committed while other
// processes start up and recover never have their files taken: a file
// is locked before recovery can see it.
func TestRecoverRacesBegin(t *testing.T) {
	dir := t.TempDir()
	j, _ := Open(dir)
	j.Handle("note", func([]string) error { return nil })
	stop := make(chan struct{})
	recovered := make(chan int, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				recovered <- n
				return
			default:
			}
			recs, _ := j.Recover(nil)
			n += len(recs)
		}
	}()
	for i := 0; i < 2000; i++ {
		op, err := j.Begin("update", "x", Step{Kind: "note", Args: []string{"a"}})
		if err != nil {
			t.Fatalf("begin %d: %v", i, err)
		}
		if err := op.Commit(); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	close(stop)
	if n := <-recovered; n != 0 {
		t.Errorf("recovery took %d live operations", n)
	}
}

// TestRecoverRemovesUnborn: a file left by an operation that died inside
// Begin (never locked under its own name) is removed; one being begun is
// not.
func TestRecoverRemovesUnborn(t *testing.T) {
	dir := t.TempDir()
	j, _ := Open(dir)
	old := time.Now().Add(-2 * time.Minute)
	dead := filepath.Join(dir, newPrefix+"1-create-x")
	os.WriteFile(dead, nil, 0o600)
	os.Chtimes(dead, old, old)
	// Locked: a Begin is still at it.
	live := filepath.Join(dir, newPrefix+"2-create-y")
	f, _ := os.Create(live)
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(live, old, old)
	// New: a Begin may not have locked it yet.
	fresh := filepath.Join(dir, newPrefix+"3-create-z")
	os.WriteFile(fresh, nil, 0o600)
	if _, err := j.Recover(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("unborn file left: %v", err)
	}
	for _, p := range []string{live, fresh} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("file of a Begin in progress removed: %v", err)
		}
	}
}

func TestInFlight(t *testing.T) {
	dir := t.TempDir()
	const u1, u2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	for _, name := range []string{
		"100-create-" + u1 + ".json",
		"300-create-snapshot-" + u2 + ".json",
		"200-update-" + u2 + ".json",
		newPrefix + "400-delete-" + u1, // not yet begun
		"notes.txt",
		"500-update-short.json",
	} {
		os.WriteFile(filepath.Join(dir, name), nil, 0o600)
	}
	got, err := InFlight(dir)
	if err != nil || len(got) != 2 || got[u1] != (Flight{"create", time.Unix(0, 100)}) || got[u2] != (Flight{"create-snapshot", time.Unix(0, 300)}) {
		t.Errorf("InFlight: %v %v", got, err)
	}
	if got, err := InFlight(filepath.Join(dir, "none")); err != nil || len(got) != 0 {
		t.Errorf("no journal: %v %v", got, err)
	}
	// A live operation is found by its own name.
	j, _ := Open(t.TempDir())
	op, err := j.Begin("reprovision", u1)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := InFlight(j.dir); got[u1].Op != "reprovision" || time.Since(got[u1].Started) > time.Minute {
		t.Errorf("live op: %v", got)
	}
	op.Commit()
	if got, _ := InFlight(j.dir); len(got) != 0 {
		t.Errorf("after commit: %v", got)
	}
}
