package imgadm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"hull/internal/image"
)

// isDockerRef: not a uuid, and shaped like repo:tag, repo/name or
// repo@digest (a bare word stays an invalid uuid, as before).
func isDockerRef(s string) bool {
	return !image.ValidUUID(s) && s != "" && !strings.HasPrefix(s, "-") && strings.ContainsAny(s, ":/@")
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
	if len(out) == 0 {
		return nil, &cmdError{code: "NoSources", status: 1, err: errors.New("no docker image sources are configured (see `imgadm sources -a URL -t docker`)")}
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
	_, err = im.ImportDocker(ctx, ref)
	if errors.Is(err, image.ErrDockerNotFound) {
		return &cmdError{code: "ActiveImageNotFound", status: 1, err: err}
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
		return &cmdError{code: "ActiveImageNotFound", status: 1, err: err}
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
