package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Docker images are stored as SmartOS stores them: every layer is an
// image of type "docker" whose uuid is derived from the digests of the
// layer and all layers below it, with origin set to the layer below. A
// base layer shared by two images is therefore one dataset.

// DockerOwner is the owner of synthesised docker layer manifests.
const DockerOwner = "00000000-0000-0000-0000-000000000000"

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// DockerLayerUUIDs gives the image uuid of each layer, base first: the
// first 32 hex digits of sha256 over the digests up to and including the
// layer, joined by spaces, formatted 8-4-4-4-12.
func DockerLayerUUIDs(digests []string) ([]string, error) {
	out := make([]string, len(digests))
	for i, d := range digests {
		if !digestRE.MatchString(d) {
			return nil, fmt.Errorf("docker layer %d: invalid digest %q (must be sha256:<64 hex>)", i, d)
		}
		out[i] = uuidOfSum(strings.Join(digests[:i+1], " "))
	}
	return out, nil
}

// uuidOfSum is the uuid of the first 32 hex digits of sha256 over s,
// formatted 8-4-4-4-12.
func uuidOfSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// DockerConfig is the part of an image's config a docker zone runs with;
// it is kept in the top layer's manifest as tag "docker:config".
type DockerConfig struct {
	Cmd        []string `json:"Cmd"`
	Entrypoint []string `json:"Entrypoint"`
	Env        []string `json:"Env"`
	WorkingDir string   `json:"WorkingDir"`
	User       string   `json:"User,omitempty"`
}

// DockerConfigOf reads the docker:config tag of a docker image's manifest;
// nil when it has none.
func DockerConfigOf(m *Manifest) *DockerConfig {
	raw, ok := m.Tags["docker:config"]
	if !ok {
		return nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil
	}
	c := &DockerConfig{}
	if json.Unmarshal(b, c) != nil {
		return nil
	}
	return c
}

// DockerInternalMetadata is the internal_metadata a docker VM made from
// the image runs with (docker:entrypoint, docker:cmd as JSON arrays,
// docker:env as a JSON array of K=V, docker:workdir, docker:user), and
// its name, docker:imagename ("repo:tag", where the image has one tag),
// and docker:imageid (its config's digest, docker's image id), as the
// docker API puts them into a SmartOS VM at create.
func DockerInternalMetadata(m *Manifest) map[string]string {
	c := DockerConfigOf(m)
	if c == nil {
		return nil
	}
	out := map[string]string{}
	js := func(v []string) string { b, _ := json.Marshal(v); return string(b) }
	if c.Entrypoint != nil {
		out["docker:entrypoint"] = js(c.Entrypoint)
	}
	if c.Cmd != nil {
		out["docker:cmd"] = js(c.Cmd)
	}
	if c.Env != nil {
		out["docker:env"] = js(c.Env)
	}
	if c.WorkingDir != "" {
		out["docker:workdir"] = c.WorkingDir
	}
	if c.User != "" {
		out["docker:user"] = c.User
	}
	if id, ok := m.Tags[dockerImageID].(string); ok && id != "" {
		out["docker:imageid"] = id
	}
	if repo, ok := m.Tags["docker:repo"].(string); ok && repo != "" {
		var tags []string
		for k := range m.Tags {
			if t, ok := strings.CutPrefix(k, "docker:tag:"); ok {
				tags = append(tags, t)
			}
		}
		if len(tags) == 1 {
			out["docker:imagename"] = repo + ":" + tags[0]
		}
	}
	return out
}

// dockerLayer is one layer to install.
type dockerLayer struct {
	manifest *Manifest
	layer    v1.Layer
	// verified: reading the layer checks its digest already (layers
	// of a registry's image: the client fails the read at the end of a
	// blob whose sha256 differs), so it need not be hashed again.
	verified bool
}

// digestChecked tells whether reading l's compressed blob checks its
// digest: layers of images from registries do.
func digestChecked(l v1.Layer) bool {
	t := reflect.TypeOf(l)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() == "github.com/google/go-containerregistry/pkg/v1/remote"
}

// dockerPlan checks an image's manifest and config and synthesises the
// layer manifests, base first. repo and tag name the image ("" if none).
func dockerPlan(img v1.Image, repo, tag string) ([]dockerLayer, error) {
	mf, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("docker image manifest: %w", err)
	}
	if mf.SchemaVersion != 2 {
		return nil, fmt.Errorf("docker image manifest: unsupported schemaVersion %d", mf.SchemaVersion)
	}
	if len(mf.Layers) == 0 {
		return nil, errors.New("docker image manifest: no layers")
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("docker image config: %w", err)
	}
	cfgDigest, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("docker image config: %w", err)
	}
	if cfg.OS != "" && cfg.OS != "linux" {
		return nil, fmt.Errorf("docker image config: os %q is not supported (must be linux)", cfg.OS)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("docker image layers: %w", err)
	}
	if len(layers) != len(mf.Layers) {
		return nil, fmt.Errorf("docker image: %d layers in the manifest, %d found", len(mf.Layers), len(layers))
	}
	digests := make([]string, len(mf.Layers))
	for i, d := range mf.Layers {
		digests[i] = d.Digest.String()
		if d.Size < 0 {
			return nil, fmt.Errorf("docker image manifest: layer %d: invalid size %d", i, d.Size)
		}
		switch d.MediaType {
		case types.DockerLayer, types.OCILayer, types.OCILayerZStd, types.OCIUncompressedLayer, types.DockerUncompressedLayer, "":
		default:
			return nil, fmt.Errorf("docker image manifest: layer %d: unsupported media type %q", i, d.MediaType)
		}
	}
	uuids, err := DockerLayerUUIDs(digests)
	if err != nil {
		return nil, fmt.Errorf("docker image manifest: %w", err)
	}
	published := cfg.Created.UTC()
	if published.IsZero() || published.Year() < 1970 {
		published = time.Unix(0, 0).UTC()
	}
	descText := strings.Join(append(append([]string(nil), cfg.Config.Entrypoint...), cfg.Config.Cmd...), " ")
	if len(descText) > MaxDescriptionLength {
		descText = descText[:MaxDescriptionLength]
	}
	dc := DockerConfig{Cmd: cfg.Config.Cmd, Entrypoint: cfg.Config.Entrypoint, Env: cfg.Config.Env,
		WorkingDir: cfg.Config.WorkingDir, User: cfg.Config.User}
	pub := true
	out := make([]dockerLayer, len(layers))
	for i, l := range layers {
		d := mf.Layers[i]
		m := &Manifest{
			V: 2, UUID: uuids[i], Owner: DockerOwner, Name: "docker-layer",
			Version: strings.TrimPrefix(digests[i], "sha256:")[:12], Description: descText,
			State: "active", Public: &pub, Type: "docker", OS: "linux",
			PublishedAt: published.Format("2006-01-02T15:04:05.000Z"),
			Files:       []File{{Size: d.Size, Compression: layerCompression(d.MediaType), Digest: digests[i]}},
			Tags: map[string]any{
				"docker:id":           digests[i],
				"docker:architecture": cfg.Architecture,
			},
		}
		if i < len(cfg.RootFS.DiffIDs) {
			m.Files[0].UncompressedDigest = cfg.RootFS.DiffIDs[i].String()
		}
		if i > 0 {
			m.Origin = uuids[i-1]
		}
		if repo != "" {
			m.Tags["docker:repo"] = repo
		}
		if i == len(layers)-1 {
			if tag != "" {
				m.Tags["docker:tag:"+tag] = true
			}
			m.Tags["docker:config"] = dc
			m.Tags[dockerImageID] = cfgDigest.String()
		}
		out[i] = dockerLayer{manifest: m, layer: l, verified: digestChecked(l)}
	}
	return out, nil
}

func layerCompression(mt types.MediaType) string {
	switch mt {
	case types.OCILayerZStd:
		return "zstd"
	case types.OCIUncompressedLayer, types.DockerUncompressedLayer:
		return "none"
	}
	return "gzip"
}

// ImportDockerImage installs a docker image's layers that are not yet
// installed, base first, each as a crash-safe install of its own (a crash
// leaves whole lower layers, never part of one). It returns the image
// that stands for it (see dockerTop). source is recorded as where the
// layers came from.
func (im *Importer) ImportDockerImage(ctx context.Context, img v1.Image, repo, tag, source string) (*Image, error) {
	return im.importDocker(ctx, img, repo, tag, source, nil)
}

// importDocker is ImportDockerImage; with blobs, the layers are
// downloaded with it, resumably.
func (im *Importer) importDocker(ctx context.Context, img v1.Image, repo, tag, source string, blobs *blobFetcher) (*Image, error) {
	plan, err := dockerPlan(img, repo, tag)
	if err != nil {
		return nil, err
	}
	top := plan[len(plan)-1].manifest
	name := repo
	if tag != "" {
		name += ":" + tag
	}
	from := ""
	if source != "" {
		from = fmt.Sprintf(" from %q", source)
	}
	im.logf("Importing %s (%s)%s", im.DockerTarget(top), name, from)
	// As SmartOS's imgadm says it for a docker image: its layers are its
	// ancestry, and those not installed are what is to come.
	im.logf("Gather image %s ancestry", top.UUID)
	have := make([]*Image, len(plan)) // the layers installed already
	var want int
	var total int64
	for i, dl := range plan {
		if img, err := im.Store.Get(dl.manifest.UUID); err == nil {
			im.logf("Image %s already installed", dl.manifest.UUID)
			have[i] = img
			continue
		}
		want++
		total += dl.manifest.Files[0].Size
	}
	if want > 0 {
		plural := "s"
		if want == 1 {
			plural = ""
		}
		im.logf("Must download and install %d image%s (%s)", want, plural, HumanSize(total))
	}
	// Each layer's download starts while the one below it is unpacked,
	// once that one's own download is done, so that it does not take
	// CPU from the layer being unpacked (see layerFetch); a fetch not
	// used is stopped on the way out. (A layer another import installs
	// meanwhile is found by installLayer.)
	fetches := make([]*layerFetch, len(plan))
	defer func() {
		for _, f := range fetches {
			if f != nil {
				f.Close()
			}
		}
	}()
	fetch := func(i int) *layerFetch {
		if fetches[i] == nil {
			var after <-chan struct{}
			if i > 0 && fetches[i-1] != nil {
				after = fetches[i-1].ra.read
			}
			var progress func() io.WriteCloser
			if im.Progress != nil {
				m := plan[i].manifest
				progress = func() io.WriteCloser { return im.Progress(m) }
			}
			open, verified := plan[i].layer.Compressed, plan[i].verified
			if blobs != nil {
				f := plan[i].manifest.Files[0]
				open = func() (io.ReadCloser, error) {
					return im.layerDownload(ctx, blobs, source, f), nil
				}
				verified = false
			}
			fetches[i] = newLayerFetch(ctx, plan[i].manifest, open, verified, after, progress)
		}
		return fetches[i]
	}
	var last *Image
	for i, dl := range plan {
		m := dl.manifest
		if have[i] != nil {
			last = have[i]
			continue
		}
		f := fetch(i)
		if i+1 < len(plan) && have[i+1] == nil {
			fetch(i + 1)
		}
		img, err := im.installLayer(ctx, m, f, source)
		f.Close()
		fetches[i] = nil
		if errors.Is(err, ErrAlreadyInstalled) {
			var ai *AlreadyInstalledError
			errors.As(err, &ai)
			last = ai.Image
			continue
		}
		if err != nil {
			return nil, err
		}
		im.logf("Downloaded image %s (%s)", m.UUID, HumanSize(m.Files[0].Size))
		im.logf("Imported image %s (%s@%s)", m.UUID, m.Name, m.Version)
		last = img
	}
	return im.dockerTop(ctx, last, top, source)
}

// layerDownload is the download of a layer's blob (f) with blobs, which
// is resumed when cut off. Closing it stops a read in progress, from
// another goroutine: the reading ends with an error then.
func (im *Importer) layerDownload(ctx context.Context, blobs *blobFetcher, source string, f File) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	d := im.newDownload(ctx, "layer blob", source, f.Size, func(ctx context.Context, off int64) (io.ReadCloser, error) {
		return blobs.open(ctx, f.Digest, off)
	})
	return &stoppable{Reader: d, stop: cancel}
}

// stoppable is a reader that Close stops.
type stoppable struct {
	io.Reader
	stop context.CancelFunc
}

func (s *stoppable) Close() error { s.stop(); return nil }

// installLayer unpacks one layer blob, as it is fetched, on top of a clone
// of its origin, checking the blob's size and digest.
func (im *Importer) installLayer(ctx context.Context, m *Manifest, f *layerFetch, source string) (*Image, error) {
	return im.Store.install(ctx, m, InstallOptions{Source: source, Waiting: im.lockWait(m.UUID)}, func(mountpoint string) error {
		name := "docker layer " + m.Files[0].Digest
		xerr := extractLayer(f.tar, mountpoint)
		// The rest of the stream and of the blob count too; a failed
		// read of the blob is said first, a bad stream last.
		_, terr := io.Copy(io.Discard, f.tar)
		if err := f.inflate.rawErr; err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		f.ra.hashed()
		want := m.Files[0]
		if want.Size > 0 && f.counts.n != want.Size {
			return &fileError{fmt.Sprintf("image file size error: manifest says %d bytes, %s is %d bytes", want.Size, name, f.counts.n)}
		}
		// (Without a sum, the read checked the digest: a mismatch failed
		// it above.)
		if f.sum != nil {
			if got := "sha256:" + hex.EncodeToString(f.sum.Sum(nil)); got != want.Digest {
				return &fileError{fmt.Sprintf("image file checksum (sha256) error: manifest says %q, %s is %q", want.Digest, name, got)}
			}
		}
		if xerr == nil {
			xerr = terr
		}
		if xerr != nil {
			return fmt.Errorf("%s: %w", name, xerr)
		}
		m.Files[0].Size = f.counts.n
		return nil
	})
}

// extractLayer unpacks a layer's tar stream into mountpoint/root as it is, with
// whiteouts applied: a docker layer is always the root filesystem itself
// (a top-level "root/" is the image's /root), never a SmartOS dataset
// layout.
func extractLayer(tr io.Reader, mountpoint string) error {
	root := filepath.Join(mountpoint, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	_, err := extractTar(tr, root, extractOptions{whiteouts: true})
	return err
}
