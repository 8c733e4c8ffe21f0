package imgadm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"hull/internal/image"
)

// sourcesFor returns the configured sources, or the one -S names.
func (c *cli) sourcesFor(override string) ([]image.Source, error) {
	return c.sourcesIn(override, "")
}

// sourcesIn is sourcesFor with every IMGAPI source asked for channel
// (import -C), unless channel is "".
func (c *cli) sourcesIn(override, channel string) ([]image.Source, error) {
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
	if len(cfgs) == 0 {
		return nil, errNoSources
	}
	var out []image.Source
	for _, sc := range cfgs {
		if sc.Type == "docker" {
			continue // docker sources hold no IMGAPI images
		}
		if channel != "" {
			u, err := url.Parse(sc.URL)
			if err != nil {
				return nil, usageErr("invalid source url: %q", sc.URL)
			}
			q := u.Query()
			q.Set("channel", channel)
			u.RawQuery = q.Encode()
			sc.URL = u.String()
		}
		src, err := image.NewSource(sc)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// errNoSources is SmartOS's NoSources.
var errNoSources = &cmdError{code: "NoSources", status: 1, err: errors.New("imgadm has no configured sources")}

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

// availEntry is one image as `imgadm avail -j` prints it.
type availEntry struct {
	Manifest *image.Manifest `json:"manifest"`
	Source   string          `json:"source"`
}

func (c *cli) avail(args []string) error {
	o, err := c.parseListArgs("avail", args, "uuid,name,version,os,type,pub")
	if o == nil || err != nil {
		return err
	}
	srcs, ctx, cancel, err := c.sourcesContext()
	if err != nil {
		return err
	}
	defer cancel()
	// As SmartOS: what the sources that answer list is printed, and a
	// source that fails is the command's error afterwards.
	seen := map[string]bool{}
	var rows []map[string]any
	kept := []availEntry{}
	var errs []error
	for _, src := range srcs {
		ms, err := src.List(ctx)
		if err != nil {
			errs = append(errs, err)
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
				kept = append(kept, availEntry{Manifest: m, Source: src.URL()})
			}
		}
	}
	if o.json {
		err = writeJSON(c.stdout, kept)
	} else {
		err = writeTable(c.stdout, rows, splitFields(o.cols), splitFields(o.sort), o.noHeader)
	}
	if err != nil {
		return err
	}
	return multiError(errs)
}

// multiError is SmartOS's MultiError: one error is itself, several are
// listed one a line.
func multiError(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msg := fmt.Sprintf("multiple (%d) errors", len(errs))
	for _, e := range errs {
		msg += fmt.Sprintf("\n    error (%s): %s", classify(e).codeOr("InternalError"), e)
	}
	return &cmdError{code: "MultiError", status: 1, err: errors.New(msg)}
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
	// Any state, as SmartOS's show; none found is ImageNotFound.
	im := &image.Importer{Sources: srcs}
	m, _, err := im.FindAny(ctx, rest[0])
	var nf *image.NotFoundError
	if errors.As(err, &nf) {
		return &cmdError{code: "ImageNotFound", status: 1, err: fmt.Errorf("image %q was not found", rest[0])}
	}
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
			if len(m.Files) > 0 && m.Files[0].Size > 0 {
				size = m.Files[0].Size
			}
			return c.bar(size, m.UUID)
		}
	}
	return im
}

// bar is a progress bar on stderr for size bytes (-1: unknown) of the
// image uuid (its first 8 characters name the bar); it is finished when
// closed.
func (c *cli) bar(size int64, uuid string) io.WriteCloser {
	if len(uuid) > 8 {
		uuid = uuid[:8]
	}
	return barCloser{progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(c.stderr),
		progressbar.OptionSetDescription(uuid),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(c.stderr) }),
		progressbar.OptionUseIECUnits(true),
	)}
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
		map[string]*string{"P": &o.p, "S": &o.src, "source": &o.src, "C": &o.channel, "channel": &o.channel})
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
		return usageErr("invalid image-id arg: %q", uuid)
	}
	if o.zstr {
		return &cmdError{code: "NotSupported", status: 1, err: errors.New("--zstream is not supported: hull's image files are tars, not zfs streams")}
	}
	s, err := c.open(o.p)
	if err != nil {
		return err
	}
	if have, err := s.Get(uuid); err == nil {
		fmt.Fprintf(c.stdout, "Image %s (%s %s) is already installed, skipping\n", uuid, have.Manifest.Name, have.Manifest.Version)
		return nil
	}
	srcs, err := c.sourcesIn(o.src, o.channel)
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
			fmt.Fprintf(c.stdout, "Image %s (%s@%s) was imported while waiting on lock\n", m.UUID, m.Name, m.Version)
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
	s, err := c.open("")
	if err != nil {
		return err
	}
	imgs, err := s.Images()
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		byUUID := map[string]*image.Image{}
		for _, img := range imgs {
			byUUID[img.Manifest.UUID] = img
		}
		var picked []*image.Image
		var missing []string
		for _, u := range rest {
			if img, ok := byUUID[u]; ok {
				picked = append(picked, img)
			} else {
				missing = append(missing, u)
			}
		}
		if len(missing) > 0 {
			return &cmdError{code: "Usage", status: 1, err: fmt.Errorf("no installed image with the given UUID(s): %s", strings.Join(missing, ", "))}
		}
		imgs = picked
	}
	srcs, ctx, cancel, err := c.sourcesContext()
	if err != nil {
		return err
	}
	defer cancel()
	im := &image.Importer{Sources: srcs}
	var errs []error
	for _, img := range imgs {
		if err := c.updateOne(ctx, s, im, img, dry); err != nil {
			errs = append(errs, err)
		}
	}
	return multiError(errs)
}

// updateOne brings one image's manifest up to its source's, and makes its
// @final snapshot if it has none, saying what it did as SmartOS does.
func (c *cli) updateOne(ctx context.Context, s *image.Store, im *image.Importer, img *image.Image, dry bool) error {
	m := img.Manifest
	nm, src, err := im.FindAny(ctx, m.UUID)
	if err != nil {
		if !errors.Is(err, image.ErrNotInSource) {
			return err
		}
		if m.Type != "docker" { // docker layers come from registries
			fmt.Fprintf(c.stdout, "warning: Could not find image %s in image sources (skipping)\n", m.UUID)
		}
		return nil
	}
	if diffs := manifestDiffs(m, nm); len(diffs) > 0 {
		plural := "s"
		if len(diffs) == 1 {
			plural = ""
		}
		msg := fmt.Sprintf("Updated %d manifest field%s for image %s from %q: %s", len(diffs), plural, m.UUID, src.URL(), strings.Join(diffs, ", "))
		if !dry {
			if err := s.UpdateManifest(nm, src.URL()); err != nil {
				return err
			}
		}
		fmt.Fprintln(c.stdout, msg)
	}
	if dry {
		return nil
	}
	took, err := s.EnsureFinal(m.UUID)
	if err != nil {
		return err
	}
	if took {
		fmt.Fprintf(c.stdout, "Created @final snapshot of image %s\n", m.UUID)
	}
	return nil
}

// manifestDiffs names the fields in which two manifests differ, as
// SmartOS's imgadm update lists them: fields of the new one that changed,
// then fields the new one dropped; requirements field by field.
func manifestDiffs(old, cur *image.Manifest) []string {
	a, b := fieldsOf(old), fieldsOf(cur)
	var diffs []string
	for _, k := range sortedKeys(b) {
		if k == "requirements" {
			if _, ok := a[k]; !ok {
				diffs = append(diffs, k)
			}
			continue
		}
		if !bytes.Equal(a[k], b[k]) {
			diffs = append(diffs, k)
		}
	}
	for _, k := range sortedKeys(a) {
		if _, ok := b[k]; !ok {
			diffs = append(diffs, k)
		}
	}
	if ra, rb := a["requirements"], b["requirements"]; ra != nil && rb != nil {
		var ma, mb map[string]json.RawMessage
		json.Unmarshal(ra, &ma)
		json.Unmarshal(rb, &mb)
		for _, k := range sortedKeys(mb) {
			if !bytes.Equal(ma[k], mb[k]) {
				diffs = append(diffs, "requirements."+k)
			}
		}
		for _, k := range sortedKeys(ma) {
			if _, ok := mb[k]; !ok {
				diffs = append(diffs, "requirements."+k)
			}
		}
	}
	return diffs
}

// fieldsOf is a manifest's fields as JSON, each in its canonical form.
func fieldsOf(m *image.Manifest) map[string]json.RawMessage {
	b, _ := json.Marshal(m)
	var out map[string]json.RawMessage
	json.Unmarshal(b, &out)
	for k, v := range out {
		var x any
		json.Unmarshal(v, &x)
		out[k], _ = json.Marshal(x) // map keys sorted
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.Sort(keys)
	return keys
}
