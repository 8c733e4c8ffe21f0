// Package testenv holds what hull's root tests share: the rule that a
// test needing root or a kernel feature fails in CI instead of skipping,
// and a static hull binary built once per test binary.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true), where a missing
// requirement is a failure.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require fails the test in CI, and skips it elsewhere, when ok is false.
func Require(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("requirement missing in CI: %s", what)
	}
	t.Skipf("skipped: %s", what)
}

// RequireRoot is Require for root.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "must run as root")
}

// RequireCommand is Require for a program on PATH.
func RequireCommand(t testing.TB, name string) {
	t.Helper()
	_, err := exec.LookPath(name)
	Require(t, err == nil, name+" is not installed")
}

// RepoRoot walks up from the working directory to go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	d, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		p := filepath.Dir(d)
		if p == d {
			t.Fatal("go.mod not found")
		}
		d = p
	}
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// HullBinary builds the static hull binary once per test binary and
// returns its path.
func HullBinary(t testing.TB) string {
	t.Helper()
	root := RepoRoot(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hull-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "hull")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/hull")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = &buildError{string(out), err}
		}
	})
	if buildErr != nil {
		t.Fatalf("build hull: %v", buildErr)
	}
	return buildPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }
