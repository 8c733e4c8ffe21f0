// Package testenv holds what hull's root tests share: the rule that a
// test needing root or a kernel feature fails in CI instead of skipping,
// and a static hull binary built once per test binary (and removed when
// its tests end).
package testenv

import (
	"fmt"
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
	inMain    bool
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Main runs a package's tests, then removes the binary HullBinary built.
// A package whose tests call HullBinary runs them through it:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	inMain = true
	code := m.Run()
	if buildPath != "" {
		os.RemoveAll(filepath.Dir(buildPath))
	}
	os.Exit(code)
}

// HullBinary builds the static hull binary once per test binary and
// returns its path. The package's TestMain must be Main, which removes
// the binary afterwards: every test binary would leave one behind.
func HullBinary(t testing.TB) string {
	t.Helper()
	if !inMain {
		t.Fatal("testenv.HullBinary needs the package's TestMain to call testenv.Main")
	}
	root := RepoRoot(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hull-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "hull")
		// As make build: the in-zone build first, which the host
		// binary embeds (cmd/hull/zonebin.go). It is renamed into place
		// so concurrent test runs never embed half a file.
		zoneBin := filepath.Join(root, "cmd", "hull", "zonebin", "hull")
		tmp := filepath.Join(filepath.Dir(zoneBin), fmt.Sprintf(".hull-%d", os.Getpid()))
		if buildErr = goBuild(root, "-tags", "zone", "-o", tmp, "./cmd/hull"); buildErr != nil {
			return
		}
		if buildErr = os.Rename(tmp, zoneBin); buildErr != nil {
			return
		}
		buildErr = goBuild(root, "-o", buildPath, "./cmd/hull")
	})
	if buildErr != nil {
		t.Fatalf("build hull: %v", buildErr)
	}
	return buildPath
}

// goBuild runs go build with args in dir, static as make build.
func goBuild(dir string, args ...string) error {
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return &buildError{string(out), err}
	}
	return nil
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }
