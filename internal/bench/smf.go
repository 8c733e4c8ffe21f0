package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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

// measureSMF boots a real zone whose PID 1 is svc.startd with 20 site
// services, runs times: from vmadm start to startd's "is up" line on the
// console (multi-user reached, every service online), and PID 1's RSS
// a second after.
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
	for range runs {
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
		}
		if err := n.Stop(ctx, v.UUID, false, 30*time.Second); err != nil {
			return err
		}
	}
	slices.Sort(rss)
	fmt.Fprintf(out, "SMF: vmadm start → multi-user with %d services, real zone: median %s (min %s, max %s)\n",
		smfServices, ms(median(times)), ms(minOf(times)), ms(maxOf(times)))
	if len(rss) > 0 {
		m := float64(rss[len(rss)/2]) / 1024
		fmt.Fprintf(out, "SMF: svc.startd (PID 1) RSS, %d services online, 1 s after boot: %.1f MiB median (target ≤ 8 MiB): %s\n\n", smfServices, m, verdict(m <= 8))
	}
	return nil
}
