// Package imagetest gives tests hull's base images (busybox, and the
// minimal Debian lx image), each built once by its images/<name>/build.sh
// into a cache directory and rebuilt when the script changes.
package imagetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// BusyboxUUID is the busybox image's fixed uuid.
const BusyboxUUID = "dc0688f0-0f6b-4b10-9a1e-2d9fa4ad9d22"

// CacheDir is where the busybox image is kept between test runs;
// HULL_TEST_CACHE overrides the parent directory.
func CacheDir() string { return cacheDir("busybox") }

func cacheDir(name string) string {
	if d := os.Getenv("HULL_TEST_CACHE"); d != "" {
		return filepath.Join(d, name)
	}
	return filepath.Join("/var/cache/hull-test", name)
}

// built is one image's build, done once per test binary.
type built struct {
	once sync.Once
	err  error
}

var busybox, debian built

// Busybox returns the paths of the busybox image's manifest and file,
// building them when the cache lacks them or build.sh is newer. The
// script may need root (to apt-get install busybox-static) the first time.
func Busybox(t testing.TB) (manifestPath, filePath string) {
	t.Helper()
	return image(t, &busybox, "busybox")
}

// Debian returns the paths of the minimal Debian lx image's manifest and
// file, built like Busybox's. The first build runs debootstrap against
// the host's Debian mirror, which takes minutes.
func Debian(t testing.TB) (manifestPath, filePath string) {
	t.Helper()
	return image(t, &debian, "debian")
}

func image(t testing.TB, b *built, name string) (manifestPath, filePath string) {
	t.Helper()
	dir := cacheDir(name)
	manifestPath = filepath.Join(dir, name+".json")
	filePath = filepath.Join(dir, name+".tar.gz")
	b.once.Do(func() { b.err = build(name, dir, manifestPath, filePath) })
	if b.err != nil {
		t.Fatalf("build %s image: %v", name, b.err)
	}
	return manifestPath, filePath
}

func build(name, dir, manifestPath, filePath string) error {
	root, err := repoRoot()
	if err != nil {
		return fmt.Errorf("find repository root: %w", err)
	}
	script := filepath.Join(root, "images", name, "build.sh")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Test binaries of several packages run at once: one builds, the
	// others wait and use its result.
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", dir, err)
	}
	if fresh(script, manifestPath, filePath) {
		return nil
	}
	out, err := exec.Command("bash", script, dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", script, err, out)
	}
	return nil
}

// fresh reports whether both files exist and are newer than the script.
func fresh(script string, files ...string) bool {
	ss, err := os.Stat(script)
	if err != nil {
		return false
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil || st.ModTime().Before(ss.ModTime()) {
			return false
		}
	}
	return true
}

// repoRoot walks up from the working directory to go.mod.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", os.ErrNotExist
		}
		d = p
	}
}
