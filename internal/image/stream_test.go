package image

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// TestReadAheadHashes: what a readAhead hands out is its source, byte for
// byte, and each hash beside it sees the same bytes, whatever the size;
// a read error is passed on after the data before it.
func TestReadAheadHashes(t *testing.T) {
	for _, size := range []int{0, 1, readAheadChunk - 1, readAheadChunk, 3*readAheadChunk + 5, 9 * readAheadChunk} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 7 / 3)
		}
		s1, s256 := sha1.New(), sha256.New()
		ra := newReadAheadDepth(bytes.NewReader(data), 2, s1, s256)
		got, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(ra, 3)))
		if err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(ra)
		if err != nil {
			t.Fatal(err)
		}
		ra.hashed()
		ra.Close()
		if got = append(got, rest...); !bytes.Equal(got, data) {
			t.Errorf("size %d: read %d bytes, not the source", size, len(got))
		}
		if w := sha1.Sum(data); !bytes.Equal(s1.Sum(nil), w[:]) {
			t.Errorf("size %d: sha1 differs", size)
		}
		if w := sha256.Sum256(data); !bytes.Equal(s256.Sum(nil), w[:]) {
			t.Errorf("size %d: sha256 differs", size)
		}
	}

	boom := errors.New("connection reset")
	src := io.MultiReader(bytes.NewReader(make([]byte, readAheadChunk+10)), iotest.ErrReader(boom))
	ra := newReadAhead(src, sha1.New())
	n, err := io.Copy(io.Discard, ra)
	if !errors.Is(err, boom) || n != readAheadChunk+10 {
		t.Errorf("read %d bytes, then %v; want %d, then %v", n, err, readAheadChunk+10, boom)
	}
	ra.hashed()
	ra.Close()
}

// TestReadAheadClose: a readAhead closed before its end stops reading, and
// its hashers end too (hashed returns).
func TestReadAheadClose(t *testing.T) {
	r, w := io.Pipe()
	go func() {
		for {
			if _, err := w.Write(make([]byte, 64<<10)); err != nil {
				return
			}
		}
	}()
	ra := newReadAheadDepth(r, 2, sha1.New())
	if _, err := io.ReadFull(ra, make([]byte, readAheadChunk+1)); err != nil {
		t.Fatal(err)
	}
	ra.Close()
	r.Close() // ends a read in progress, as closing a blob does
	ra.hashed()
}
