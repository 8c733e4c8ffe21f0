// The in-zone end of the metadata service, in real zones: the zone spec
// mounts the zonecontrol directory and the mdata tools (docs/metadata.md).

package hulld

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"hull/internal/node/nodetest"
)

func TestMdataInZones(t *testing.T) {
	n := nodetest.New(t)
	ctx := context.Background()
	md := StartMetadata(ctx, n, quiet)
	defer func() { md.Close() }()
	zlogin := func(uuid string, args ...string) (string, int) {
		t.Helper()
		out, err := nodetest.Hull(t, "", append([]string{"zlogin", uuid}, args...)...)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out, ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out, 0
	}
	for brand, tc := range map[string]struct{ payload, sbin string }{
		"joyent": {`{"brand":"joyent","alias":"mj","hostname":"mj","image_uuid":"` + nodetest.BusyboxUUID + `"}`, "/usr/sbin"},
		"lx":     {`{"brand":"lx","alias":"ml","hostname":"ml","kernel_version":"6.1.0","image_uuid":"` + nodetest.BusyboxUUID + `"}`, "/native/usr/sbin"},
		// A sparse zone's /usr is the host's: the tools are links laid
		// over it.
		"sparse": {`{"brand":"sparse","alias":"ms","hostname":"ms"}`, "/usr/sbin"},
	} {
		tool := func(name string, args ...string) []string {
			return append([]string{tc.sbin + "/" + name}, args...)
		}
		t.Run(brand, func(t *testing.T) {
			uuid := nodetest.Create(t, n, tc.payload)
			defer n.Delete(ctx, uuid)
			if out, code := zlogin(uuid, tool("mdata-get", "sdc:uuid")...); out != uuid+"\n" || code != 0 {
				t.Fatalf("mdata-get sdc:uuid: %q exit %d", out, code)
			}
			if out, code := zlogin(uuid, tool("mdata-get", "nope")...); out != "No metadata for 'nope'\n" || code != 1 {
				t.Errorf("mdata-get nope: %q exit %d", out, code)
			}
			if out, code := zlogin(uuid, tool("mdata-put", "color", "blue")...); code != 0 {
				t.Fatalf("mdata-put: %q exit %d", out, code)
			}
			if v, _ := n.Get(uuid); v.CustomerMetadata["color"] != "blue" {
				t.Errorf("customer_metadata after mdata-put: %v", v.CustomerMetadata)
			}
			if out, code := zlogin(uuid, tool("mdata-put", "sdc:alias", "x")...); code != 2 || !strings.Contains(out, `Cannot update the "sdc" Namespace.`) {
				t.Errorf("mdata-put sdc:alias: %q exit %d", out, code)
			}
			// hulld restarts: the new socket appears in the running zone.
			md.Close()
			md = StartMetadata(ctx, n, quiet)
			if out, code := zlogin(uuid, tool("mdata-get", "color")...); out != "blue\n" || code != 0 {
				t.Errorf("mdata-get after restart: %q exit %d", out, code)
			}
			if out, code := zlogin(uuid, tool("mdata-list")...); !strings.Contains(out, "color\n") || code != 0 {
				t.Errorf("mdata-list: %q exit %d", out, code)
			}
		})
	}
}
