package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Importer fetches images from sources into a Store.
type Importer struct {
	Store   *Store
	Sources []Source
	// Retries is how many times a failed download is resumed (default 3).
	Retries int
	// IdleTimeout ends a download that sends nothing for this long
	// (default 60 s); the download is then retried.
	IdleTimeout time.Duration
	// Progress, when set, gets a writer that sees every byte downloaded
	// for one image (a progress bar); it is closed at the end.
	Progress func(m *Manifest) io.WriteCloser
	// Log gets imgadm's progress lines ("Importing ...").
	Log io.Writer
}

// maxAncestry bounds an origin chain (and catches a loop in one).
const maxAncestry = 100

// Find returns the manifest of the active image uuid from the first
// source that has it (what import looks for). When none does, the error
// is a failed source's, or a *NotFoundError.
func (im *Importer) Find(ctx context.Context, uuid string) (*Manifest, Source, error) {
	return im.find(ctx, uuid, true)
}

// FindAny is Find for an image in any state (show and update, as
// SmartOS's imgadm looks them up).
func (im *Importer) FindAny(ctx context.Context, uuid string) (*Manifest, Source, error) {
	return im.find(ctx, uuid, false)
}

func (im *Importer) find(ctx context.Context, uuid string, active bool) (*Manifest, Source, error) {
	var errs []error
	for _, src := range im.Sources {
		m, err := src.Get(ctx, uuid)
		if err == nil && (!active || m.State == "" || m.State == "active") {
			return m, src, nil
		}
		if err != nil && !errors.Is(err, ErrNotInSource) {
			// A broken source does not hide the image in the next one, but
			// is said when no source has it.
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// No source has it, and one failed: its error says more.
		return nil, nil, errs[0]
	}
	return nil, nil, &NotFoundError{UUID: uuid}
}

// NotFoundError: no source has an active image with the uuid (SmartOS's
// ActiveImageNotFound).
type NotFoundError struct {
	UUID string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("an active image %q was not found in image sources", e.UUID)
}

func (e *NotFoundError) Unwrap() error { return ErrNotInSource }

// LockWaitMessage is what an import or install that waits for another's
// lock on the image (its uuid) says, as SmartOS's imgadm says it.
const LockWaitMessage = "Waiting for image %s import lock"

func (im *Importer) lockWait(uuid string) func() {
	return func() { im.logf(LockWaitMessage, uuid) }
}

func (im *Importer) logf(format string, args ...any) {
	if im.Log != nil {
		fmt.Fprintf(im.Log, format+"\n", args...)
	}
}

// Import fetches uuid, after any missing ancestors (origin chain), from
// the first source that has it. An installed image is returned as it is
// wrapped in an *AlreadyInstalledError.
func (im *Importer) Import(ctx context.Context, uuid string) (*Image, error) {
	if have, err := im.Store.Get(uuid); err == nil {
		return nil, &AlreadyInstalledError{Image: have}
	}
	m, src, err := im.Find(ctx, uuid)
	if err != nil {
		return nil, err
	}
	return im.ImportManifest(ctx, m, src)
}

// channeled is a source that names its channel (an IMGAPI with
// "?channel=NAME").
type channeled interface{ Channel() string }

// ImportManifest imports the image m from src, ancestors first, saying
// what it does as SmartOS's imgadm says it: the image, its ancestry (the
// ancestors already installed named), how much is to come, and each
// image downloaded and imported.
func (im *Importer) ImportManifest(ctx context.Context, m *Manifest, src Source) (*Image, error) {
	title := fmt.Sprintf("%s (%s@%s)", m.UUID, m.Name, m.Version)
	base := src.URL()
	if c, ok := src.(channeled); ok && c.Channel() != "" {
		u, _ := url.Parse(base)
		u.RawQuery = ""
		im.logf("Importing %s from %q, channel %q", title, u.String(), c.Channel())
	} else {
		im.logf("Importing %s from %q", title, base)
	}
	im.logf("Gather image %s ancestry", m.UUID)
	// The chain from m down to its base. Ancestors that are installed are
	// read from the store; the first installed one ends what is fetched.
	todo := []*Manifest{m}
	srcs := []Source{src}
	for cur, cs, fetching, n := m, src, true, 0; cur.Origin != ""; n++ {
		if n > maxAncestry {
			return nil, fmt.Errorf("image %s: origin chain longer than %d images", m.UUID, maxAncestry)
		}
		if have, err := im.Store.Get(cur.Origin); err == nil {
			im.logf("Image %s already installed", cur.Origin)
			fetching = false
			cur = have.Manifest
			continue
		} else if !fetching {
			break // below an installed image: whatever is there is its own
		}
		om, osrc, err := im.findIn(ctx, cs, cur.Origin)
		if err != nil {
			return nil, fmt.Errorf("image %s: origin: %w", cur.UUID, err)
		}
		todo = append(todo, om)
		srcs = append(srcs, osrc)
		cur, cs = om, osrc
	}
	var total int64
	sized := true
	for _, t := range todo {
		if len(t.Files) == 0 || t.Files[0].Size <= 0 {
			sized = false
			break
		}
		total += t.Files[0].Size
	}
	plural := "s"
	if len(todo) == 1 {
		plural = ""
	}
	if sized {
		im.logf("Must download and install %d image%s (%s)", len(todo), plural, HumanSize(total))
	} else {
		im.logf("Must download and install %d image%s", len(todo), plural)
	}
	var img *Image
	for i := len(todo) - 1; i >= 0; i-- {
		var err error
		img, err = im.fetch(ctx, todo[i], srcs[i])
		if errors.Is(err, ErrAlreadyInstalled) && i > 0 {
			continue // an ancestor another import brought meanwhile
		}
		if err != nil {
			return nil, err
		}
	}
	return img, nil
}

// findIn looks for an ancestor in the image's own source first. An
// origin is fetched whatever its state: an active image may stand on one
// that has been disabled since.
func (im *Importer) findIn(ctx context.Context, first Source, uuid string) (*Manifest, Source, error) {
	if m, err := first.Get(ctx, uuid); err == nil {
		return m, first, nil
	}
	return im.FindAny(ctx, uuid)
}

// HumanSize writes a byte count as SmartOS's imgadm does: one decimal,
// truncated, in binary units ("1.5 MiB").
func HumanSize(n int64) string {
	if n <= 0 {
		return "0 B"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for i < len(units)-1 && n >= int64(1)<<(10*(i+1)) {
		i++
	}
	whole := n >> (10 * i)
	tenth := (n - whole<<(10*i)) * 10 >> (10 * i)
	return fmt.Sprintf("%d.%d %s", whole, tenth, units[i])
}

// fetch downloads and installs one image whose origin is installed.
func (im *Importer) fetch(ctx context.Context, m *Manifest, src Source) (*Image, error) {
	if len(m.Files) == 0 {
		return nil, fmt.Errorf("image %s from %s has no file", m.UUID, src.URL())
	}
	dl := im.newDownload(ctx, "image "+m.UUID, src.URL(), m.Files[0].Size, func(ctx context.Context, off int64) (io.ReadCloser, error) {
		return src.OpenFile(ctx, m.UUID, off)
	})
	defer dl.Close()
	var r io.Reader = dl
	if im.Progress != nil {
		// Opened on the first byte, so that an image installed while we
		// waited for its lock shows no bar.
		pw := &lazyWriter{open: func() io.WriteCloser { return im.Progress(m) }}
		defer pw.Close()
		r = io.TeeReader(dl, pw)
	}
	img, err := im.Store.InstallStream(ctx, m, r, fileURL(src, m.UUID), InstallOptions{Source: src.URL(), Download: true, Waiting: im.lockWait(m.UUID)})
	if err != nil {
		return nil, err
	}
	im.logf("Downloaded image %s (%s)", m.UUID, HumanSize(dl.off))
	im.logf("Imported image %s (%s@%s)", m.UUID, m.Name, m.Version)
	return img, nil
}

// fileURL names an image file being downloaded in errors: where it
// comes from (GetImageFile's URL).
func fileURL(src Source, uuid string) string {
	u, err := url.Parse(src.URL())
	if err != nil {
		return src.URL()
	}
	u.RawQuery = ""
	u.Path = strings.TrimRight(u.Path, "/") + "/images/" + uuid + "/file"
	return u.String()
}

// download is an image file (or a docker layer blob) being read from a
// source. A read that fails (connection lost, server error, nothing for
// idle) is resumed from the byte it stopped at, up to retries times. As
// SmartOS's imgadm, it refuses a file whose Content-Length is not the
// manifest's size before reading it (the size and checksum of what is
// read are checked by the install; SmartOS checks the server's
// Content-MD5 only for a manifest without sha1, which hull does not
// accept).
type download struct {
	ctx     context.Context
	open    func(ctx context.Context, off int64) (io.ReadCloser, error)
	what    string // "image <uuid>", for messages
	from    string // the source's URL, for messages
	size    int64  // the manifest's; 0: not known
	retries int
	idle    time.Duration

	body     io.ReadCloser
	cancel   context.CancelFunc
	timer    *time.Timer
	timedOut atomic.Bool
	off      int64
	failures int
	err      error
}

// FileInfo is what a source may say of an image file as it starts to
// send it: its whole size (-1 if unknown).
type FileInfo interface {
	FileSize() int64
}

// resumedBody is resp's body, the file from offset on, when resp answers
// a GET with "Range: bytes=offset-": a server that ignores the range is
// read past the bytes already had. The body says the whole file's size
// as the headers do (FileInfo).
func resumedBody(resp *http.Response, offset int64) (io.ReadCloser, error) {
	fb := &fileBody{ReadCloser: resp.Body, size: resp.ContentLength}
	if offset > 0 && resp.StatusCode == http.StatusPartialContent {
		// The rest of the file ("bytes START-END/TOTAL"): its whole size
		// is in Content-Range, and it must start where asked.
		fb.size = -1
		cr := resp.Header.Get("Content-Range")
		span, total, _ := strings.Cut(strings.TrimPrefix(cr, "bytes "), "/")
		start, _, _ := strings.Cut(span, "-")
		if n, err := strconv.ParseInt(start, 10, 64); err != nil || n != offset {
			resp.Body.Close()
			return nil, fmt.Errorf("asked for the file from byte %d, the server sent Content-Range %q", offset, cr)
		}
		if n, err := strconv.ParseInt(total, 10, 64); err == nil {
			fb.size = n
		}
	} else if offset > 0 {
		if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
			resp.Body.Close()
			return nil, err
		}
	}
	return fb, nil
}

// fileBody is a file's body, and its whole size as the headers say it
// (see FileInfo).
type fileBody struct {
	io.ReadCloser
	size int64
}

func (f *fileBody) FileSize() int64 { return f.size }

// newDownload is a download of what from the source at from, whose
// bytes from off on open gives.
func (im *Importer) newDownload(ctx context.Context, what, from string, size int64, open func(ctx context.Context, off int64) (io.ReadCloser, error)) *download {
	d := &download{ctx: ctx, open: open, what: what, from: from, size: size, retries: im.Retries, idle: im.IdleTimeout}
	if d.retries == 0 {
		d.retries = 3
	}
	if d.idle == 0 {
		d.idle = 60 * time.Second
	}
	return d
}

func (d *download) start() error {
	ctx, cancel := context.WithCancel(d.ctx)
	d.timedOut.Store(false)
	timer := time.AfterFunc(d.idle, func() { d.timedOut.Store(true); cancel() })
	body, err := d.open(ctx, d.off)
	if err != nil {
		timer.Stop()
		cancel()
		return d.explain(err)
	}
	// The clock runs only while waiting for the server (see Read), not
	// while the consumer is busy.
	timer.Stop()
	if fi, ok := body.(FileInfo); ok {
		if n := fi.FileSize(); n >= 0 && d.size > 0 && n != d.size {
			body.Close()
			cancel()
			return &downloadError{fmt.Sprintf("%s file size error: unexpected mismatch between expected size, %d, and Content-Length header, %d", d.what, d.size, n)}
		}
	}
	d.body, d.cancel, d.timer = body, cancel, timer
	return nil
}

// downloadError is a file that is not what its manifest or its server
// says (SmartOS's DownloadError); it is not retried.
type downloadError struct{ msg string }

func (e *downloadError) Error() string { return e.msg }
func (e *downloadError) Unwrap() error { return ErrFileCorrupt }

// explain gives a failed request a message naming the source.
func (d *download) explain(err error) error {
	if d.timedOut.Load() {
		return fmt.Errorf("download %s from %s: timeout: no data for %s", d.what, d.from, d.idle)
	}
	return fmt.Errorf("download %s from %s: %w", d.what, d.from, err)
}

func (d *download) drop() {
	if d.body != nil {
		d.timer.Stop()
		d.cancel()
		d.body.Close()
		d.body = nil
	}
}

func (d *download) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	for {
		if d.ctx.Err() != nil {
			d.err = d.ctx.Err()
			return 0, d.err
		}
		var err error
		if d.body == nil {
			err = d.start()
		}
		if err == nil {
			var n int
			d.timer.Reset(d.idle)
			n, err = d.body.Read(p)
			d.timer.Stop()
			d.off += int64(n)
			if err == io.EOF {
				d.drop()
				return n, io.EOF
			}
			if n > 0 {
				if err != nil {
					d.drop() // resumed on the next call
				}
				return n, nil
			}
			if err != nil {
				err = d.explain(err)
			}
		}
		if err == nil {
			continue
		}
		d.drop()
		if !retryable(err) || d.failures >= d.retries || d.ctx.Err() != nil {
			if d.failures > 0 {
				err = &retriedError{err, d.failures + 1}
			}
			d.err = err
			return 0, err
		}
		d.failures++
		select {
		case <-time.After(time.Duration(d.failures*d.failures) * 200 * time.Millisecond):
		case <-d.ctx.Done():
		}
	}
}

// retriedError is a download's last error, after attempts.
type retriedError struct {
	err      error
	attempts int
}

func (e *retriedError) Error() string {
	// A server's message may end in a newline.
	return fmt.Sprintf("%s (after %d attempts)", strings.TrimRight(e.err.Error(), "\n"), e.attempts)
}

func (e *retriedError) Unwrap() error { return e.err }

// retryable: server errors, lost connections and timeouts are worth
// another try; a 4xx answer is not.
func retryable(err error) bool {
	if errors.Is(err, ErrFileCorrupt) {
		return false
	}
	status := 0
	var ae *APIError
	var te *transport.Error
	switch {
	case errors.As(err, &ae):
		status = ae.Status
	case errors.As(err, &te):
		status = te.StatusCode
	default:
		return true
	}
	return status >= 500 || status == http.StatusTooManyRequests
}

func (d *download) Close() error {
	d.drop()
	return nil
}

// lazyWriter opens its writer on the first write.
type lazyWriter struct {
	once sync.Once
	open func() io.WriteCloser
	w    io.WriteCloser
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	l.once.Do(func() { l.w = l.open() })
	if l.w == nil {
		return len(p), nil
	}
	return l.w.Write(p)
}

func (l *lazyWriter) Close() error {
	if l.w != nil {
		return l.w.Close()
	}
	return nil
}
