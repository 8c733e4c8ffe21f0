package imgadm

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"hull/internal/image"
	"hull/internal/image/registrytest"
)

// writeDockerSave writes a `docker save` archive of imgs (each with its
// repo:tag), as docker writes it: uncompressed layers as
// <diffid>/layer.tar, a layer written already linked to its first copy,
// configs as <digest>.json, and manifest.json. corrupt flips a byte in
// the middle of each layer.
func writeDockerSave(t *testing.T, path string, corrupt bool, imgs map[string]v1.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	type entry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var mf []entry
	written := map[string]bool{}
	add := func(name string, body []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	for repoTag, img := range imgs {
		e := entry{RepoTags: []string{repoTag}}
		cfg, _ := img.RawConfigFile()
		cd, _ := img.ConfigName()
		e.Config = cd.Hex + ".json"
		add(e.Config, cfg)
		layers, _ := img.Layers()
		for _, l := range layers {
			d, _ := l.DiffID()
			p := d.Hex + "/layer.tar"
			e.Layers = append(e.Layers, p)
			if written[p] {
				// Another image's copy: docker links the directory's file.
				tw.WriteHeader(&tar.Header{Name: d.Hex + "/link.tar", Typeflag: tar.TypeSymlink, Linkname: "layer.tar"})
				e.Layers[len(e.Layers)-1] = d.Hex + "/link.tar"
				continue
			}
			written[p] = true
			rc, _ := l.Uncompressed()
			body, _ := io.ReadAll(rc)
			rc.Close()
			if corrupt {
				body[len(body)/2] ^= 0xff
			}
			add(p, body)
		}
		mf = append(mf, e)
	}
	b, _ := json.Marshal(mf)
	add("manifest.json", b)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDockerSaveArchive installs images from a `docker save` archive:
// its uncompressed layers are installed as they are, identified by their
// diff ids (stable, whatever compressor is at hand), checked against
// them, and shared between the archive's images.
func TestDockerSaveArchive(t *testing.T) {
	rm := newRemote(t)
	t.Cleanup(rm.cleanAll)
	a, b := registrytest.TestImages(t)
	dir := t.TempDir()
	archive := filepath.Join(dir, "save.tar")
	writeDockerSave(t, archive, false, map[string]v1.Image{"hull/a:1.0": a, "hull/b:2": b})

	// Two images: one must be named.
	rm.expect(1, "", "*", "install", "-q", "--docker-archive", archive)
	out := rm.ok("install", "-q", "--docker-archive", archive, "hull/a:1.0")
	if !strings.Contains(out, "(hull/a:1.0)") || strings.Count(out, "Imported image") != 2 {
		t.Errorf("install a:\n%s", out)
	}
	out = rm.ok("install", "-q", "--docker-archive", archive, "hull/b:2")
	if strings.Count(out, "Imported image") != 1 {
		t.Errorf("install b (its base installed with a):\n%s", out)
	}
	cfg, _ := b.ConfigFile()
	var diffs []string
	for _, d := range cfg.RootFS.DiffIDs {
		diffs = append(diffs, d.String())
	}
	uuids, _ := image.DockerLayerUUIDs(diffs)
	top, err := rm.store.Get(uuids[1])
	if err != nil {
		t.Fatalf("b's top layer by its diff ids: %v", err)
	}
	if f := top.Manifest.Files[0]; f.Compression != "none" || f.Digest != diffs[1] || top.Manifest.Origin != uuids[0] || top.Manifest.Tags["docker:tag:2"] != true {
		t.Errorf("b's top layer: %+v, file %+v", top.Manifest, f)
	}
	mp, _ := rm.store.Mountpoint(uuids[1])
	if body, err := os.ReadFile(filepath.Join(mp, "root/b.txt")); err != nil || string(body) != "image b\n" {
		t.Errorf("b.txt: %q %v", body, err)
	}
	if ds := rm.datasets(); len(ds) != 3 {
		t.Errorf("datasets: %v", ds)
	}

	// A layer whose bytes are not its diff id's: refused, nothing left.
	rm.cleanAll()
	bad := filepath.Join(dir, "bad.tar")
	writeDockerSave(t, bad, true, map[string]v1.Image{"hull/b:2": b})
	if code, _, errOut := rm.run("install", "-q", "--docker-archive", bad); code != 1 || !strings.Contains(errOut, "checksum (sha256) error") {
		t.Errorf("corrupt layer: %d %s", code, errOut)
	}
	if ds := rm.datasets(); len(ds) != 0 {
		t.Errorf("datasets left: %v", ds)
	}
}
