package smf_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hull/internal/hulld"
	"hull/internal/node/nodetest"
)

// TestMetadataScripts boots real zones whose metadata has an
// operator-script, a user-script and user-data: svc:/smartdc/mdata:fetch
// and :execute run them at every boot as SmartOS's do, a failing or
// overlong user-script puts mdata:execute in maintenance, and a script
// removed from the metadata no longer runs.
func TestMetadataScripts(t *testing.T) {
	n := nodetest.New(t)
	ctx := context.Background()
	// hulld's metadata service, which the zones' scripts come from.
	md := hulld.StartMetadata(ctx, n, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(md.Close)
	// Each zone boots once its socket is served: hulld, which says at
	// the boot that it serves one, is not running here.
	create := func(payload map[string]any) string {
		payload["brand"], payload["image_uuid"], payload["autoboot"] = "joyent-minimal", nodetest.BusyboxUUID, false
		b, _ := json.Marshal(payload)
		uuid := nodetest.Create(t, n, string(b))
		md.Sync()
		if err := n.Start(ctx, uuid); err != nil {
			t.Fatal(err)
		}
		return uuid
	}
	state := func(uuid string) string {
		out, _ := nodetest.Hull(t, "", "svcs", "-z", uuid, "-H", "-o", "state", "smartdc/mdata:execute")
		return strings.TrimSpace(out)
	}
	waitState := func(uuid, want string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); state(uuid) != want; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				out, _ := nodetest.Hull(t, "", "svcs", "-z", uuid, "-xv")
				log, _ := os.ReadFile(filepath.Join(n.Zonepath(uuid), "root/var/svc/log/smartdc-mdata:execute.log"))
				t.Fatalf("mdata:execute is %q, want %q\n%s\n%s", state(uuid), want, out, log)
			}
		}
	}
	file := func(uuid, p string) string {
		b, _ := os.ReadFile(filepath.Join(n.Zonepath(uuid), "root", p))
		return string(b)
	}

	uuid := create(map[string]any{
		"customer_metadata": map[string]string{
			"user-script": "#!/bin/sh\necho \"user $(cat /var/db/mdata-user-data) after $(cat /tmp/op)\" >> /root/boots\n",
			"user-data":   "payload",
		},
		"internal_metadata": map[string]string{"operator-script": "#!/bin/sh\necho operator > /tmp/op\nexit 3\n"},
	})
	waitState(uuid, "online")
	if got := file(uuid, "root/boots"); got != "user payload after operator\n" {
		t.Fatalf("after the first boot: %q", got)
	}
	if out, _ := nodetest.Hull(t, "", "svcs", "-z", uuid, "-H", "-o", "state", "smartdc/mdata:fetch"); strings.TrimSpace(out) != "online" {
		t.Errorf("mdata:fetch: %q", out)
	}
	// At the next boot the scripts run again; the operator-script is
	// gone from the metadata and so from the zone.
	if _, err := n.Update(ctx, uuid, []byte(`{"remove_internal_metadata":["operator-script"]}`)); err != nil {
		t.Fatal(err)
	}
	if err := n.Reboot(ctx, uuid, false); err != nil {
		t.Fatal(err)
	}
	waitState(uuid, "online")
	if got := file(uuid, "root/boots"); got != "user payload after operator\nuser payload after \n" {
		t.Errorf("after a reboot: %q", got)
	}
	if _, err := os.Stat(filepath.Join(n.Zonepath(uuid), "root/var/svc/mdata-operator-script")); err == nil {
		t.Error("removed operator-script still in the zone")
	}
	n.Stop(ctx, uuid, true, 0)

	// A failing user-script, and one that outlives mdata_exec_timeout.
	bad := create(map[string]any{"customer_metadata": map[string]string{"user-script": "#!/bin/sh\nexit 1\n"}})
	slow := create(map[string]any{"mdata_exec_timeout": 1,
		"customer_metadata": map[string]string{"user-script": "#!/bin/sh\nsleep 1000\n"}})
	waitState(bad, "maintenance")
	waitState(slow, "maintenance")
	if log := file(slow, "var/svc/log/smartdc-mdata:execute.log"); !strings.Contains(log, "did not finish within mdata_exec_timeout (1s)") {
		t.Errorf("slow user-script log: %q", log)
	}
	if out, _ := nodetest.Hull(t, "", "zlogin", slow, "pidof sleep"); strings.TrimSpace(out) != "" {
		t.Errorf("the overlong user-script still runs: %q", out)
	}
	for _, u := range []string{bad, slow} {
		n.Stop(ctx, u, true, 0)
	}
}
