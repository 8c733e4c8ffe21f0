package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"hull/internal/testenv"
)

// lyingLayer serves one layer's bytes under another's digest, as a
// corrupted archive would.
type lyingLayer struct {
	v1.Layer
	claims v1.Layer
}

func (l lyingLayer) Digest() (v1.Hash, error) { return l.claims.Digest() }
func (l lyingLayer) DiffID() (v1.Hash, error) { return l.claims.DiffID() }

func tarLayer(t *testing.T, content string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestDockerLayerDigestMismatch: a layer whose reader does not check its
// digest (archives, OCI layouts) is hashed by the import, and one whose
// bytes are not the digest's is refused, leaving nothing behind.
func TestDockerLayerDigestMismatch(t *testing.T) {
	testenv.RequireRoot(t)
	real, claimed := tarLayer(t, "the real bytes"), tarLayer(t, "other bytes!!!")
	img, err := mutate.AppendLayers(empty.Image, lyingLayer{Layer: real, claims: claimed})
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.DockerManifestSchema2)
	_, p, s := dirStore(t)
	im := &Importer{Store: s}
	_, err = im.ImportDockerImage(context.Background(), img, "t/lie", "1", "")
	if err == nil || !strings.Contains(err.Error(), "image file checksum (sha256) error") {
		t.Fatalf("import of a layer with the wrong bytes: %v", err)
	}
	if ds, _ := p.List(); len(ds) != 0 {
		t.Errorf("datasets left: %v", ds)
	}
}
