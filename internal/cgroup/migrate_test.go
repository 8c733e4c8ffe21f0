package cgroup

import (
	"os"
	"strings"
	"testing"

	"hull/internal/testenv"
)

func TestProcsFile(t *testing.T) {
	v1 := []hierarchy{
		{mountpoint: "/sys/fs/cgroup/cpu,cpuacct", keys: []string{"cpu", "cpuacct"}},
		{mountpoint: "/sys/fs/cgroup/pids", keys: []string{"pids"}},
	}
	hybrid := append([]hierarchy{{mountpoint: "/sys/fs/cgroup/unified", keys: []string{Unified}}}, v1...)
	v2 := []hierarchy{{mountpoint: "/sys/fs/cgroup", keys: []string{Unified}}}
	v1Self := "8:pids:/system.slice/hulld.service\n2:cpu,cpuacct:/\n1:name=systemd:/system.slice/hulld.service\n"
	for _, tc := range []struct {
		name, self string
		hs         []hierarchy
		want       string // "" for an error
	}{
		{"v1 first hierarchy", v1Self, v1, "/sys/fs/cgroup/cpu,cpuacct/cgroup.procs"},
		{"v1 controller not first in its line", "2:cpuacct,cpu:/a\n", v1, "/sys/fs/cgroup/cpu,cpuacct/a/cgroup.procs"},
		{"v1 only pids listed", "8:pids:/x\n", v1, "/sys/fs/cgroup/pids/x/cgroup.procs"},
		{"hybrid takes cgroup2", "0::/user.slice\n" + v1Self, hybrid, "/sys/fs/cgroup/unified/user.slice/cgroup.procs"},
		{"v2", "0::/system.slice/hulld.service\n", v2, "/sys/fs/cgroup/system.slice/hulld.service/cgroup.procs"},
		{"v2 root", "0::/\n", v2, "/sys/fs/cgroup/cgroup.procs"},
		{"v1 lines on a v2 host", v1Self, v2, ""},
		{"nothing", "", v1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := Membership(strings.NewReader(tc.self))
			if err != nil {
				t.Fatal(err)
			}
			got, err := procsFile(tc.hs, in)
			if tc.want == "" {
				if err == nil {
					t.Errorf("procsFile = %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("procsFile = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// The move that primes a boot leaves this process where it was.
func TestMoveSelfStays(t *testing.T) {
	testenv.RequireRoot(t)
	mode, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	p, err := ownProcs(mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("moving into %s", p)
	before, _ := os.ReadFile("/proc/self/cgroup")
	if err := moveSelf(p); err != nil {
		t.Fatalf("move into %s: %v", p, err)
	}
	if after, _ := os.ReadFile("/proc/self/cgroup"); string(after) != string(before) {
		t.Errorf("cgroups changed:\n%s\nthen:\n%s", before, after)
	}
}
