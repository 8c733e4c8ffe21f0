package contract

import (
	"os/exec"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		line string
		want procStat
		ok   bool
	}{
		{"plain", "42 (sleep) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10 18446744073709551615\n",
			procStat{ppid: 1, pgid: 42, sid: 42, start: 123456}, true},
		{"name with spaces and parens", "7 (a) b (c)) Z 3 5 6 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0\n",
			procStat{ppid: 3, pgid: 5, sid: 6, start: 99, zombie: true}, true},
		{"dead", "8 (x) X 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 7\n", procStat{start: 7, zombie: true}, true},
		{"short", "9 (x) S 1 2 3\n", procStat{}, false},
		{"no name", "garbage", procStat{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseStat([]byte(tt.line))
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseStat(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestPidClock: nothing to scan until a process is made (or the full
// scan period passes).
func TestPidClock(t *testing.T) {
	var c pidClock
	if scan, moved := c.due(); !scan || !moved {
		t.Fatalf("first look: scan %v moved %v, want both", scan, moved)
	}
	cmd := exec.Command("/bin/true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The reaper other tests of the package start collects every child
	// of the process, so this one may be gone before Wait asks for it.
	_ = cmd.Wait()
	if scan, moved := c.due(); !scan || !moved {
		t.Errorf("after a fork: scan %v moved %v, want both", scan, moved)
	}
	// Quiet: other processes on the machine may be made meanwhile, so
	// only a clock that stays put can be checked.
	for range 10 {
		last := c.last
		scan, moved := c.due()
		if c.last != last {
			continue
		}
		if scan || moved {
			t.Errorf("unmoved clock: scan %v moved %v", scan, moved)
		}
		// A scan that did not find the last pid's process (it was
		// still being made) asks for more scans, for a while.
		c.listed(false)
		if scan, moved := c.due(); c.last == last && (!scan || moved) {
			t.Errorf("last pid missing: scan %v moved %v, want a scan", scan, moved)
		}
		c.listed(true)
		if scan, _ := c.due(); c.last == last && scan {
			t.Error("last pid found: scanned again")
		}
		c.listed(false)
		c.missingUntil = time.Now().Add(-time.Millisecond)
		if scan, _ := c.due(); c.last == last && scan {
			t.Error("missing for longer than missingFor: still scanning")
		}
		return
	}
	t.Log("the machine never stood still for the clock; not checked")
}
