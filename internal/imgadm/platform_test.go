package imgadm

import (
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"hull/internal/image"
	"hull/internal/image/registrytest"
)

// multiPlatform is an index of img for this machine's platform and other
// for another one; with mine false, of other only.
func multiPlatform(img, other v1.Image, mine bool) v1.ImageIndex {
	host := image.HostPlatform()
	foreign := v1.Platform{OS: "linux", Architecture: "s390x"}
	var adds []mutate.IndexAddendum
	adds = append(adds, mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &foreign}})
	if mine {
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &host}})
	}
	return mutate.AppendManifests(empty.Index, adds...)
}

// TestDockerMultiPlatform: a multi-platform image (an index), from a
// registry or an OCI layout, installs as its image for this machine; one
// without that platform is refused, naming what it has, and nothing is
// left.
func TestDockerMultiPlatform(t *testing.T) {
	rm := newRemote(t)
	t.Cleanup(rm.cleanAll)
	reg := registrytest.Start(t, false)
	a, b := registrytest.TestImages(t)
	reg.PushIndex(t, "hull/multi:1", multiPlatform(a, b, true))
	reg.PushIndex(t, "hull/foreign:1", multiPlatform(a, b, false))

	rm.ok("import", "-q", "-S", reg.URL, "hull/multi:1")
	ua := registrytest.LayerUUIDs(t, a)
	if img, err := rm.store.Get(ua[1]); err != nil || img.Manifest.Tags["docker:tag:1"] != true {
		t.Errorf("this platform's image: %+v %v", img, err)
	}
	code, _, errOut := rm.run("import", "-q", "-S", reg.URL, "hull/foreign:1")
	if code != 1 || !strings.Contains(errOut, image.HostPlatform().String()) {
		t.Errorf("an index without this platform: %d %s", code, errOut)
	}
	rm.cleanAll()
	if ds := rm.datasets(); len(ds) != 0 {
		t.Errorf("datasets left: %v", ds)
	}

	// The same in an OCI layout, the index named by its ref.name.
	dir := filepath.Join(t.TempDir(), "oci")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for name, mine := range map[string]bool{"hull/multi:1": true, "hull/foreign:1": false} {
		if err := lp.AppendIndex(multiPlatform(a, b, mine), layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": name})); err != nil {
			t.Fatal(err)
		}
	}
	rm.ok("install", "-q", "--docker-archive", dir, "hull/multi:1")
	if _, err := rm.store.Get(ua[1]); err != nil {
		t.Errorf("this platform's image from the layout: %v", err)
	}
	code, _, errOut = rm.run("install", "-q", "--docker-archive", dir, "hull/foreign:1")
	if code != 1 || !strings.Contains(errOut, "no image for "+image.HostPlatform().String()+" in the index (it has linux/s390x)") {
		t.Errorf("a layout index without this platform: %d %s", code, errOut)
	}
}
