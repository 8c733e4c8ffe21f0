package node

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"hull/internal/zone"
)

// TestLiveCapsRemoved: an update to 0 removes cpu_cap, max_lwps and
// max_physical_memory (SmartOS's update semantics), and the running zone
// loses the cap at once; setting them again caps it again.
func TestLiveCapsRemoved(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","cpu_cap":50,"max_lwps":100,"max_physical_memory":128,"image_uuid":"`+BusyboxUUID+`"}`)
	ctx := context.Background()
	if _, err := n.Update(ctx, uuid, []byte(`{"cpu_cap":0,"max_lwps":0,"max_physical_memory":0}`)); err != nil {
		t.Fatal(err)
	}
	v, _ := n.Get(uuid)
	if v.CPUCap != 0 || v.MaxLwps != 0 || v.MaxPhysicalMemory != 0 {
		t.Fatalf("caps still in the object: cpu_cap %d max_lwps %d mem %d", v.CPUCap, v.MaxLwps, v.MaxPhysicalMemory)
	}
	if got := cgroupValue(t, n, uuid, "cpu.cfs_quota_us", "cpu.max"); got != "-1" && !strings.HasPrefix(got, "max") {
		t.Errorf("cpu quota after removing cpu_cap: %s", got)
	}
	if got := cgroupValue(t, n, uuid, "pids.max"); got != "max" {
		t.Errorf("pids.max after removing max_lwps: %s", got)
	}
	if got, _ := strconv.ParseUint(cgroupValue(t, n, uuid, "memory.limit_in_bytes", "memory.max"), 10, 64); got != 0 && got < 1<<40 {
		t.Errorf("memory limit after removing max_physical_memory: %d", got)
	}
	if _, err := n.Update(ctx, uuid, []byte(`{"cpu_cap":30,"max_lwps":200,"max_physical_memory":96}`)); err != nil {
		t.Fatal(err)
	}
	if got := cgroupValue(t, n, uuid, "cpu.cfs_quota_us", "cpu.max"); !strings.HasPrefix(got, "30000") {
		t.Errorf("cpu quota after setting cpu_cap again: %s", got)
	}
	if got := cgroupValue(t, n, uuid, "pids.max"); got != "200" {
		t.Errorf("pids.max after setting max_lwps again: %s", got)
	}
	if got := cgroupValue(t, n, uuid, "memory.limit_in_bytes", "memory.max"); got != strconv.Itoa(96<<20) {
		t.Errorf("memory limit after setting it again: %s", got)
	}
}

// TestLockedMemoryAndShares: max_locked_memory is the zone's processes'
// RLIMIT_MEMLOCK and cpu_shares their CPU weight, both at boot and after
// a live update. (A host that denies hull CAP_SYS_RESOURCE caps the
// limit at its own hard limit, and a live update can then only lower it:
// the values here stay under the usual 8 MiB.)
func TestLockedMemoryAndShares(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","max_physical_memory":256,"max_locked_memory":6,"cpu_shares":200,"image_uuid":"`+BusyboxUUID+`"}`)
	// The zone's init: what it and the processes it starts live under.
	memlock := func() string {
		t.Helper()
		out := mustExec(t, n, uuid, "grep 'Max locked memory' /proc/1/limits")
		return strings.Join(strings.Fields(out)[3:5], " ")
	}
	want := func(mib uint64) string {
		b := mib << 20
		if h := zone.MemlockHard(); h > 0 {
			b = min(b, h)
		}
		s := strconv.FormatUint(b, 10)
		return s + " " + s
	}
	if got := memlock(); got != want(6) {
		t.Errorf("RLIMIT_MEMLOCK at boot: %s, want %s", got, want(6))
	}
	weight := func() string {
		return cgroupValue(t, n, uuid, "cpu.shares", "cpu.weight")
	}
	w200 := weight()
	if _, err := n.Update(context.Background(), uuid, []byte(`{"max_locked_memory":2,"cpu_shares":50}`)); err != nil {
		t.Fatal(err)
	}
	if got := memlock(); got != want(2) {
		t.Errorf("RLIMIT_MEMLOCK after update: %s, want %s", got, want(2))
	}
	w50 := weight()
	a, _ := strconv.Atoi(w200)
	b, _ := strconv.Atoi(w50)
	if a <= b || b == 0 {
		t.Errorf("cpu weight %s for cpu_shares 200, %s for 50", w200, w50)
	}
}
