package imgadm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"hull/internal/image"
)

// isDockerRef: not a uuid, and a reference a `docker pull` takes
// ("busybox", "repo:tag", "host:port/repo@sha256:…"), as SmartOS's imgadm
// tells image ids apart.
func isDockerRef(s string) bool {
	if image.ValidUUID(s) || s == "" || strings.HasPrefix(s, "-") {
		return false
	}
	_, err := name.ParseReference(s)
	return err == nil
}

// dockerSources returns the configured docker sources, or the one -S names.
func (c *cli) dockerSources(override string) ([]image.Source, error) {
	var cfgs []image.SourceConfig
	if override != "" {
		u, err := image.NormalizeSourceURL(override)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		cfgs = []image.SourceConfig{{URL: u, Type: "docker", Insecure: os.Getenv("IMGADM_INSECURE") == "1"}}
	} else {
		_, cfg, err := c.config()
		if err != nil {
			return nil, err
		}
		if len(cfg.Sources) == 0 {
			return nil, errNoSources
		}
		for _, sc := range cfg.Sources {
			if sc.Type == "docker" {
				cfgs = append(cfgs, sc)
			}
		}
	}
	var out []image.Source
	for _, sc := range cfgs {
		src, err := image.NewSource(sc)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// importDocker imports repo[:tag] from the docker sources: every layer
// not yet installed, base first.
func (c *cli) importDocker(ref, pool, override string, quiet bool) error {
	srcs, err := c.dockerSources(override)
	if err != nil {
		return err
	}
	im, ctx, cancel, err := c.importerInto(pool, srcs, quiet)
	if err != nil {
		return err
	}
	defer cancel()
	di, err := im.ResolveDocker(ctx, ref)
	if err != nil {
		return dockerErr(ref, err)
	}
	if have, err := im.Store.Get(im.DockerTarget(di.Top)); err == nil {
		// Only the tag (or, on a layer of another image, the config)
		// may be new: it is added quietly.
		quietIm := *im
		quietIm.Log = nil
		if _, err := quietIm.ImportResolved(ctx, di); err != nil {
			return err
		}
		from := ""
		if have.Source != "" {
			from = " from " + have.Source
		}
		fmt.Fprintf(c.stdout, "Image %s (%s@%s) is already installed%s\n", have.Manifest.UUID, have.Manifest.Name, have.Manifest.Version, from)
		return nil
	}
	_, err = im.ImportResolved(ctx, di)
	return err
}

// dockerErr says an image no docker source has as SmartOS does.
func dockerErr(ref string, err error) error {
	if errors.Is(err, image.ErrDockerNotFound) {
		return &cmdError{code: "ActiveImageNotFound", status: 1, err: fmt.Errorf("an active image %q was not found in image sources", ref)}
	}
	return err
}

// importerInto opens pool and returns an importer into it from srcs, with
// a context that SIGINT and SIGTERM cancel.
func (c *cli) importerInto(pool string, srcs []image.Source, quiet bool) (*image.Importer, context.Context, context.CancelFunc, error) {
	s, err := c.open(pool)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := signalContext()
	return c.importer(s, srcs, quiet), ctx, cancel, nil
}

// showDocker prints the manifest the image's top layer gets.
func (c *cli) showDocker(ref string) error {
	srcs, err := c.dockerSources("")
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	im := &image.Importer{Sources: srcs}
	m, err := im.DockerManifest(ctx, ref)
	if errors.Is(err, image.ErrDockerNotFound) {
		return &cmdError{code: "ImageNotFound", status: 1, err: fmt.Errorf("image %q was not found", ref)}
	}
	if err != nil {
		return err
	}
	return writeJSON(c.stdout, m)
}

// installDocker installs an image from a `docker save` archive or an OCI
// layout directory; ref picks one image of several.
func (c *cli) installDocker(path, ref, pool string, quiet bool) error {
	if _, err := os.Stat(path); err != nil {
		return &cmdError{code: "Usage", status: 1, err: fmt.Errorf("file path does not exist: %q", path)}
	}
	img, repo, tag, err := image.OpenDockerArchive(path, ref)
	if err != nil {
		return err
	}
	im, ctx, cancel, err := c.importerInto(pool, nil, quiet)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = im.ImportDockerImage(ctx, img, repo, tag, "")
	return err
}
