package image

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// DockerSource is a registry speaking the distribution API (v2). It holds
// no IMGAPI images: avail, show and import by uuid pass it by, and images
// are imported from it by "repo[:tag]".
type DockerSource struct {
	url      string
	host     string
	insecure bool // plain http, or TLS without verification
	tr       http.RoundTripper
}

// NewDocker makes a source for the registry at rawURL (http or https).
func NewDocker(rawURL string, insecure bool) (*DockerSource, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid docker source url: %q", rawURL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	return &DockerSource{url: rawURL, host: u.Host, insecure: insecure || u.Scheme == "http", tr: traced{tr}}, nil
}

func (d *DockerSource) URL() string  { return d.url }
func (d *DockerSource) Type() string { return "docker" }

// Ping checks that the URL answers the distribution API's base endpoint.
// A registry that wants credentials still is one.
func (d *DockerSource) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(d.url, "/")+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: d.tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
		return nil
	}
	return fmt.Errorf("%s/v2/: %s (not a docker registry?)", d.url, resp.Status)
}

// List: SmartOS's avail does not list docker sources.
func (d *DockerSource) List(context.Context) ([]*Manifest, error) { return nil, nil }

// Get: a registry has no images by uuid.
func (d *DockerSource) Get(context.Context, string) (*Manifest, error) { return nil, ErrNotInSource }

func (d *DockerSource) OpenFile(context.Context, string, int64) (io.ReadCloser, error) {
	return nil, errors.New("docker sources have no image files by uuid")
}

// Reference resolves "repo[:tag|@digest]" against the registry.
func (d *DockerSource) Reference(ref string) (name.Reference, error) {
	opts := []name.Option{name.WithDefaultRegistry(d.host)}
	if d.insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("invalid docker image reference %q: %w", ref, err)
	}
	return r, nil
}

// Image opens an image's manifest and config; layers are fetched as they
// are read. Credentials come from the docker config (DOCKER_CONFIG or
// ~/.docker/config.json), anonymous otherwise.
func (d *DockerSource) Image(ctx context.Context, ref name.Reference) (v1.Image, error) {
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithTransport(d.tr),
		remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithPlatform(HostPlatform()))
	if err != nil {
		return nil, explainRegistry(d.url, ref, err)
	}
	return img, nil
}

// HostPlatform is the platform picked from a multi-platform image (an
// index or manifest list): linux on this machine's architecture.
func HostPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm" {
		p.Variant = "v7"
	}
	return p
}

// ErrDockerNotFound: no docker source has the repo:tag.
var ErrDockerNotFound = errors.New("docker image not found")

// explainRegistry gives registry errors a message naming source and image.
func explainRegistry(src string, ref fmt.Stringer, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("docker source %s: access to %s denied (authentication required or credentials wrong): %w", src, ref, err)
		case http.StatusNotFound:
			return fmt.Errorf("docker source %s: image %s: %w: %v", src, ref, ErrDockerNotFound, err)
		}
		for _, d := range te.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return fmt.Errorf("docker source %s: image %s: %w: %v", src, ref, ErrDockerNotFound, err)
			}
		}
	}
	return fmt.Errorf("docker source %s: image %s: %w", src, ref, err)
}

// ImportDocker imports "repo[:tag]" from the first docker source that has
// it and returns the image that stands for it (see dockerTop).
func (im *Importer) ImportDocker(ctx context.Context, ref string) (*Image, error) {
	di, err := im.ResolveDocker(ctx, ref)
	if err != nil {
		return nil, err
	}
	return im.ImportResolved(ctx, di)
}

// ImportResolved imports a docker image ResolveDocker found; its layers
// are downloaded resumably.
func (im *Importer) ImportResolved(ctx context.Context, di *DockerImage) (*Image, error) {
	return im.importDocker(ctx, di.Image, di.Repo, di.Tag, di.Source, di.blobs)
}

// DockerManifest returns the manifest the top layer of "repo[:tag]" would
// be installed with (imgadm show for docker images). A source that fails
// ends the search.
func (im *Importer) DockerManifest(ctx context.Context, ref string) (*Manifest, error) {
	di, err := im.resolveDocker(ctx, ref, false)
	if err != nil {
		return nil, err
	}
	return di.Top, nil
}

// DockerImage is a docker image found in a source, ready to import.
type DockerImage struct {
	Image     v1.Image
	Repo, Tag string
	Source    string
	// Top is the manifest its top layer is installed with.
	Top   *Manifest
	blobs *blobFetcher // its layers' blobs
}

// ResolveDocker finds "repo[:tag]" in the docker sources, as ImportDocker
// does, without installing anything: imgadm says "already installed"
// when the top layer is.
func (im *Importer) ResolveDocker(ctx context.Context, ref string) (*DockerImage, error) {
	return im.resolveDocker(ctx, ref, true)
}

func (im *Importer) resolveDocker(ctx context.Context, ref string, skipFailed bool) (*DockerImage, error) {
	img, r, tag, ds, err := im.findDocker(ctx, ref, skipFailed)
	if err != nil {
		return nil, err
	}
	repo := r.RepositoryStr()
	plan, err := dockerPlan(img, repo, tag)
	if err != nil {
		return nil, err
	}
	return &DockerImage{Image: img, Repo: repo, Tag: tag, Source: ds.URL(), Top: plan[len(plan)-1].manifest,
		blobs: newBlobFetcher(ds, r)}, nil
}

// findDocker looks "repo[:tag]" up in the docker sources, in order, and
// returns the image of the first that has it, with its repo and tag ("" for
// a digest). A source that fails otherwise than with ErrDockerNotFound ends
// the search, or with skipFailed is passed over; its error is returned
// then when no later source has the image.
func (im *Importer) findDocker(ctx context.Context, ref string, skipFailed bool) (img v1.Image, repo name.Repository, tag string, ds *DockerSource, err error) {
	var firstErr error
	for _, s := range im.Sources {
		ds, ok := s.(*DockerSource)
		if !ok {
			continue
		}
		r, err := ds.Reference(ref)
		if err != nil {
			return nil, name.Repository{}, "", nil, err
		}
		img, err := ds.Image(ctx, r)
		if errors.Is(err, ErrDockerNotFound) {
			continue
		}
		if err != nil {
			if !skipFailed {
				return nil, name.Repository{}, "", nil, err
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if t, ok := r.(name.Tag); ok {
			tag = t.TagStr()
		}
		return img, r.Context(), tag, ds, nil
	}
	if firstErr != nil {
		return nil, name.Repository{}, "", nil, firstErr
	}
	return nil, name.Repository{}, "", nil, fmt.Errorf("docker image %q was not found in image sources: %w", ref, ErrDockerNotFound)
}

// OpenDockerArchive opens an image from a file: a `docker save` archive,
// or an OCI image layout (a directory). want ("repo:tag", or "") picks
// one image when the archive holds several. It returns the image with
// its repo and tag ("" when the archive names none).
func OpenDockerArchive(path, want string) (img v1.Image, repo, tag string, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", "", fmt.Errorf("docker archive: %w", err)
	}
	if st.IsDir() {
		return openOCILayout(path, want)
	}
	var wantTag *name.Tag
	if want != "" {
		t, err := name.NewTag(want)
		if err != nil {
			return nil, "", "", fmt.Errorf("invalid docker image reference %q: %w", want, err)
		}
		wantTag = &t
	}
	mf, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		return nil, "", "", fmt.Errorf("docker archive %s: %w", path, err)
	}
	if d, ok := pickSaved(mf, want); ok {
		img, err = savedImage(path, d)
		if err != nil {
			return nil, "", "", fmt.Errorf("docker archive %s: %w", path, err)
		}
	}
	if img == nil {
		// Compressed layers (not docker's own archives): as stored.
		if img, err = tarball.ImageFromPath(path, wantTag); err != nil {
			return nil, "", "", fmt.Errorf("docker archive %s: %w", path, err)
		}
	}
	if want != "" {
		repo, tag = splitRepoTag(want)
	} else if len(mf) == 1 && len(mf[0].RepoTags) > 0 {
		repo, tag = splitRepoTag(mf[0].RepoTags[0])
	}
	return img, repo, tag, nil
}

// openOCILayout picks the image of an OCI layout whose ref.name
// annotation is want's tag (or want), or its only image.
func openOCILayout(dir, want string) (v1.Image, string, string, error) {
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return nil, "", "", fmt.Errorf("docker archive %s: not an OCI image layout (no oci-layout file)", dir)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, "", "", fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, "", "", fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	wantRepo, wantTag := splitRepoTag(want)
	var picked []v1.Descriptor
	host := HostPlatform()
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() && !d.MediaType.IsIndex() || d.Platform != nil && !d.Platform.Satisfies(host) {
			continue
		}
		refName := d.Annotations["org.opencontainers.image.ref.name"]
		if want == "" || refName == want || refName == wantTag {
			picked = append(picked, d)
		}
	}
	if len(picked) != 1 {
		return nil, "", "", fmt.Errorf("OCI layout %s: %d images match %q (name one with repo:tag)", dir, len(picked), want)
	}
	img, err := platformImage(idx, picked[0])
	if err != nil {
		return nil, "", "", fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	repo, tag := wantRepo, wantTag
	if want == "" {
		if n := picked[0].Annotations["org.opencontainers.image.ref.name"]; n != "" {
			if strings.Contains(n, ":") {
				repo, tag = splitRepoTag(n)
			} else {
				tag = n
			}
		}
	}
	return img, repo, tag, nil
}

// platformImage is the image d names in idx, or, where d is a
// multi-platform index, its image for this machine (HostPlatform).
func platformImage(idx v1.ImageIndex, d v1.Descriptor) (v1.Image, error) {
	for depth := 0; d.MediaType.IsIndex(); depth++ {
		child, err := idx.ImageIndex(d.Digest)
		if err == nil && depth > 3 {
			err = errors.New("indexes nested too deep")
		}
		if err != nil {
			return nil, err
		}
		im, err := child.IndexManifest()
		if err != nil {
			return nil, err
		}
		host := HostPlatform()
		var have []string
		found := false
		for _, c := range im.Manifests {
			if c.Platform != nil && c.Platform.Satisfies(host) {
				idx, d, found = child, c, true
				break
			}
			if c.Platform != nil {
				have = append(have, c.Platform.String())
			}
		}
		if !found {
			return nil, fmt.Errorf("no image for %s in the index (it has %s)", host.String(), strings.Join(have, ", "))
		}
	}
	return idx.Image(d.Digest)
}

// splitRepoTag splits "repo:tag" (a registry host may have a port).
func splitRepoTag(s string) (string, string) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.Contains(s[i:], "/") {
		return s, ""
	}
	return s[:i], s[i+1:]
}
