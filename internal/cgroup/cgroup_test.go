package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/testenv"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		root, unified int64
		want          Mode
		err           bool
	}{
		{unix.CGROUP2_SUPER_MAGIC, 0, V2, false},
		{unix.TMPFS_MAGIC, unix.CGROUP2_SUPER_MAGIC, Hybrid, false},
		{unix.TMPFS_MAGIC, 0, V1, false},
		{unix.TMPFS_MAGIC, unix.TMPFS_MAGIC, V1, false},
		{unix.EXT4_SUPER_MAGIC, 0, 0, true},
	}
	for _, tt := range tests {
		got, err := classify(tt.root, tt.unified)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("classify(%#x, %#x) = %v, %v; want %v, err %v", tt.root, tt.unified, got, err, tt.want, tt.err)
		}
	}
}

const hybridMountinfo = `22 1 8:1 / / rw,relatime - ext4 /dev/vda rw
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 30 0:34 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
41 22 0:34 / /mnt/blkio\040copy rw,relatime - cgroup cgroup rw,blkio
`

func TestParseMountinfo(t *testing.T) {
	hs, err := parseMountinfo(strings.NewReader(hybridMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	want := []hierarchy{
		{"/sys/fs/cgroup/cpu,cpuacct", []string{"cpu", "cpuacct"}},
		{"/sys/fs/cgroup/cpuset", []string{"cpuset"}},
		{"/sys/fs/cgroup/memory", []string{"memory"}},
		{"/sys/fs/cgroup/blkio", []string{"blkio"}},
		{"/sys/fs/cgroup/pids", []string{"pids"}},
		{"/sys/fs/cgroup/systemd", []string{"name=systemd"}},
		{"/sys/fs/cgroup/unified", []string{Unified}},
	}
	if !reflect.DeepEqual(hs, want) {
		t.Errorf("parseMountinfo =\n%v\nwant\n%v", hs, want)
	}
}

func TestSelectFor(t *testing.T) {
	hs, _ := parseMountinfo(strings.NewReader(hybridMountinfo))
	v2, _ := parseMountinfo(strings.NewReader("30 22 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"))
	tests := []struct {
		mode Mode
		in   []hierarchy
		want int
	}{
		{V1, hs, 6},
		{Hybrid, hs, 7},
		{V2, hs, 1},
		{V2, v2, 1},
		{V1, v2, 0},
	}
	for _, tt := range tests {
		if got := selectFor(tt.mode, tt.in); len(got) != tt.want {
			t.Errorf("selectFor(%v) = %d hierarchies, want %d", tt.mode, len(got), tt.want)
		}
	}
	if got := v2[0].join("/hull/abc"); got != "/sys/fs/cgroup/hull/abc" {
		t.Errorf("join = %s", got)
	}
	if got := v2[0].join("hull/../../x"); got != "/sys/fs/cgroup/x" {
		t.Errorf("join escapes the hierarchy: %s", got)
	}
}

func TestUnescape(t *testing.T) {
	tests := map[string]string{
		`/a\040b`:  "/a b",
		`/plain`:   "/plain",
		`/tab\011`: "/tab\t",
		`/bad\04`:  `/bad\04`,
		`/x\\`:     `/x\\`,
	}
	for in, want := range tests {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStatFieldAndClamp(t *testing.T) {
	if v, err := statField("usage_usec 1234\nuser_usec 1000\n", "usage_usec"); err != nil || v != 1234 {
		t.Errorf("statField = %d, %v", v, err)
	}
	if _, err := statField("user_usec 1", "usage_usec"); err == nil {
		t.Error("statField found a missing key")
	}
	tests := []struct{ v, lo, hi, want uint16 }{
		{100, 10, 1000, 100},
		{1, 10, 1000, 10},
		{10000, 1, 1000, 1000},
		{10000, 1, 10000, 10000},
	}
	for _, tt := range tests {
		if got := clamp(tt.v, tt.lo, tt.hi); got != tt.want {
			t.Errorf("clamp(%d, %d, %d) = %d", tt.v, tt.lo, tt.hi, got)
		}
	}
	if err := Remove(V2, "/"); err == nil {
		t.Error("Remove of a hierarchy root accepted")
	}
	if err := Remove(V2, "hull/.."); err == nil {
		t.Error("Remove of a hierarchy root accepted")
	}
}

// expectedMode reads the host's mode from mountinfo, independently of
// Detect's statfs.
func expectedMode(t *testing.T) Mode {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mode := V1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || !strings.Contains(sc.Text(), " - cgroup2 ") {
			continue
		}
		switch fields[4] {
		case Root:
			return V2
		case Root + "/unified":
			mode = Hybrid
		}
	}
	return mode
}

func TestDetect(t *testing.T) {
	mode, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	if want := expectedMode(t); mode != want {
		t.Errorf("Detect() = %v, mountinfo says %v", mode, want)
	}
	t.Logf("host cgroup mode: %v", mode)
}

func TestPaths(t *testing.T) {
	mode, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	paths := Paths(mode, "/hull/abc")
	want := []string{"cpu", "memory", "pids"}
	if mode == V2 {
		want = []string{Unified}
	} else {
		want = append(want, "blkio", "cpuacct")
	}
	for _, k := range want {
		d, ok := paths[k]
		if !ok {
			t.Errorf("Paths has no %q: %v", k, paths)
			continue
		}
		if !strings.HasPrefix(d, Root+"/") || !strings.HasSuffix(d, "/hull/abc") {
			t.Errorf("Paths[%q] = %s", k, d)
		}
	}
	t.Logf("%v: %v", mode, paths)
}

func TestLifecycle(t *testing.T) {
	testenv.RequireRoot(t)
	mode, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	rel := fmt.Sprintf("/hull/test-xyz-%d", os.Getpid())
	for _, d := range dirs(mode, "/hull") {
		if _, err := os.Stat(d); os.IsNotExist(err) {
			// Leave no /hull behind that the test made.
			t.Cleanup(func() { _ = unix.Rmdir(d) })
		}
	}
	t.Cleanup(func() { _ = Remove(mode, rel) })
	if Exists(mode, rel) {
		t.Fatalf("%s exists before the test", rel)
	}
	paths := Paths(mode, rel)
	for _, d := range dirs(mode, rel) {
		if err := os.MkdirAll(filepath.Join(d, "child"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if !Exists(mode, rel) {
		t.Fatal("Exists = false after mkdir")
	}
	// A limit, written by hand as the runtime would.
	if mode == V2 {
		mustWrite(t, filepath.Join(paths["memory"], "memory.max"), "268435456")
	} else {
		mustWrite(t, filepath.Join(paths["memory"], "memory.limit_in_bytes"), "268435456")
	}
	mustWrite(t, filepath.Join(paths["pids"], "pids.max"), "100")

	// A process inside: the readers see it, and Remove refuses to pull
	// the cgroup from under it.
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
	for k, d := range paths {
		if k == "cpuset" { // empty cpuset.cpus: no tasks allowed, and not needed
			continue
		}
		mustWrite(t, filepath.Join(d, "cgroup.procs"), strconv.Itoa(sleep.Process.Pid))
	}
	if got := Procs(mode, rel); !reflect.DeepEqual(got, []int{sleep.Process.Pid}) {
		t.Errorf("Procs = %v, want [%d]", got, sleep.Process.Pid)
	}
	if n, err := PidsCurrent(mode, rel); err != nil || n != 1 {
		t.Errorf("PidsCurrent = %d, %v", n, err)
	}
	if n, err := MemoryUsage(mode, rel); err != nil || n == 0 {
		t.Errorf("MemoryUsage = %d, %v", n, err)
	}
	if _, err := CPUUsage(mode, rel); err != nil {
		t.Errorf("CPUUsage: %v", err)
	}

	applied, err := SetIOWeight(mode, rel, 500)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("io weight applied: %v", applied)
	if applied {
		if _, v, _ := read(mode, rel, "io.weight", "io.bfq.weight", "blkio.bfq.weight", "blkio.weight"); !strings.Contains(v, "500") {
			t.Errorf("io weight reads %q after setting 500", v)
		}
		if _, err := SetIOWeight(mode, rel, 10000); err != nil {
			t.Errorf("weight 10000 (clamped where needed): %v", err)
		}
	}
	if _, err := SetIOWeight(mode, "/hull/no-such-zone", 100); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SetIOWeight on a missing cgroup: %v", err)
	}

	start := time.Now()
	if err := Remove(mode, rel); err == nil {
		t.Error("Remove succeeded with a process inside")
	}
	if time.Since(start) > 5*time.Second {
		t.Error("Remove waited too long on a busy cgroup")
	}
	_ = sleep.Process.Kill()
	_ = sleep.Wait()
	if err := Remove(mode, rel); err != nil {
		t.Fatal(err)
	}
	if Exists(mode, rel) {
		t.Fatalf("%s still exists after Remove", rel)
	}
	for _, d := range dirs(mode, rel) {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left behind", d)
		}
	}
	if err := Remove(mode, rel); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func mustWrite(t *testing.T, path, v string) {
	t.Helper()
	if err := write(path, v); err != nil {
		t.Fatal(err)
	}
}
