package zoneinit

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestScripts(t *testing.T) {
	dir := t.TempDir()
	files := []struct {
		name string
		mode os.FileMode
		dir  bool
	}{
		{"S20b", 0o755, false},
		{"S10a", 0o700, false},
		{"S15noexec", 0o644, false},
		{"S", 0o755, false}, // prefix only
		{"S30dir", 0o755, true},
		{"K10x", 0o755, false},
		{"README", 0o755, false},
		{"S05link", 0, false}, // symlink to an executable
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		var err error
		switch {
		case f.dir:
			err = os.Mkdir(p, f.mode)
		case f.mode == 0:
			err = os.Symlink("S20b", p)
		default:
			err = os.WriteFile(p, []byte("#!/bin/sh\n"), f.mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		dir, prefix string
		want        []string
	}{
		{dir, "S", []string{"S05link", "S10a", "S20b"}},
		{dir, "K", []string{"K10x"}},
		{filepath.Join(dir, "missing"), "S", nil},
	}
	for _, tt := range tests {
		got, err := Scripts(tt.dir, tt.prefix)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, g := range got {
			names = append(names, filepath.Base(g))
		}
		if !reflect.DeepEqual(names, tt.want) {
			t.Errorf("Scripts(%s, %s) = %v, want %v", tt.dir, tt.prefix, names, tt.want)
		}
	}
}

func TestGrace(t *testing.T) {
	tests := map[string]time.Duration{
		"":     DefaultGrace,
		"3":    3 * time.Second,
		"0.5":  500 * time.Millisecond,
		"0":    0,
		"-1":   DefaultGrace,
		"soon": DefaultGrace,
	}
	for in, want := range tests {
		if got := Grace(in); got != want {
			t.Errorf("Grace(%q) = %v, want %v", in, got, want)
		}
	}
}

// fakeProc is a child in the fake process table: it exits termAfter
// after SIGTERM (never if ignoresTerm), and at once on SIGKILL.
type fakeProc struct {
	termAfter   time.Duration
	ignoresTerm bool
	diesAt      time.Time
}

type fakeSystem struct {
	now     time.Time
	procs   []*fakeProc
	signals []syscall.Signal
}

func (f *fakeSystem) Now() time.Time        { return f.now }
func (f *fakeSystem) Sleep(d time.Duration) { f.now = f.now.Add(d) }

func (f *fakeSystem) SignalAll(sig syscall.Signal) error {
	f.signals = append(f.signals, sig)
	for _, p := range f.procs {
		switch {
		case sig == syscall.SIGKILL:
			p.diesAt = f.now
		case sig == syscall.SIGTERM && !p.ignoresTerm:
			p.diesAt = f.now.Add(p.termAfter)
		}
	}
	return nil
}

func (f *fakeSystem) Reap() bool {
	alive := f.procs[:0]
	for _, p := range f.procs {
		if p.diesAt.IsZero() || f.now.Before(p.diesAt) {
			alive = append(alive, p)
		}
	}
	f.procs = alive
	return len(f.procs) > 0
}

func TestTerminate(t *testing.T) {
	tests := []struct {
		name    string
		procs   []*fakeProc
		grace   time.Duration
		signals []syscall.Signal
		killed  bool
		took    time.Duration // upper bound on fake time spent
	}{
		{"no children", nil, 10 * time.Second, []syscall.Signal{syscall.SIGTERM}, false, 0},
		{"polite", []*fakeProc{{termAfter: time.Second}, {termAfter: 100 * time.Millisecond}}, 10 * time.Second,
			[]syscall.Signal{syscall.SIGTERM}, false, time.Second + pollInterval},
		{"stubborn", []*fakeProc{{termAfter: time.Second}, {ignoresTerm: true}}, 2 * time.Second,
			[]syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}, true, 2*time.Second + pollInterval},
		{"no grace", []*fakeProc{{termAfter: time.Second}}, 0,
			[]syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}, true, pollInterval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Unix(1000, 0)
			f := &fakeSystem{now: start, procs: tt.procs}
			killed := Terminate(f, f, tt.grace)
			if killed != tt.killed || !reflect.DeepEqual(f.signals, tt.signals) {
				t.Errorf("killed %v, signals %v; want %v, %v", killed, f.signals, tt.killed, tt.signals)
			}
			if len(f.procs) != 0 {
				t.Errorf("%d processes left", len(f.procs))
			}
			if took := f.now.Sub(start); took > tt.took {
				t.Errorf("took %v, want at most %v", took, tt.took)
			}
		})
	}
}

func TestMainNotPID1(t *testing.T) {
	if code := Main(nil); code != 2 {
		t.Errorf("Main as pid %d = %d, want 2", os.Getpid(), code)
	}
}

// TestRunner runs scripts through the runner outside a zone.
func TestRunner(t *testing.T) {
	dir := t.TempDir()
	scripts := map[string]string{
		"ok":    "#!/bin/sh\n[ \"$1\" = start ] && exit 0\nexit 9\n",
		"fail":  "#!/bin/sh\nexit 3\n",
		"slow":  "#!/bin/sh\nsleep 30 &\nsleep 30\n",
		"nosh":  "no interpreter line\n",
		"crash": "#!/bin/sh\nkill -SEGV $$\n",
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := newRunner()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
				r.Reap()
			}
		}
	}()
	tests := []struct {
		name, want string
	}{
		{"ok", "exit 0"},
		{"fail", "exit 3"},
		{"slow", "timed out after 300ms, killed"},
		{"nosh", "exec format error"},
		{"crash", "killed by signal 11"},
		{"missing", "no such file or directory"},
	}
	for _, tt := range tests {
		got := r.Run(filepath.Join(dir, tt.name), "start", 300*time.Millisecond)
		if !strings.HasPrefix(got, tt.want) {
			t.Errorf("Run(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
	// The slow script's background sleep was in its group: killed too.
	time.Sleep(50 * time.Millisecond)
	if r.Reap() {
		t.Error("children left after the runs")
	}
}
