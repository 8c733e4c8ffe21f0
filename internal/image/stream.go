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
	hr := &hashReader{r: r, h: sha1.New(), failAt: failpointAt(want.Size)}
	ra := newReadAhead(hr)
	defer ra.Close()
	err := extractStream(ctx, ra, name, mountpoint, m.Origin != "")
	if err == nil {
		// The rest (tar padding, a compressed trailer) counts too.
		_, err = io.Copy(io.Discard, ra)
		if err == nil {
			return hr.check(name, m.UUID, want, download)
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
	if ferr := hr.check(name, m.UUID, want, download); ferr != nil {
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

// hashReader counts and hashes the bytes read through it.
type hashReader struct {
	r      io.Reader
	h      hash.Hash
	n      int64
	failAt int64 // > 0: the process kills itself after this many bytes
}

func (hr *hashReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	hr.n += int64(n)
	if hr.failAt > 0 && hr.n >= hr.failAt {
		unix.Kill(os.Getpid(), unix.SIGKILL)
		time.Sleep(time.Hour)
	}
	return n, err
}

// check compares what was read with the manifest's file. A download's
// errors are SmartOS's import's; a local file's name the file.
func (hr *hashReader) check(name, uuid string, want File, download bool) error {
	if want.Size > 0 && want.Size != hr.n {
		if download {
			return &fileError{fmt.Sprintf("image %s file size error: expected %d bytes, downloaded %d bytes", uuid, want.Size, hr.n)}
		}
		return &fileError{fmt.Sprintf("image file size error: manifest says %d bytes, %s is %d bytes", want.Size, name, hr.n)}
	}
	if want.SHA1 == "" {
		return nil
	}
	if got := hex.EncodeToString(hr.h.Sum(nil)); got != want.SHA1 {
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
// consumer.
type readAhead struct {
	chunks chan []byte
	free   chan []byte
	done   chan struct{}
	errc   chan error
	cur    []byte
	buf    []byte
	err    error
}

const (
	readAheadChunk = 1 << 20
	readAheadDepth = 4
)

func newReadAhead(r io.Reader) *readAhead { return newReadAheadDepth(r, readAheadDepth) }

// newReadAheadDepth reads up to depth chunks ahead.
func newReadAheadDepth(r io.Reader, depth int) *readAhead {
	ra := &readAhead{
		chunks: make(chan []byte, depth),
		free:   make(chan []byte, depth+1),
		done:   make(chan struct{}),
	}
	errc := make(chan error, 1)
	go func() {
		defer close(ra.chunks)
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
				select {
				case ra.chunks <- b[:n]:
				case <-ra.done:
					return
				}
			}
			if err != nil {
				if err == io.ErrUnexpectedEOF {
					err = io.EOF
				}
				errc <- err
				return
			}
		}
	}()
	ra.errc = errc
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		b, ok := <-ra.chunks
		if !ok {
			if ra.err == nil {
				ra.err = <-ra.errc
			}
			return 0, ra.err
		}
		ra.buf, ra.cur = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the reading goroutine (it may still finish one read).
func (ra *readAhead) Close() error {
	select {
	case <-ra.done:
	default:
		close(ra.done)
	}
	return nil
}
