package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"hull/internal/node"
)

// smfServices is how many site services the SMF measurement boots.
const smfServices = 20

// smfManifest is a site daemon that multi-user waits for; every service
// but each fourth depends on the one before it, so the restarter starts
// chains in parallel.
func smfManifest(k int) string {
	name := fmt.Sprintf("site/bench%02d", k)
	deps := `<dependent name="mu" grouping="optional_all" restart_on="none"><service_fmri value="svc:/milestone/multi-user"/></dependent>`
	if k%4 != 0 {
		deps += fmt.Sprintf(`<dependency name="prev" grouping="require_all" restart_on="none" type="service"><service_fmri value="svc:/site/bench%02d:default"/></dependency>`, k-1)
	}
	return `<?xml version="1.0"?>
<!DOCTYPE service_bundle SYSTEM "/usr/share/lib/xml/dtd/service_bundle.dtd.1">
<service_bundle type="manifest" name="` + name + `">
<service name="` + name + `" type="service" version="1">
<create_default_instance enabled="true"/>
<single_instance/>
` + deps + `
<exec_method type="method" name="start" exec="/bin/sh -c 'sleep 1000 &amp;'" timeout_seconds="10"/>
<exec_method type="method" name="stop" exec=":kill" timeout_seconds="5"/>
</service>
</service_bundle>
`
}

// idleWindow is how long the idle CPU of a zone's init is measured.
const idleWindow = 3 * time.Second

// measureSMF boots a real zone whose PID 1 is svc.startd with 20 site
// services, runs times: from vmadm start to startd's "is up" line on the
// console (multi-user reached, every service online), PID 1's RSS a
// second after, and then the CPU it uses while the zone idles.
func measureSMF(ctx context.Context, n *node.Node, runs int, out io.Writer) error {
	v, err := n.Create(ctx, []byte(`{"brand":"joyent-minimal","alias":"smf-bench","autoboot":false,"image_uuid":"`+BusyboxUUID+`"}`))
	if err != nil {
		return err
	}
	defer n.Delete(ctx, v.UUID)
	dir := filepath.Join(n.Zonepath(v.UUID), "root/var/svc/manifest/site")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for k := range smfServices {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("bench%02d.xml", k)), []byte(smfManifest(k)), 0o644); err != nil {
			return err
		}
	}
	var times []time.Duration
	var rss []int64
	var idle []float64 // percent of one CPU
	for range runs {
		if err := ctx.Err(); err != nil {
			return err
		}
		logFile := n.ConsoleLog(v.UUID)
		before, _ := os.ReadFile(logFile)
		start := time.Now()
		if err := n.Start(ctx, v.UUID); err != nil {
			return err
		}
		for {
			b, _ := os.ReadFile(logFile)
			if len(b) >= len(before) {
				b = b[len(before):] // this boot's lines
			}
			if bytes.Contains(b, []byte(" is up (")) {
				break
			}
			if time.Since(start) > 60*time.Second {
				return fmt.Errorf("smf bench: zone never reached multi-user")
			}
			time.Sleep(2 * time.Millisecond)
		}
		times = append(times, time.Since(start))
		time.Sleep(time.Second) // settled: boot's garbage returned
		if got, err := n.Get(v.UUID); err == nil && got.PID > 0 {
			rss = append(rss, vmRSS(got.PID))
			if a, ok := procCPU(got.PID); ok {
				time.Sleep(idleWindow)
				if b, ok := procCPU(got.PID); ok {
					idle = append(idle, 100*float64(b-a)/float64(idleWindow))
				}
			}
		}
		if err := n.Stop(ctx, v.UUID, false, 0); err != nil {
			return err
		}
	}
	slices.Sort(rss)
	fmt.Fprintf(out, "SMF: vmadm start → multi-user with %d services, real zone: median %s (min %s, max %s)\n",
		smfServices, ms(median(times)), ms(minOf(times)), ms(maxOf(times)))
	if len(rss) > 0 {
		m := float64(rss[len(rss)/2]) / 1024
		fmt.Fprintf(out, "SMF: svc.startd (PID 1) RSS, %d services online, 1 s after boot: %.1f MiB median (target ≤ 8 MiB): %s\n", smfServices, m, verdict(m <= 8))
	}
	if len(idle) > 0 {
		slices.Sort(idle)
		c := idle[len(idle)/2]
		fmt.Fprintf(out, "SMF: svc.startd (PID 1) CPU while the zone idles, %d services online, over %v: %.2f%% of a CPU median (target < 0.2%%): %s\n",
			smfServices, idleWindow, c, verdict(c < 0.2))
	}
	fmt.Fprintln(out)
	return nil
}

// procCPU is the CPU time a process's threads have used, to the
// nanosecond where the kernel keeps schedstat (clock ticks are 10 ms:
// too coarse for an idle process over a few seconds), else in ticks.
func procCPU(pid int) (time.Duration, bool) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		sum += time.Duration(ns)
	}
	if sum > 0 {
		return sum, true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	st := string(b)
	f := strings.Fields(st[strings.LastIndexByte(st, ')')+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.Atoi(f[11])
	k, err2 := strconv.Atoi(f[12])
	return time.Duration(u+k) * 10 * time.Millisecond, err1 == nil && err2 == nil
}
