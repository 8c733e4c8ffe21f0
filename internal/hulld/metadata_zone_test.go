// The in-zone end of the metadata service, in real zones: the zone spec
// mounts the zonecontrol directory and the mdata tools (docs/metadata.md).

package hulld

import (
	"context"
	"errors"
	"fmt"
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
	zlogin := func(args ...string) (string, int) {
		t.Helper()
		out, err := nodetest.Hull(t, "", append([]string{"zlogin"}, args...)...)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out, ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out, 0
	}
	// asUser runs a command as nobody: with busybox's su in the busybox
	// image, with the host's setpriv in a sparse zone.
	const bbSu, hostSetpriv = "su -s /bin/sh nobody -c '%s'", "setpriv --reuid 65534 --regid 65534 --clear-groups %s"
	for brand, tc := range map[string]struct{ payload, sbin, sock, asUser string }{
		"joyent": {`{"brand":"joyent","alias":"mj","hostname":"mj","image_uuid":"` + nodetest.BusyboxUUID + `"}`, "/usr/sbin", "/.zonecontrol", bbSu},
		"lx":     {`{"brand":"lx","alias":"ml","hostname":"ml","kernel_version":"6.1.0","image_uuid":"` + nodetest.BusyboxUUID + `"}`, "/native/usr/sbin", "/native/.zonecontrol", bbSu},
		// A sparse zone's /usr is the host's: the tools are links laid
		// over it.
		"sparse": {`{"brand":"sparse","alias":"ms","hostname":"ms"}`, "/usr/sbin", "/.zonecontrol", hostSetpriv},
	} {
		tool := func(name string, args ...string) []string {
			return append([]string{tc.sbin + "/" + name}, args...)
		}
		t.Run(brand, func(t *testing.T) {
			uuid := nodetest.Create(t, n, tc.payload)
			defer n.Delete(ctx, uuid)
			if out, code := zlogin(append([]string{uuid}, tool("mdata-get", "sdc:uuid")...)...); out != uuid+"\n" || code != 0 {
				t.Fatalf("mdata-get sdc:uuid: %q exit %d", out, code)
			}
			if out, code := zlogin(append([]string{uuid}, tool("mdata-get", "nope")...)...); out != "No metadata for 'nope'\n" || code != 1 {
				t.Errorf("mdata-get nope: %q exit %d", out, code)
			}
			if out, code := zlogin(append([]string{uuid}, tool("mdata-put", "color", "blue")...)...); code != 0 {
				t.Fatalf("mdata-put: %q exit %d", out, code)
			}
			if v, _ := n.Get(uuid); v.CustomerMetadata["color"] != "blue" {
				t.Errorf("customer_metadata after mdata-put: %v", v.CustomerMetadata)
			}
			if out, code := zlogin(append([]string{uuid}, tool("mdata-put", "sdc:alias", "x")...)...); code != 2 || !strings.Contains(out, `Cannot update the "sdc" Namespace.`) {
				t.Errorf("mdata-put sdc:alias: %q exit %d", out, code)
			}
			// Only the zone's root may ask: a user would read *_pw keys.
			const denied = "ERROR: could not initialise protocol: Could not find metadata socket.\n"
			if out, code := zlogin(uuid, fmt.Sprintf(tc.asUser, tc.sbin+"/mdata-get sdc:uuid")); out != denied || code != 2 {
				t.Errorf("mdata-get as nobody: %q exit %d, want %q exit 2", out, code, denied)
			}
			// The tools and the socket's directory are read-only.
			for _, f := range []string{tc.sbin + "/mdata-get", tc.sock + "/x"} {
				if out, code := zlogin(uuid, "echo x >"+f); code == 0 {
					t.Errorf("wrote %s in the zone: %q", f, out)
				}
			}
			// hulld restarts: the new socket appears in the running zone.
			md.Close()
			md = StartMetadata(ctx, n, quiet)
			if out, code := zlogin(append([]string{uuid}, tool("mdata-get", "color")...)...); out != "blue\n" || code != 0 {
				t.Errorf("mdata-get after restart: %q exit %d", out, code)
			}
			if out, code := zlogin(append([]string{uuid}, tool("mdata-list")...)...); !strings.Contains(out, "color\n") || code != 0 {
				t.Errorf("mdata-list: %q exit %d", out, code)
			}
		})
	}
}
