package imgadm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"hull/internal/image"
)

// sourcesFor returns the configured sources, or the one -S names.
func (c *cli) sourcesFor(override string) ([]image.Source, error) {
	var cfgs []image.SourceConfig
	if override != "" {
		u, err := image.NormalizeSourceURL(override)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		cfgs = []image.SourceConfig{{URL: u, Type: "imgapi", Insecure: os.Getenv("IMGADM_INSECURE") == "1"}}
	} else {
		_, cfg, err := c.config()
		if err != nil {
			return nil, err
		}
		cfgs = cfg.Sources
	}
	var out []image.Source
	for _, sc := range cfgs {
		if sc.Type == "docker" {
			continue // docker sources hold no IMGAPI images
		}
		src, err := image.NewSource(sc)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	if len(out) == 0 {
		return nil, &cmdError{code: "NoSources", status: 1, err: errors.New("no image sources are configured (see `imgadm sources -a URL`)")}
	}
	return out, nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// sourcesContext returns the configured sources and a context that
// SIGINT and SIGTERM cancel.
func (c *cli) sourcesContext() ([]image.Source, context.Context, context.CancelFunc, error) {
	srcs, err := c.sourcesFor("")
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := signalContext()
	return srcs, ctx, cancel, nil
}

func (c *cli) avail(args []string) error {
	o, err := c.parseListArgs("avail", args, "uuid,name,version,os,published")
	if o == nil || err != nil {
		return err
	}
	srcs, ctx, cancel, err := c.sourcesContext()
	if err != nil {
		return err
	}
	defer cancel()
	seen := map[string]bool{}
	var rows []map[string]any
	var kept []*image.Manifest
	failed := 0
	for _, src := range srcs {
		ms, err := src.List(ctx)
		if err != nil {
			failed++
			fmt.Fprintf(c.stderr, "imgadm: warning: %v\n", err)
			continue
		}
		for _, m := range ms {
			if seen[m.UUID] {
				continue
			}
			seen[m.UUID] = true
			r, err := row(&image.Image{Manifest: m, Source: src.URL()})
			if err != nil {
				return err
			}
			if o.filters.match(r) {
				rows = append(rows, r)
				kept = append(kept, m)
			}
		}
	}
	if failed == len(srcs) {
		return &cmdError{code: "SourceError", status: 1, err: errors.New("no image source could be listed")}
	}
	if o.json {
		if kept == nil {
			kept = []*image.Manifest{}
		}
		return writeJSON(c.stdout, kept)
	}
	return writeTable(c.stdout, rows, splitFields(o.cols), splitFields(o.sort), o.noHeader)
}

func (c *cli) show(args []string) error {
	var help bool
	rest, err := parseFlags(args, map[string]*bool{"h": &help, "help": &help}, nil)
	if err != nil {
		return err
	}
	if help {
		fmt.Fprint(c.stdout, commandUsage["show"])
		return nil
	}
	if len(rest) != 1 {
		return usageErr("incorrect number of args (%d): %q", len(rest), strings.Join(rest, " "))
	}
	if !image.ValidUUID(rest[0]) && isDockerRef(rest[0]) {
		return c.showDocker(rest[0])
	}
	if err := checkUUID(rest[0]); err != nil {
		return err
	}
	srcs, ctx, cancel, err := c.sourcesContext()
	if err != nil {
		return err
	}
	defer cancel()
	im := &image.Importer{Sources: srcs}
	m, _, err := im.Find(ctx, rest[0])
	if err != nil {
		return err
	}
	return writeJSON(c.stdout, m)
}

// showProgress: a bar on a terminal unless quiet.
func (c *cli) showProgress(quiet bool) bool {
	if quiet {
		return false
	}
	if c.env.Progress != nil {
		return *c.env.Progress
	}
	f, ok := c.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (c *cli) importer(s *image.Store, srcs []image.Source, quiet bool) *image.Importer {
	im := &image.Importer{Store: s, Sources: srcs, Log: c.stdout, IdleTimeout: c.env.DownloadIdleTimeout}
	if c.showProgress(quiet) {
		im.Progress = func(m *image.Manifest) io.WriteCloser {
			var size int64 = -1
			if len(m.Files) > 0 {
				size = m.Files[0].Size
			}
			bar := progressbar.NewOptions64(size,
				progressbar.OptionSetWriter(c.stderr),
				progressbar.OptionSetDescription("Download "+m.UUID[:8]),
				progressbar.OptionShowBytes(true),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionShowCount(),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(c.stderr) }),
				progressbar.OptionUseIECUnits(true),
			)
			return barCloser{bar}
		}
	}
	return im
}

type barCloser struct{ *progressbar.ProgressBar }

func (b barCloser) Close() error { return b.ProgressBar.Finish() }

func (c *cli) importImage(args []string) error {
	var o struct {
		p, src, channel   string
		quiet, help, zstr bool
	}
	rest, err := parseFlags(args,
		map[string]*bool{"q": &o.quiet, "quiet": &o.quiet, "h": &o.help, "help": &o.help, "zstream": &o.zstr},
		map[string]*string{"P": &o.p, "S": &o.src, "source": &o.src, "C": &o.channel})
	if err != nil {
		return err
	}
	if o.help {
		fmt.Fprint(c.stdout, commandUsage["import"])
		return nil
	}
	if len(rest) != 1 {
		return usageErr("incorrect number of args (%d): %q", len(rest), strings.Join(rest, " "))
	}
	uuid := rest[0]
	if !image.ValidUUID(uuid) {
		if isDockerRef(uuid) {
			return c.importDocker(uuid, o.p, o.src, o.quiet)
		}
		return checkUUID(uuid)
	}
	if o.channel != "" {
		return &cmdError{code: "NotSupported", status: 1, err: errors.New("-C <channel> is not supported; add \"?channel=NAME\" to the source URL")}
	}
	s, err := c.open(o.p)
	if err != nil {
		return err
	}
	if have, err := s.Get(uuid); err == nil {
		fmt.Fprintf(c.stdout, "Image %s (%s@%s) is already installed, skipping\n", uuid, have.Manifest.Name, have.Manifest.Version)
		return nil
	}
	srcs, err := c.sourcesFor(o.src)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	im := c.importer(s, srcs, o.quiet)
	if _, err := im.Import(ctx, uuid); err != nil {
		var ai *image.AlreadyInstalledError
		if errors.As(err, &ai) {
			m := ai.Image.Manifest
			fmt.Fprintf(c.stdout, "Image %s (%s@%s) was installed while waiting on lock\n", m.UUID, m.Name, m.Version)
			return nil
		}
		return err
	}
	return nil
}

func (c *cli) update(args []string) error {
	var dry, help bool
	rest, err := parseFlags(args, map[string]*bool{"n": &dry, "dry-run": &dry, "h": &help, "help": &help}, nil)
	if err != nil {
		return err
	}
	if help {
		fmt.Fprint(c.stdout, commandUsage["update"])
		return nil
	}
	for _, u := range rest {
		if err := checkUUID(u); err != nil {
			return err
		}
	}
	s, err := c.open("")
	if err != nil {
		return err
	}
	var imgs []*image.Image
	if len(rest) == 0 {
		if imgs, err = s.Images(); err != nil {
			return err
		}
	} else {
		for _, u := range rest {
			img, err := s.Get(u)
			if err != nil {
				return err
			}
			imgs = append(imgs, img)
		}
	}
	srcs, ctx, cancel, err := c.sourcesContext()
	if err != nil {
		return err
	}
	defer cancel()
	im := &image.Importer{Sources: srcs}
	prefix := ""
	if dry {
		prefix = "[dry-run] "
	}
	for _, img := range imgs {
		m := img.Manifest
		if !dry {
			if took, err := s.EnsureFinal(m.UUID); err != nil {
				return err
			} else if took {
				fmt.Fprintf(c.stdout, "Created @final snapshot of image %s\n", m.UUID)
			}
		}
		nm, src, err := im.Find(ctx, m.UUID)
		if err != nil {
			if errors.Is(err, image.ErrNotInSource) {
				continue // installed from a file, or gone from the sources
			}
			return err
		}
		if reflect.DeepEqual(nm, m) {
			continue
		}
		fmt.Fprintf(c.stdout, "%sUpdate image %s (%s@%s) manifest from %q\n", prefix, m.UUID, nm.Name, nm.Version, src.URL())
		if !dry {
			if err := s.UpdateManifest(nm, src.URL()); err != nil {
				return err
			}
		}
	}
	return nil
}
