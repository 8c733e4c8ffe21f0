package node

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"hull/internal/image"
	"hull/internal/image/imagetest"
)

// TestDebianImage: `make debian-image` builds an lx image with a correct
// manifest, which installs and boots as an lx zone running Debian's own
// sysvinit as PID 1, and which stops cleanly (its init runs the
// shutdown scripts and halts) well inside the grace period.
func TestDebianImage(t *testing.T) {
	n := newNode(t)
	mp, fp := imagetest.Debian(t)
	b, err := os.ReadFile(mp)
	if err != nil {
		t.Fatal(err)
	}
	m, err := image.ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != "lx-dataset" || m.OS != "linux" || m.Name != "debian-bookworm" ||
		len(m.Files) != 1 || m.Files[0].Compression != "gzip" || m.Files[0].SHA1 == "" ||
		m.Requirements == nil || m.Requirements.Brand != "lx" {
		t.Errorf("manifest: %+v", m)
	}
	ctx := context.Background()
	if _, err := n.Images.Install(ctx, mp, fp, image.InstallOptions{}); err != nil {
		t.Fatal(err)
	}

	// The image requires the lx brand.
	if _, err := n.Create(ctx, []byte(`{"brand":"joyent","image_uuid":"`+m.UUID+`"}`)); err == nil ||
		err.Error() != "Invalid value(s) for: image_uuid" {
		t.Errorf("a joyent zone from an lx image: %v", err)
	}
	uuid := create(t, n, `{"brand":"lx","alias":"deb","hostname":"deb","kernel_version":"6.1.0","image_uuid":"`+m.UUID+`"}`)
	if v := mustExec(t, n, uuid, "cat /etc/debian_version"); v != m.Version {
		t.Errorf("debian_version %q, manifest version %q", v, m.Version)
	}
	if init, want := mustExec(t, n, uuid, "readlink /proc/1/exe"), mustExec(t, n, uuid, "readlink -f /sbin/init"); init != want {
		t.Errorf("PID 1 is %q, not /sbin/init (%s)", init, want)
	}
	if h := mustExec(t, n, uuid, "hostname"); h != "deb" {
		t.Errorf("hostname %q", h)
	}
	// sysvinit reached its runlevel: the rc scripts ran.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := zexec(t, n, uuid, "runlevel")
		if strings.HasSuffix(out, " 2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runlevel: %q", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	start := time.Now()
	if err := n.Stop(ctx, uuid, false, 0); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("stop took %s: the zone's init did not shut down by itself", d)
	}
	if s := state(t, n, uuid); s != "stopped" {
		t.Errorf("state after stop: %s", s)
	}
	// The image goes once no zone is cloned from it.
	if err := n.Images.Delete(m.UUID); err == nil {
		t.Error("an image with a zone cloned from it was deleted")
	}
	if err := n.Delete(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	if err := n.Images.Delete(m.UUID); err != nil {
		t.Error(err)
	}
}
