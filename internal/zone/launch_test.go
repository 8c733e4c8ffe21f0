package zone

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// fakeRuntime writes a stand-in for an OCI runtime named name: `run`
// copies the bundle's config.json (reading it twice when twice is set,
// as crun does) and writes the pid to the pid file it is given, or to a
// state file as runc keeps one. It tests how Launch hands the spec over,
// not a runtime.
func fakeRuntime(t *testing.T, name string, twice bool) *Runtime {
	t.Helper()
	dir := t.TempDir()
	script := `#!/bin/sh
while [ $# -gt 0 ]; do
	case "$1" in
	--root) root=$2; shift ;;
	--bundle) bundle=$2; shift ;;
	--pid-file) pidfile=$2; shift ;;
	*) id=$1 ;;
	esac
	shift
done
cat "$bundle/config.json" > "$bundle/seen" || exit 1
[ -s "$bundle/seen" ] || exit 1
`
	if twice {
		script += `cat "$bundle/config.json" > "$bundle/seen-again" || exit 1
`
	}
	script += `if [ -n "$pidfile" ]; then
	echo 4242 > "$pidfile"
else
	mkdir -p "$root/$id" && echo '{"id":"'$id'","init_process_pid":4242}' > "$root/$id/state.json"
fi
`
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Runtime{Binary: p, Root: filepath.Join(dir, "state")}
}

func devNull(t *testing.T) *os.File {
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestLaunchHandsSpecOver(t *testing.T) {
	for _, c := range []struct {
		name  string
		twice bool
	}{{"runc", false}, {"crun", true}} {
		t.Run(c.name, func(t *testing.T) {
			r := fakeRuntime(t, c.name, c.twice)
			bundle := filepath.Join(t.TempDir(), "b")
			in, out := devNull(t), devNull(t)
			l, err := r.Launch(context.Background(), "z1", bundle, in, out)
			if err != nil {
				t.Fatal(err)
			}
			// The caller closes its stdio once launched.
			in.Close()
			out.Close()
			time.Sleep(20 * time.Millisecond) // the runtime is starting meanwhile
			spec := []byte(`{"ociVersion":"1.0.2"}`)
			pid, err := l.Run(spec)
			if err != nil {
				t.Fatal(err)
			}
			if pid != 4242 {
				t.Errorf("pid %d", pid)
			}
			for _, f := range []string{"seen", "config.json"} {
				b, err := os.ReadFile(filepath.Join(bundle, f))
				if err != nil || string(b) != string(spec) {
					t.Errorf("%s: %q, %v", f, b, err)
				}
			}
			if st, err := os.Lstat(filepath.Join(bundle, "config.json")); err != nil || !st.Mode().IsRegular() {
				t.Errorf("config.json is not a regular file after the run: %v", err)
			}
			l.Abort() // after Run: nothing to do
		})
	}
}

func TestLaunchAbort(t *testing.T) {
	for _, name := range []string{"runc", "crun"} {
		t.Run(name, func(t *testing.T) {
			r := fakeRuntime(t, name, name == "crun")
			bundle := filepath.Join(t.TempDir(), "b")
			l, err := r.Launch(context.Background(), "z1", bundle, devNull(t), devNull(t))
			if err != nil {
				t.Fatal(err)
			}
			l.Abort()
			if _, err := os.Lstat(filepath.Join(bundle, "config.json")); !os.IsNotExist(err) {
				t.Errorf("config.json after abort: %v", err)
			}
			// The fake's shell may have opened "seen" before it was
			// killed; what matters is that no spec reached it.
			if b, err := os.ReadFile(filepath.Join(bundle, "seen")); err == nil && len(b) > 0 {
				t.Errorf("an aborted runtime read a spec: %q", b)
			}
		})
	}
}

// TestReleaseConfig: a runtime left waiting to open the FIFO by a node
// that died is let go, and the FIFO removed.
func TestReleaseConfig(t *testing.T) {
	bundle := t.TempDir()
	cfg := filepath.Join(bundle, "config.json")
	if err := exec.Command("mkfifo", cfg).Run(); err != nil {
		t.Fatal(err)
	}
	waiting := exec.Command("cat", cfg)
	if err := waiting.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // cat blocks opening the FIFO
	if err := ReleaseConfig(bundle); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- waiting.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		waiting.Process.Kill()
		t.Fatal("the waiting reader was not released")
	}
	if _, err := os.Lstat(cfg); !os.IsNotExist(err) {
		t.Errorf("FIFO left: %v", err)
	}
	// A regular config.json is left alone; no config.json is fine.
	os.WriteFile(cfg, []byte("{}"), 0o600)
	if err := ReleaseConfig(bundle); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg); err != nil {
		t.Errorf("regular config.json removed: %v", err)
	}
	os.Remove(cfg)
	if err := ReleaseConfig(bundle); err != nil {
		t.Errorf("no config.json: %v", err)
	}
}
