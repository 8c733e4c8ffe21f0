package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A `docker save` archive holds its layers uncompressed (docker writes
// them so, and so does its OCI export). Read as go-containerregistry reads
// it, each layer would be gzip'd twice on install, once to learn the
// digest it would have compressed and once to be unpacked, and the
// digests (so the layer uuids) would hang on that gzip's exact output.
// Instead such a layer is taken as it is: an uncompressed layer whose
// digest is its diff id, the sha256 the image's config records for it,
// checked as the layer is unpacked.

// savedImage opens the image manifest m of the archive at file as
// uncompressed layers. It returns no image (and no error) when the
// layers are not all uncompressed tars: go-containerregistry then reads
// the archive.
func savedImage(file string, m tarball.Descriptor) (v1.Image, error) {
	rawCfg, err := readSaved(file, m.Config)
	if err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawCfg))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("%d layers, %d diff ids in the config", len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	core := &savedCore{rawConfig: rawCfg, layers: map[v1.Hash]*savedLayer{}}
	mf := v1.Manifest{SchemaVersion: 2, MediaType: types.DockerManifestSchema2,
		Config: v1.Descriptor{MediaType: types.DockerConfigJSON, Size: int64(len(rawCfg))}}
	if mf.Config.Digest, _, err = v1.SHA256(bytes.NewReader(rawCfg)); err != nil {
		return nil, err
	}
	for i, p := range m.Layers {
		l := &savedLayer{file: file, name: p, digest: cfg.RootFS.DiffIDs[i]}
		var head []byte
		if l.size, head, err = savedEntry(file, p); err != nil {
			return nil, err
		}
		if sniffCompression(head) != "none" || !isTar(head) {
			return nil, nil
		}
		core.layers[l.digest] = l
		mf.Layers = append(mf.Layers, v1.Descriptor{MediaType: types.DockerUncompressedLayer, Size: l.size, Digest: l.digest})
	}
	if core.rawManifest, err = json.Marshal(mf); err != nil {
		return nil, err
	}
	return partial.CompressedToImage(core)
}

// isTar tells whether head (a file's first bytes) is a tar: "ustar" at
// 257, or an empty archive's zero block.
func isTar(head []byte) bool {
	if len(head) >= 262 && string(head[257:262]) == "ustar" {
		return true
	}
	return len(head) >= 512 && bytes.Equal(head[:512], make([]byte, 512))
}

// savedCore is the image for go-containerregistry's partial package.
type savedCore struct {
	rawConfig, rawManifest []byte
	layers                 map[v1.Hash]*savedLayer
}

func (c *savedCore) RawConfigFile() ([]byte, error) { return c.rawConfig, nil }
func (c *savedCore) MediaType() (types.MediaType, error) {
	return types.DockerManifestSchema2, nil
}
func (c *savedCore) RawManifest() ([]byte, error) { return c.rawManifest, nil }
func (c *savedCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := c.layers[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("docker archive: no layer %s", h)
}

// savedLayer is one layer file of the archive.
type savedLayer struct {
	file, name string
	digest     v1.Hash
	size       int64
}

func (l *savedLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *savedLayer) Size() (int64, error)     { return l.size, nil }
func (l *savedLayer) MediaType() (types.MediaType, error) {
	return types.DockerUncompressedLayer, nil
}

// Compressed is the layer as stored: its tar, uncompressed.
func (l *savedLayer) Compressed() (io.ReadCloser, error) {
	f, err := os.Open(l.file)
	if err != nil {
		return nil, err
	}
	r, _, err := findSaved(f, l.name)
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{r, f}, nil
}

// readSaved reads the whole entry name (a small one: a config).
func readSaved(file, name string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, hdr, err := findSaved(f, name)
	if err != nil {
		return nil, err
	}
	if hdr.Size > 16<<20 {
		return nil, fmt.Errorf("%s: %d bytes is too big", name, hdr.Size)
	}
	return io.ReadAll(r)
}

// savedEntry gives an entry's size and first 512 bytes.
func savedEntry(file, name string) (int64, []byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	r, hdr, err := findSaved(f, name)
	if err != nil {
		return 0, nil, err
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, nil, err
	}
	return hdr.Size, head[:n], nil
}

// findSaved returns a reader of the archive's entry name, following
// symlinks (docker save links a layer it has already written), at most a
// few deep. The tar reader seeks over the entries before it.
func findSaved(f *os.File, name string) (io.Reader, *tar.Header, error) {
	want := path.Clean(name)
	for hops := 0; hops < 8; hops++ {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, nil, err
		}
		tr := tar.NewReader(f)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				return nil, nil, fmt.Errorf("docker archive: no file %s", name)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("docker archive: %w", err)
			}
			if path.Clean(hdr.Name) != want {
				continue
			}
			switch hdr.Typeflag {
			case tar.TypeSymlink:
				want = path.Clean(path.Join(path.Dir(want), hdr.Linkname))
			case tar.TypeLink:
				want = path.Clean(hdr.Linkname)
			case tar.TypeReg: // (the reader makes an old TypeRegA entry TypeReg)
				return tr, hdr, nil
			default:
				return nil, nil, fmt.Errorf("docker archive: %s is not a file", name)
			}
			break
		}
	}
	return nil, nil, fmt.Errorf("docker archive: %s: too many links", name)
}

// pickSaved picks the image of the archive's manifest that want
// ("repo:tag") names, or its only one.
func pickSaved(mf tarball.Manifest, want string) (tarball.Descriptor, bool) {
	if want == "" {
		if len(mf) == 1 {
			return mf[0], true
		}
		return tarball.Descriptor{}, false
	}
	for _, d := range mf {
		for _, rt := range d.RepoTags {
			if rt == want {
				return d, true
			}
		}
	}
	return tarball.Descriptor{}, false
}
