package image

import (
	"context"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"sync"
)

// layerFetch is a layer blob on its way in: opened and read by a
// goroutine that keeps up to layerAhead bytes ahead of the unpacking, so
// a layer's download overlaps the unpacking of the layer below, and
// hashed beside it (sha256, against its digest) when reading it does not
// check that already. As in SmartOS, a docker layer's checksum is its
// digest: no sha1 is computed.
type layerFetch struct {
	blob   *lazyBlob
	sum    hash.Hash // sha256 of the blob; nil when reading it checks that
	counts *countReader
	ra     *readAhead
	// tar is the layer's tar stream: decompressed ahead while the layer
	// below is unpacked, then as it is read.
	tar      *tarStream
	inflate  *inflater     // tar's source
	progress *heldProgress // the bar of the blob's bytes; nil for none
}

// layerAhead is how far (in readAheadChunk chunks) a layer blob is
// fetched ahead of its unpacking, and layerTarAhead how far its tar
// stream is decompressed ahead.
const (
	layerAhead    = 8
	layerTarAhead = 32
)

func newLayerFetch(ctx context.Context, m *Manifest, open func() (io.ReadCloser, error), verified bool, after <-chan struct{}, progress func() io.WriteCloser) *layerFetch {
	f := &layerFetch{blob: &lazyBlob{open: open, after: after, closed: make(chan struct{})}}
	var hashes []io.Writer
	if !verified {
		f.sum = sha256.New()
		hashes = append(hashes, f.sum)
	}
	f.counts = &countReader{r: ctxReader{ctx, f.blob}, failAt: failpointAt(m.Files[0].Size)}
	f.ra = newReadAheadDepth(f.counts, layerAhead, hashes...)
	var raw io.Reader = f.ra
	if progress != nil {
		f.progress = &heldProgress{lazyWriter: lazyWriter{open: progress}}
		raw = io.TeeReader(raw, f.progress)
	}
	f.inflate = &inflater{raw: raw}
	f.tar = newTarStream(f.inflate, layerTarAhead)
	if f.progress != nil {
		f.tar.onStart = f.progress.show
	}
	return f
}

// heldProgress is a layer's progress bar, shown only once its unpacking
// starts (one bar at a time on the terminal): the bytes read ahead
// before that are counted, and shown then.
type heldProgress struct {
	lazyWriter
	shown bool
	held  int
}

func (h *heldProgress) Write(p []byte) (int, error) {
	if !h.shown {
		h.held += len(p)
		return len(p), nil
	}
	return h.lazyWriter.Write(p)
}

// show shows the bar, with what was read so far. Not concurrent with
// Write: the reading ahead has stopped.
func (h *heldProgress) show() {
	h.shown = true
	var zeros [64 << 10]byte
	for h.held > 0 {
		n := min(h.held, len(zeros))
		h.lazyWriter.Write(zeros[:n])
		h.held -= n
	}
}

// Close stops the fetch and closes the blob.
func (f *layerFetch) Close() {
	f.tar.Close()
	f.ra.Close()
	f.blob.Close()
	if f.progress != nil {
		f.progress.Close()
	}
}

// inflater reads a layer blob's tar stream, whatever its compression.
// Where the stream ends, or fails, it reads the rest of the blob, which
// counts too (it is hashed and its size checked); an error reading the
// blob (a download that fails, a digest that does not match) is kept
// apart, as rawErr, and is the stream's error too: it says more than
// the decompressor's. A stream that ends early is an error, never EOF.
type inflater struct {
	raw    io.Reader
	zr     io.ReadCloser
	err    error
	rawErr error
}

func (d *inflater) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.zr == nil {
		zr, err := decompress(d.raw)
		if err != nil {
			d.end(err)
			return 0, d.err
		}
		d.zr = zr
	}
	n, err := d.zr.Read(p)
	if err != nil {
		d.end(err)
	}
	return n, d.err
}

func (d *inflater) end(err error) {
	if _, rerr := io.Copy(io.Discard, d.raw); rerr != nil {
		d.rawErr, err = rerr, rerr
	} else if err == io.ErrUnexpectedEOF {
		err = errTruncatedStream
	}
	if d.zr != nil {
		d.zr.Close()
	}
	d.err = err
}

// tarStream is a layer's tar stream. Until it is first read, a goroutine
// decompresses it, up to depth chunks, so that a layer is decompressed
// while the one below is unpacked: gzip is one stream a layer, read on
// one CPU, and for compressible content the slowest step of an import.
// At the first read the goroutine stops; what it made is read, then the
// rest is decompressed as it is read, into the reader's buffers (not
// copied once more).
type tarStream struct {
	src     io.Reader
	chunks  chan []byte
	stop    chan struct{}
	stopped chan struct{}
	err     error    // the error that ended the goroutine's reading
	last    []byte   // a chunk made when the goroutine was stopped
	started bool     // the goroutine was stopped; made holds what it made
	onStart func()   // run at the first read, once the goroutine has stopped
	made    [][]byte // to be read before src
	cur     []byte   // the chunk rest is of
	rest    []byte
}

// chunks is where decompressed chunks go once read, for the next layer's
// tar stream: an import then reuses the memory it has, which on a
// machine whose memory is lent by a hypervisor costs far less than new.
var chunks = sync.Pool{New: func() any { return new([readAheadChunk]byte) }}

func getChunk() []byte { return chunks.Get().(*[readAheadChunk]byte)[:] }

func putChunk(b []byte) { chunks.Put((*[readAheadChunk]byte)(b[:readAheadChunk])) }

func newTarStream(src io.Reader, depth int) *tarStream {
	t := &tarStream{src: src, chunks: make(chan []byte, depth), stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(t.stopped)
		defer close(t.chunks)
		for {
			select {
			case <-t.stop:
				return
			default:
			}
			b := getChunk()
			n, err := io.ReadFull(src, b)
			if n > 0 {
				select {
				case t.chunks <- b[:n]:
				case <-t.stop:
					t.last = b[:n]
					return
				}
			}
			if err != nil {
				if err == io.ErrUnexpectedEOF {
					err = io.EOF
				}
				t.err = err
				return
			}
		}
	}()
	return t
}

func (t *tarStream) Read(p []byte) (int, error) {
	if !t.started {
		t.started = true
		t.Close()
		<-t.stopped
		if t.onStart != nil {
			t.onStart()
		}
		// What was made: the chunks queued, then one that found the
		// queue full.
		for b := range t.chunks {
			t.made = append(t.made, b)
		}
		if t.last != nil {
			t.made = append(t.made, t.last)
		}
	}
	for len(t.rest) == 0 {
		if t.cur != nil {
			putChunk(t.cur)
			t.cur = nil
		}
		if len(t.made) == 0 {
			if t.err != nil {
				return 0, t.err
			}
			return t.src.Read(p)
		}
		t.cur, t.rest, t.made = t.made[0], t.made[0], t.made[1:]
	}
	n := copy(p, t.rest)
	t.rest = t.rest[n:]
	return n, nil
}

// Close stops the goroutine (it may finish one read).
func (t *tarStream) Close() error {
	closeOnce(t.stop)
	return nil
}

// errTruncatedStream is a compressed stream that ends early.
var errTruncatedStream = errors.New("unexpected end of compressed stream")

// lazyBlob opens its stream at the first read, so the request is made by
// the goroutine reading ahead, and not before after is closed (the
// download before it has ended) or the blob is.
type lazyBlob struct {
	open   func() (io.ReadCloser, error)
	after  <-chan struct{}
	closed chan struct{}
	mu     sync.Mutex
	rc     io.ReadCloser
	err    error
	shut   bool
}

func (b *lazyBlob) Read(p []byte) (int, error) {
	if b.after != nil {
		select {
		case <-b.after:
		case <-b.closed:
		}
	}
	b.mu.Lock()
	if b.rc == nil && b.err == nil {
		if b.shut {
			b.err = io.ErrClosedPipe
		} else {
			b.rc, b.err = b.open()
		}
	}
	rc, err := b.rc, b.err
	b.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return rc.Read(p)
}

// Close closes the stream (a read in progress returns), or keeps one from
// being opened.
func (b *lazyBlob) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.shut {
		close(b.closed)
	}
	b.shut = true
	if b.rc != nil {
		return b.rc.Close()
	}
	return nil
}
