package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"hull/internal/cgroup"
	"hull/internal/zone"
)

// cgroupValue reads a zone's cgroup file from the first hierarchy that
// has it.
func cgroupValue(t *testing.T, n *Node, uuid string, files ...string) string {
	t.Helper()
	for _, dir := range cgroup.Paths(n.Cgroups, zone.CgroupsPath(uuid)) {
		for _, f := range files {
			if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
				return strings.TrimSpace(string(b))
			}
		}
	}
	t.Fatalf("no cgroup file %v for %s", files, uuid)
	return ""
}

func TestForkBombStopsAtMaxLwps(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","max_lwps":60,"image_uuid":"`+BusyboxUUID+`"}`)
	// Start far more sleepers than allowed; fork must fail, not the host.
	out, _ := zexec(t, n, uuid, `i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done 2>&1 | head -1; echo done`)
	if !strings.Contains(out, "done") {
		t.Logf("output: %s", out)
	}
	cur, _ := strconv.Atoi(cgroupValue(t, n, uuid, "pids.current"))
	if cur > 60 {
		t.Fatalf("pids.current %d > max_lwps 60", cur)
	}
	if cur < 40 {
		t.Fatalf("pids.current %d: the bomb did not run", cur)
	}
	// Live update raises the cap at once.
	if _, err := n.Update(context.Background(), uuid, []byte(`{"max_lwps":500}`)); err != nil {
		t.Fatal(err)
	}
	if got := cgroupValue(t, n, uuid, "pids.max"); got != "500" {
		t.Fatalf("pids.max after update %s", got)
	}
	zexec(t, n, uuid, "kill -9 -1")
}

func TestMemoryCapAndLiveUpdate(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","max_physical_memory":64,"max_swap":256,"tmpfs":512,"image_uuid":"`+BusyboxUUID+`"}`)
	if got := cgroupValue(t, n, uuid, "memory.limit_in_bytes", "memory.max"); got != strconv.Itoa(64<<20) {
		t.Fatalf("memory limit %s", got)
	}
	// A hog: one 300 MiB buffer, far past the cap. The kernel kills the
	// hog inside the zone; the zone itself carries on.
	out, err := zexec(t, n, uuid, "dd if=/dev/zero of=/dev/null bs=300M count=1")
	if err == nil {
		t.Fatalf("a 300 MiB allocation succeeded under a 64 MiB cap: %s", out)
	}
	usage, _ := strconv.ParseInt(cgroupValue(t, n, uuid, "memory.max_usage_in_bytes", "memory.peak"), 10, 64)
	if usage > 64<<20 {
		t.Fatalf("memory peak %d MiB past max_physical_memory 64 MiB", usage>>20)
	}
	if s := state(t, n, uuid); s != "running" {
		t.Fatalf("zone %s after its hog was killed", s)
	}
	if _, err := n.Update(context.Background(), uuid, []byte(`{"max_physical_memory":128}`)); err != nil {
		t.Fatal(err)
	}
	if got := cgroupValue(t, n, uuid, "memory.limit_in_bytes", "memory.max"); got != strconv.Itoa(128<<20) {
		t.Fatalf("memory limit after update %s", got)
	}
	v, _ := n.Get(uuid)
	if v.MaxPhysicalMemory != 128 || v.MaxSwap < 128 {
		t.Fatalf("object after update: mem %d swap %d", v.MaxPhysicalMemory, v.MaxSwap)
	}
}

func TestCPUCapMeasured(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","cpu_cap":25,"image_uuid":"`+BusyboxUUID+`"}`)
	if got := cgroupValue(t, n, uuid, "cpu.cfs_quota_us", "cpu.max"); !strings.HasPrefix(got, "25000") {
		t.Fatalf("quota %s", got)
	}
	before := cpuUsage(t, n, uuid)
	go zexec(t, n, uuid, "timeout 2 sh -c 'while :; do :; done'; timeout 2 sh -c 'while :; do :; done' & wait")
	time.Sleep(2 * time.Second)
	used := cpuUsage(t, n, uuid) - before
	// 25% of one CPU over 2 s is 0.5 s; allow scheduling slack.
	if used > 700*time.Millisecond {
		t.Fatalf("used %v of CPU in 2s with cpu_cap 25", used)
	}
	if used < 200*time.Millisecond {
		t.Fatalf("used only %v: the load did not run", used)
	}
	if _, err := n.Update(context.Background(), uuid, []byte(`{"cpu_cap":150,"cpu_shares":200}`)); err != nil {
		t.Fatal(err)
	}
	if got := cgroupValue(t, n, uuid, "cpu.cfs_quota_us", "cpu.max"); !strings.HasPrefix(got, "150000") {
		t.Fatalf("quota after update %s", got)
	}
}

func cpuUsage(t *testing.T, n *Node, uuid string) time.Duration {
	t.Helper()
	ns, err := cgroup.CPUUsage(n.Cgroups, zone.CgroupsPath(uuid))
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(ns)
}

func TestTmpfsLiveResize(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","max_physical_memory":256,"tmpfs":32,"image_uuid":"`+BusyboxUUID+`"}`)
	if out := mustExec(t, n, uuid, "df -m /tmp | tail -1"); !strings.Contains(out, " 32 ") {
		t.Fatalf("tmpfs %s", out)
	}
	if _, err := n.Update(context.Background(), uuid, []byte(`{"tmpfs":64}`)); err != nil {
		t.Fatal(err)
	}
	if out := mustExec(t, n, uuid, "df -m /tmp | tail -1"); !strings.Contains(out, " 64 ") {
		t.Fatalf("tmpfs after update %s", out)
	}
}

// TestIsolation tries to reach the host from inside a zone; every attempt
// must fail.
func TestIsolation(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","hostname":"iso","image_uuid":"`+BusyboxUUID+`"}`)
	hostHostname, _ := os.Hostname()
	attempts := []struct{ name, script string }{
		{"mount", "mount -t tmpfs none /mnt"},
		{"mount proc elsewhere", "mkdir -p /p && mount -t proc proc /p"},
		{"mknod block device", "mknod /root/sda b 8 0"},
		{"mknod char device kmsg", "mknod /root/kmsg c 1 11 && cat /root/kmsg"},
		{"sysrq", "echo h > /proc/sysrq-trigger"},
		{"load a module", "insmod /lib/modules/x.ko || modprobe dummy; [ -e /sys/module/dummy ] || exit 1; exit 0"},
		{"see host processes", fmt.Sprintf("[ -d /proc/%d ] || exit 1; test $(ls -d /proc/[0-9]* | wc -l) -gt 50", os.Getpid())},
		{"write host cgroups", "for f in /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cgroup.procs; do [ -e $f ] && echo 1 > $f && exit 0; done; exit 1"},
		{"sysctl", "echo 1 > /proc/sys/kernel/panic"},
		{"raw disk", "head -c1 /dev/vda || head -c1 /dev/sda"},
	}
	for _, a := range attempts {
		if out, err := zexec(t, n, uuid, a.script); err == nil {
			t.Errorf("%s: succeeded inside a zone: %s", a.name, out)
		}
	}
	// Whatever the zone does to its hostname stays in its uts namespace.
	zexec(t, n, uuid, "hostname hacked")
	if h, _ := os.Hostname(); h != hostHostname {
		t.Fatalf("host hostname changed to %s", h)
	}
	// root in the zone is an unprivileged uid on the host
	r, _, _ := n.IDs.Lookup(uuid)
	mustExec(t, n, uuid, "sleep 300 >/dev/null 2>&1 &")
	found := false
	for _, pid := range cgroup.Procs(n.Cgroups, zone.CgroupsPath(uuid)) {
		st, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
		if err != nil {
			continue
		}
		uid := statUID(st)
		if uid == 0 {
			t.Errorf("zone process %d runs as host root", pid)
		}
		if uid == r.HostID {
			found = true
		}
	}
	if !found {
		t.Error("no zone process runs as the zone's mapped root")
	}
}

func statUID(st os.FileInfo) uint32 { return st.Sys().(*syscall.Stat_t).Uid }
