package image

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestDigestChecked: only layers read from a registry are taken as
// checked by their reader; the import hashes every other layer itself.
func TestDigestChecked(t *testing.T) {
	local, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/t/x:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, local); err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		img  v1.Image
		want bool
	}{{"local", local, false}, {"registry", pulled, true}} {
		ls, err := tt.img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		if got := digestChecked(ls[0]); got != tt.want {
			t.Errorf("%s layer (%T): digestChecked = %v, want %v", tt.name, ls[0], got, tt.want)
		}
	}
}
