package stream

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Reader reads a stream, checking every checksum before handing out any
// byte of a chunk.
type Reader struct {
	r        io.Reader
	all      hash.Hash // every byte read so far
	datasets int
	cur      *dataReader
	done     bool
}

// NewReader reads a stream from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r, all: sha256.New()} }

// readFull reads exactly len(b) bytes; a short read is truncation.
func (r *Reader) readFull(b []byte) error {
	if _, err := io.ReadFull(r.r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("stream ends early: %w", ErrTruncated)
		}
		return fmt.Errorf("read stream: %w", err)
	}
	return nil
}

// chunk reads the next header and its payload, both verified. The END
// header's own bytes are not part of the whole-stream sum it carries.
func (r *Reader) chunk() (header, []byte, error) {
	hb := make([]byte, headerSize)
	if err := r.readFull(hb); err != nil {
		return header{}, nil, err
	}
	h, err := decodeHeader(hb)
	if err != nil {
		return header{}, nil, err
	}
	if h.typ == TypeEnd {
		return h, nil, nil
	}
	r.all.Write(hb)
	p := make([]byte, h.size)
	if err := r.readFull(p); err != nil {
		return header{}, nil, err
	}
	s := sha256.Sum256(p)
	if hex.EncodeToString(s[:]) != h.sum {
		return header{}, nil, fmt.Errorf("%s chunk of %q: checksum mismatch: %w", h.typ, h.name, ErrCorrupt)
	}
	r.all.Write(p)
	return h, p, nil
}

// JSON reads the VM object, the stream's first chunk.
func (r *Reader) JSON() ([]byte, error) {
	h, p, err := r.chunk()
	if err != nil {
		return nil, err
	}
	if h.typ != TypeJSON {
		return nil, fmt.Errorf("unable to find JSON in stream (first chunk is %s): %w", h.typ, ErrCorrupt)
	}
	return p, nil
}

// Next returns the next dataset's name and content (a tar made by Pack).
// The content reader returns io.EOF only once the dataset's end and its
// whole-content checksum have been read and verified; drain it before
// calling Next again. After the last dataset Next verifies the stream's
// end and returns io.EOF.
func (r *Reader) Next() (string, io.Reader, error) {
	if r.done {
		return "", nil, io.EOF
	}
	if r.cur != nil && !r.cur.ended {
		return "", nil, errors.New("stream: previous dataset not read to its end")
	}
	h, _, err := r.chunk()
	if err != nil {
		return "", nil, err
	}
	switch h.typ {
	case TypeDataset:
		if h.extra != FormatTar {
			return "", nil, fmt.Errorf("dataset %q: content format %q is not supported", h.name, h.extra)
		}
		r.cur = &dataReader{r: r, name: h.name, sum: sha256.New()}
		return h.name, r.cur, nil
	case TypeEnd:
		want := fmt.Sprintf("%d:%s", r.datasets, sumHex(r.all))
		if h.extra != want {
			return "", nil, fmt.Errorf("stream end does not match its content: %w", ErrCorrupt)
		}
		r.done = true
		return "", nil, io.EOF
	}
	return "", nil, fmt.Errorf("unexpected %s chunk: %w", h.typ, ErrCorrupt)
}

type dataReader struct {
	r     *Reader
	name  string
	sum   hash.Hash
	total int64
	buf   []byte
	ended bool
}

func (d *dataReader) Read(p []byte) (int, error) {
	for len(d.buf) == 0 {
		if d.ended {
			return 0, io.EOF
		}
		h, payload, err := d.r.chunk()
		if err != nil {
			return 0, err
		}
		if h.name != d.name {
			return 0, fmt.Errorf("chunk of %q inside dataset %q: %w", h.name, d.name, ErrCorrupt)
		}
		switch h.typ {
		case TypeData:
			d.sum.Write(payload)
			d.total += int64(len(payload))
			d.buf = payload
		case TypeDSEnd:
			if h.extra != fmt.Sprintf("%d:%s", d.total, sumHex(d.sum)) {
				return 0, fmt.Errorf("dataset %q: content does not match its checksum: %w", d.name, ErrCorrupt)
			}
			d.ended = true
			d.r.datasets++
		default:
			return 0, fmt.Errorf("unexpected %s chunk in dataset %q: %w", h.typ, d.name, ErrCorrupt)
		}
	}
	n := copy(p, d.buf)
	d.buf = d.buf[n:]
	return n, nil
}
