package image

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"
)

// TestTarStream: what a tar stream reads is its source, whether it is
// first read before, while or after the goroutine decompresses ahead,
// and the source's error comes after what was read before it.
func TestTarStream(t *testing.T) {
	data := make([]byte, 5*readAheadChunk+123)
	rand.Read(data)
	boom := errors.New("boom")
	for _, c := range []struct {
		name  string
		depth int
		wait  time.Duration // before the first read
		err   error         // the source's, after data
	}{
		{"read at once", 4, 0, nil},
		{"all ahead", 8, 100 * time.Millisecond, nil},
		{"part ahead", 2, 100 * time.Millisecond, nil},
		{"error after data, ahead", 8, 100 * time.Millisecond, boom},
		{"error after data, direct", 1, 0, boom},
	} {
		t.Run(c.name, func(t *testing.T) {
			var src io.Reader = bytes.NewReader(data)
			if c.err != nil {
				src = io.MultiReader(src, iotest.ErrReader(c.err))
			}
			ts := newTarStream(src, c.depth)
			defer ts.Close()
			time.Sleep(c.wait)
			got, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(ts, 1000)))
			if err != nil {
				t.Fatal(err)
			}
			rest, err := io.ReadAll(ts)
			got = append(got, rest...)
			if !bytes.Equal(got, data) || err != c.err {
				t.Errorf("read %d bytes (same: %v), error %v; want %d, %v", len(got), bytes.Equal(got, data), err, len(data), c.err)
			}
		})
	}
}

// TestInflater: the tar stream of a compressed blob, read to the blob's
// end; an error reading the blob wins over the
// decompressor's; a blob cut short is an error, not the stream's end.
func TestInflater(t *testing.T) {
	tarData := bytes.Repeat([]byte("layer "), 50000)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(tarData)
	w.Close()
	blob := gz.Bytes()
	netErr := errors.New("connection reset")

	// Whole: the stream to its end (its checksum checked), and the blob.
	raw := bytes.NewReader(blob)
	d := &inflater{raw: raw}
	got, err := io.ReadAll(d)
	if err != nil || !bytes.Equal(got, tarData) || raw.Len() != 0 || d.rawErr != nil {
		t.Errorf("whole blob: %d bytes, %v, %d left unread, raw error %v", len(got), err, raw.Len(), d.rawErr)
	}
	// Cut short: an error, never the stream's end.
	d = &inflater{raw: bytes.NewReader(gz.Bytes()[:gz.Len()/2])}
	if _, err := io.ReadAll(d); err != errTruncatedStream || d.rawErr != nil {
		t.Errorf("cut short: %v (raw %v)", err, d.rawErr)
	}
	// The blob's read fails: that is the error, kept apart.
	d = &inflater{raw: io.MultiReader(bytes.NewReader(gz.Bytes()[:gz.Len()/2]), iotest.ErrReader(netErr))}
	if _, err := io.ReadAll(d); err != netErr || d.rawErr != netErr {
		t.Errorf("failed read: %v (raw %v)", err, d.rawErr)
	}
	// Not compressed data at all: a plain tar passes as it is.
	d = &inflater{raw: bytes.NewReader(tarData)}
	if got, err := io.ReadAll(d); err != nil || !bytes.Equal(got, tarData) {
		t.Errorf("uncompressed: %d bytes, %v", len(got), err)
	}
}
