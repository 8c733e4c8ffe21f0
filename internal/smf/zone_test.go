package smf_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hull/internal/node/nodetest"
)

const sleeperManifest = `<?xml version="1.0"?>
<!DOCTYPE service_bundle SYSTEM "/usr/share/lib/xml/dtd/service_bundle.dtd.1">
<service_bundle type="manifest" name="sleeper">
  <service name="site/sleeper" type="service" version="1">
    <create_default_instance enabled="true"/>
    <dependency name="fs" grouping="require_all" restart_on="none" type="service">
      <service_fmri value="svc:/system/filesystem/local"/>
    </dependency>
    <exec_method type="method" name="start" exec="/bin/sh -c 'sleep 1000 &amp;'" timeout_seconds="10"/>
    <exec_method type="method" name="stop" exec=":kill" timeout_seconds="10"/>
  </service>
</service_bundle>
`

// TestServicesInAZone boots a real zone whose PID 1 is the restarter,
// with a site manifest in /var/svc/manifest: the service comes online,
// svcs and svcadm work through zlogin and from the host with -z, a killed
// daemon is restarted, and the zone stops cleanly.
func TestServicesInAZone(t *testing.T) {
	n := nodetest.New(t)
	uuid := nodetest.Create(t, n, `{"brand":"joyent-minimal","alias":"smf","autoboot":false,"image_uuid":"`+nodetest.BusyboxUUID+`"}`)
	dir := filepath.Join(n.Zonepath(uuid), "root/var/svc/manifest/site")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sleeper.xml"), []byte(sleeperManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := n.Start(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				out, _ := nodetest.Hull(t, "", "zlogin", uuid, "/.hull/hull svcs -a")
				t.Fatalf("%s never happened; svcs -a:\n%s", what, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	state := func() string {
		out, _ := nodetest.Hull(t, "", "svcs", "-z", uuid, "-H", "-o", "state", "site/sleeper")
		return strings.TrimSpace(out)
	}
	waitFor("sleeper online", func() bool { return state() == "online" })
	// The daemon dies: the restarter starts it again.
	if out, err := nodetest.Hull(t, "", "zlogin", uuid, "killall sleep"); err != nil {
		t.Fatalf("killall: %v %s", err, out)
	}
	waitFor("sleeper restarted", func() bool {
		out, _ := nodetest.Hull(t, "", "zlogin", uuid, "pidof sleep")
		return strings.TrimSpace(out) != "" && state() == "online"
	})
	if out, err := nodetest.Hull(t, "", "svcadm", "-z", uuid, "disable", "-s", "site/sleeper"); err != nil {
		t.Fatalf("svcadm disable: %v %s", err, out)
	}
	if s := state(); s != "disabled" {
		t.Fatalf("after disable: %q", s)
	}
	start := time.Now()
	if err := n.Stop(ctx, uuid, false, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("clean stop took %v", d)
	}
}
