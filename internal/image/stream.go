package image

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// InstallStream installs m's image from r, the image file as it arrives
// (a download): it is unpacked into <pool>/<uuid>-partial while its size
// and sha1 are computed, and only an image whose file matches the
// manifest becomes <pool>/<uuid>. name names the stream in errors.
func (s *Store) InstallStream(ctx context.Context, m *Manifest, r io.Reader, name string, opts InstallOptions) (*Image, error) {
	return s.install(ctx, m, opts, func(mountpoint string) error {
		return extractVerified(ctx, r, name, m, mountpoint, opts.Download)
	})
}

// extractVerified unpacks the image file r into mountpoint/root and checks
// it against the manifest. Reading (and hashing) runs ahead of unpacking
// in its own goroutine, so a download, its checksum and the writes to the
// pool overlap.
func extractVerified(ctx context.Context, r io.Reader, name string, m *Manifest, mountpoint string, download bool) error {
	var want File
	if len(m.Files) > 0 {
		want = m.Files[0]
	}
	cr := &countReader{r: r, failAt: failpointAt(want.Size)}
	sum := sha1.New()
	ra := newReadAhead(cr, sum)
	defer ra.Close()
	check := func() error {
		ra.hashed()
		return checkFile(cr.n, sum, name, m.UUID, want, download)
	}
	err := extractStream(ctx, ra, name, mountpoint, m.Origin != "")
	if err == nil {
		// The rest (tar padding, a compressed trailer) counts too.
		_, err = io.Copy(io.Discard, ra)
		if err == nil {
			return check()
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// Read to the end: a failed source (connection lost, timeout) is the
	// error rather than the unpacker's complaint about a short stream; a
	// cut-short or corrupt file is said more plainly by its size and
	// checksum than by the tar or gzip error.
	if _, derr := io.Copy(io.Discard, ra); derr != nil {
		return derr
	}
	if ferr := check(); ferr != nil {
		return ferr
	}
	return err
}

// extractStream unpacks a (compressed) tar stream into mountpoint/root in
// one pass. A tar whose entries all lie under root/ is a SmartOS dataset
// layout and is taken as is; any other tar is the root filesystem itself.
func extractStream(ctx context.Context, r io.Reader, name, mountpoint string, layered bool) error {
	zr, err := decompress(ctxReader{ctx, r})
	if err != nil {
		return fmt.Errorf("image file %s: %w", name, err)
	}
	defer zr.Close()
	root := filepath.Join(mountpoint, "root")

	if layered {
		// The origin's files are already in root/: the layer goes on top,
		// its layout decided by its first entry.
		if err := os.MkdirAll(root, 0o755); err != nil {
			return err
		}
		if _, err := extractTar(zr, root, extractOptions{whiteouts: true, autoStrip: true}); err != nil {
			return fmt.Errorf("image file %s: %w", name, err)
		}
		return nil
	}

	// Unpack into a staging directory and move the right part into place.
	stage := filepath.Join(mountpoint, ".hull-extract")
	if err := os.RemoveAll(stage); err != nil {
		return err
	}
	if err := os.Mkdir(stage, 0o755); err != nil {
		return err
	}
	allUnderRoot, err := extractTar(zr, stage, extractOptions{})
	if err != nil {
		return fmt.Errorf("image file %s: %w", name, err)
	}
	if allUnderRoot {
		if err := os.Rename(filepath.Join(stage, "root"), root); err != nil {
			return err
		}
		return os.RemoveAll(stage)
	}
	return os.Rename(stage, root)
}

// countReader counts the bytes read through it.
type countReader struct {
	r      io.Reader
	n      int64
	failAt int64 // > 0: the process kills itself after this many bytes
}

func (cr *countReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n += int64(n)
	if cr.failAt > 0 && cr.n >= cr.failAt {
		unix.Kill(os.Getpid(), unix.SIGKILL)
		time.Sleep(time.Hour)
	}
	return n, err
}

// checkFile compares what was read (n bytes whose sha1 is sum) with the
// manifest's file. A download's errors are SmartOS's import's; a local
// file's name the file.
func checkFile(n int64, sum hash.Hash, name, uuid string, want File, download bool) error {
	if want.Size > 0 && want.Size != n {
		if download {
			return &fileError{fmt.Sprintf("image %s file size error: expected %d bytes, downloaded %d bytes", uuid, want.Size, n)}
		}
		return &fileError{fmt.Sprintf("image file size error: manifest says %d bytes, %s is %d bytes", want.Size, name, n)}
	}
	if want.SHA1 == "" {
		return nil
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != want.SHA1 {
		if download {
			return &fileError{fmt.Sprintf("image %s file checksum (sha1) error: expected %q, downloaded checksum was %q", uuid, want.SHA1, got)}
		}
		return &fileError{fmt.Sprintf("image file checksum (sha1) error: manifest says %q, %s is %q", want.SHA1, name, got)}
	}
	return nil
}

// failpointAt is where HULL_FAILPOINT=image/mid-extract kills an install:
// half-way through the file, so tests can check what a crash leaves.
func failpointAt(size int64) int64 {
	if os.Getenv("HULL_FAILPOINT") != "image/mid-extract" {
		return 0
	}
	if size < 2 {
		return 1
	}
	return size / 2
}

// readAhead reads its source in a goroutine, a few chunks ahead of its
// consumer. Each hash it is given is computed in a goroutine of its own,
// so a checksum costs a download or an unpacking no time of its own: a
// chunk goes back to be read into once all who hold it are done with it.
type readAhead struct {
	chunks chan *chunk
	free   chan []byte
	done   chan struct{}
	errc   chan error
	cur    *chunk
	rest   []byte
	err    error
	hashes sync.WaitGroup // the hashers, which end after the reader
	read   chan struct{}  // closed when the reader has ended
}

// chunk is one read, held by the consumer and the hashers.
type chunk struct {
	b    []byte
	refs atomic.Int32
}

const (
	readAheadChunk = 1 << 20
	readAheadDepth = 4
)

func newReadAhead(r io.Reader, hashes ...io.Writer) *readAhead {
	return newReadAheadDepth(r, readAheadDepth, hashes...)
}

// newReadAheadDepth reads up to depth chunks ahead; each of hashes is
// given every byte read.
func newReadAheadDepth(r io.Reader, depth int, hashes ...io.Writer) *readAhead {
	ra := &readAhead{
		chunks: make(chan *chunk, depth),
		free:   make(chan []byte, depth+1),
		done:   make(chan struct{}),
		errc:   make(chan error, 1),
		read:   make(chan struct{}),
	}
	// At most depth+1 chunks exist, so no queue ever blocks a send.
	queues := make([]chan *chunk, len(hashes))
	for i, h := range hashes {
		q := make(chan *chunk, depth+1)
		queues[i] = q
		ra.hashes.Add(1)
		go func() {
			defer ra.hashes.Done()
			for c := range q {
				h.Write(c.b)
				ra.release(c)
			}
		}()
	}
	go func() {
		defer close(ra.read)
		defer close(ra.chunks)
		defer func() {
			for _, q := range queues {
				close(q)
			}
		}()
		made := 0 // chunks are made as they are first needed
		for {
			var b []byte
			select {
			case b = <-ra.free:
			case <-ra.done:
				return
			default:
				if made <= depth {
					b = make([]byte, readAheadChunk)
					made++
					break
				}
				select {
				case b = <-ra.free:
				case <-ra.done:
					return
				}
			}
			n, err := io.ReadFull(r, b)
			if n > 0 {
				c := &chunk{b: b[:n]}
				c.refs.Store(int32(1 + len(queues)))
				for _, q := range queues {
					q <- c
				}
				select {
				case ra.chunks <- c:
				case <-ra.done:
					return
				}
			}
			if err != nil {
				if err == io.ErrUnexpectedEOF {
					err = io.EOF
				}
				ra.errc <- err
				return
			}
		}
	}()
	return ra
}

// release gives a chunk back once its last holder is done with it.
func (ra *readAhead) release(c *chunk) {
	if c.refs.Add(-1) == 0 {
		ra.free <- c.b[:cap(c.b)]
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.rest) == 0 {
		if ra.cur != nil {
			ra.release(ra.cur)
			ra.cur = nil
		}
		c, ok := <-ra.chunks
		if !ok {
			if ra.err == nil {
				ra.err = <-ra.errc
			}
			return 0, ra.err
		}
		ra.cur, ra.rest = c, c.b
	}
	n := copy(p, ra.rest)
	ra.rest = ra.rest[n:]
	return n, nil
}

// hashed waits until the hashes have been given everything read. Only
// for a readAhead read to its end (or closed).
func (ra *readAhead) hashed() { ra.hashes.Wait() }

// Close stops the reading goroutine (it may still finish one read); the
// hashers stop after it.
func (ra *readAhead) Close() error {
	closeOnce(ra.done)
	return nil
}

// closeOnce closes ch unless it is closed already (by the same
// goroutine: closeOnce is not for concurrent use).
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}
