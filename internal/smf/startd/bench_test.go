package startd

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBoot20 boots PID 1 with 20 daemons that multi-user waits for
// and reports the median time to "up" and PID 1's RSS.
func BenchmarkBoot20(b *testing.B) {
	t := &testing.T{}
	_ = t
	ms := map[string]string{}
	for k := 0; k < 20; k++ {
		name := fmt.Sprintf("bench/s%02d", k)
		deps := `<dependent name="mu" grouping="optional_all" restart_on="none"><service_fmri value="svc:/milestone/multi-user"/></dependent>` + "\n"
		if k > 0 && k%4 != 0 {
			deps += dep("prev", "require_all", "none", fmt.Sprintf("svc:/bench/s%02d:default", k-1))
		}
		ms[strings.ReplaceAll(name, "/", "-")] = manifestXML(name, "sleep 1000 &amp;", ":kill", "contract", deps)
	}
	var times []time.Duration
	var rss string
	for i := 0; i < b.N; i++ {
		tt := &testing.T{}
		start := time.Now()
		z := startZoneB(b, tt, ms)
		z.waitLine("svc.startd: zone testzone is up")
		times = append(times, time.Since(start))
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", z.cmd.Process.Pid))
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				rss = strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
			}
		}
		z.cmd.Process.Signal(syscall.SIGTERM)
		z.Drain()
		z.cmd.Wait()
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Milliseconds()), "ms-to-multi-user(median)")
	b.Logf("boot to multi-user with 20 services: median %v over %d; PID 1 (this test binary, not the in-zone build: hull bench measures that) RSS %s", times[len(times)/2], len(times), rss)
}
