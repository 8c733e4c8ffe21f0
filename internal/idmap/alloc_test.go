package idmap

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets the parallel test run this binary as an allocating
// process: HULL_IDMAP_DIR and HULL_IDMAP_OWNER make it allocate one range,
// print it and exit.
func TestMain(m *testing.M) {
	if dir := os.Getenv("HULL_IDMAP_DIR"); dir != "" {
		a, err := Open(dir)
		if err == nil {
			var r Range
			if r, err = a.Allocate(os.Getenv("HULL_IDMAP_OWNER")); err == nil {
				fmt.Println(r.HostID)
				os.Exit(0)
			}
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestSlotRange(t *testing.T) {
	tests := []struct {
		slot int
		want uint32
	}{
		{0, 16777216},
		{1, 16777216 + 65536},
		{Slots - 1, 1<<31 - 65536},
	}
	for _, tt := range tests {
		r := SlotRange(tt.slot)
		if r.HostID != tt.want || r.Size != 65536 {
			t.Errorf("SlotRange(%d) = %v, want %d+65536", tt.slot, r, tt.want)
		}
		if uint64(r.HostID)+uint64(r.Size) > 1<<31 {
			t.Errorf("SlotRange(%d) = %v reaches 1<<31", tt.slot, r)
		}
	}
}

func TestAllocateFreeLookup(t *testing.T) {
	a, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		op, owner string
		slot      int // expected slot for alloc/lookup; -1 = absent
	}{
		{"alloc", "a", 0},
		{"alloc", "b", 1},
		{"alloc", "c", 2},
		{"alloc", "a", 0}, // idempotent
		{"lookup", "b", 1},
		{"lookup", "zz", -1},
		{"free", "b", 0},
		{"free", "b", 0}, // idempotent
		{"lookup", "b", -1},
		{"alloc", "d", 1}, // lowest free slot
		{"alloc", "b", 3},
		{"free", "nobody", 0},
	}
	for i, s := range steps {
		switch s.op {
		case "alloc":
			r, err := a.Allocate(s.owner)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if r != SlotRange(s.slot) {
				t.Fatalf("step %d: Allocate(%s) = %v, want slot %d", i, s.owner, r, s.slot)
			}
		case "lookup":
			r, ok, err := a.Lookup(s.owner)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if ok != (s.slot >= 0) || ok && r != SlotRange(s.slot) {
				t.Fatalf("step %d: Lookup(%s) = %v %v, want slot %d", i, s.owner, r, ok, s.slot)
			}
		case "free":
			if err := a.Free(s.owner); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
	}
	got, err := a.List()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Range{"a": SlotRange(0), "d": SlotRange(1), "c": SlotRange(2), "b": SlotRange(3)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("List() = %v, want %v", got, want)
	}
	// Reopening sees the same state.
	b, _ := Open(a.dir)
	if r, ok, _ := b.Lookup("c"); !ok || r != SlotRange(2) {
		t.Errorf("after reopen Lookup(c) = %v %v", r, ok)
	}
}

func TestBadOwner(t *testing.T) {
	a, _ := Open(t.TempDir())
	for _, o := range []string{"", ".", "..", "a/b", "x\x00", strings.Repeat("x", 300)} {
		if _, err := a.Allocate(o); err == nil {
			t.Errorf("Allocate(%q) succeeded", o)
		}
	}
}

// TestCrashStates covers what a crash can leave: an index entry written
// without its slot (Allocate was cut between the two writes), and a torn
// index entry.
func TestCrashStates(t *testing.T) {
	a, _ := Open(t.TempDir())
	write := func(p, s string) {
		if err := os.WriteFile(filepath.Join(a.dir, p), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("owners/x", "0\n")
	write("owners/torn", "")
	write("tmp/w-leftover", "junk")
	if _, ok, _ := a.Lookup("x"); ok {
		t.Fatal("dangling index entry counts as an allocation")
	}
	if r, _ := a.Allocate("y"); r != SlotRange(0) {
		t.Fatalf("y got %v, want slot 0 (x never got it)", r)
	}
	if r, _ := a.Allocate("x"); r != SlotRange(1) {
		t.Fatalf("x got %v, want slot 1", r)
	}
	if r, _ := a.Allocate("torn"); r != SlotRange(2) {
		t.Fatalf("torn got %v, want slot 2", r)
	}
	if ents, _ := os.ReadDir(filepath.Join(a.dir, "tmp")); len(ents) != 0 {
		t.Errorf("tmp not purged: %v", ents)
	}
	// A stale index naming another owner's slot: Free must not free it.
	write("owners/stale", "0\n")
	if err := a.Free("stale"); err != nil {
		t.Fatal(err)
	}
	if r, ok, _ := a.Lookup("y"); !ok || r != SlotRange(0) {
		t.Fatalf("Free of a stale entry freed y's slot")
	}
}

func TestParallelGoroutines(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	got := make([]Range, 20)
	errs := make([]error, 20)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := Open(dir) // one allocator each, as separate processes would
			if err == nil {
				got[i], err = a.Allocate(fmt.Sprintf("owner-%d", i%10)) // pairs race for one owner
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	seen := map[Range]int{}
	for i, r := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if j, dup := seen[r]; dup && j%10 != i%10 {
			t.Errorf("owners %d and %d share %v", j%10, i%10, r)
		}
		seen[r] = i
		if got[i%10] != r {
			t.Errorf("owner-%d got %v and %v", i%10, got[i%10], r)
		}
	}
	if len(seen) != 10 {
		t.Errorf("%d distinct ranges for 10 owners", len(seen))
	}
}

func TestParallelProcesses(t *testing.T) {
	dir := t.TempDir()
	const n = 20
	outs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "HULL_IDMAP_DIR="+dir, fmt.Sprintf("HULL_IDMAP_OWNER=proc-%d", i))
			out, err := cmd.Output()
			outs[i], errs[i] = strings.TrimSpace(string(out)), err
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range outs {
		if errs[i] != nil {
			t.Fatalf("process %d: %v", i, errs[i])
		}
		if seen[outs[i]] {
			t.Errorf("range %s handed out twice", outs[i])
		}
		seen[outs[i]] = true
	}
	a, _ := Open(dir)
	l, err := a.List()
	if err != nil || len(l) != n {
		t.Fatalf("List() = %d entries, %v", len(l), err)
	}
	for o, r := range l {
		if r.HostID >= Base+n*Size {
			t.Errorf("%s got %v, beyond the lowest %d slots", o, r, n)
		}
	}
}

func TestThousandOwners(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	a, _ := Open(t.TempDir())
	for i := 0; i < 1000; i++ {
		if _, err := a.Allocate(fmt.Sprintf("vm-%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for i := 0; i < 1000; i++ {
		r, ok, err := a.Lookup(fmt.Sprintf("vm-%04d", i))
		if err != nil || !ok || r != SlotRange(i) {
			t.Fatalf("Lookup(vm-%04d) = %v %v %v", i, r, ok, err)
		}
	}
	per := time.Since(start) / 1000
	t.Logf("Lookup with 1000 owners: %v each", per)
	if per > 2*time.Millisecond {
		t.Errorf("Lookup takes %v with 1000 owners", per)
	}
}

func BenchmarkLookup1000(b *testing.B) {
	a, _ := Open(b.TempDir())
	for i := 0; i < 1000; i++ {
		if _, err := a.Allocate(fmt.Sprintf("vm-%04d", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok, _ := a.Lookup("vm-0500"); !ok {
			b.Fatal("missing")
		}
	}
}
