// Package stream is the vmadm send/receive stream: a VM object and the
// content of each of its datasets, cut into checksummed chunks so that a
// corrupted or truncated stream is rejected before anything of it is
// kept. The format is documented in docs/send.md; Writer and Reader are
// its only producer and consumer.
//
// A stream is a sequence of chunks. Each chunk is a 512-byte header
// followed by its payload (not padded). The header holds NUL-separated
// fields in its first 448 bytes and, in its last 64, the hex SHA-256 of
// those 448 bytes:
//
//	magic "HULL-VMBUNDLE", version "1", type, name, payload size,
//	payload SHA-256 (hex), extra
//
// Types, in stream order:
//
//	JSON    the VM object (name "JSON")
//	DATASET start of a dataset (name = dataset, extra = content format "tar")
//	DATA    up to 1 MiB of the dataset's content
//	DSEND   end of a dataset (extra = "<bytes>:<sha256 of all its content>")
//	END     end of the stream (extra = "<datasets>:<sha256 of every byte
//	        of the stream before this header>")
//
// A stream without its END chunk is truncated; any checksum that does not
// match, or a chunk out of order, makes it corrupt.
package stream

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
)

// Magic and Version open every chunk header.
const (
	Magic   = "HULL-VMBUNDLE"
	Version = "1"
)

const (
	headerSize = 512
	fieldsSize = headerSize - 64
	// BlockSize is the largest DATA payload a Writer makes.
	BlockSize = 1 << 20
	// maxPayload bounds what a Reader accepts in one chunk (a VM object
	// or a data block), so a corrupt size cannot make it allocate much.
	maxPayload = 16 << 20
)

// Chunk types.
const (
	TypeJSON    = "JSON"
	TypeDataset = "DATASET"
	TypeData    = "DATA"
	TypeDSEnd   = "DSEND"
	TypeEnd     = "END"
)

// FormatTar is the one dataset content format: a POSIX (PAX) tar of the
// dataset's tree, see Pack.
const FormatTar = "tar"

// Errors a Reader returns (wrapped).
var (
	ErrCorrupt   = errors.New("stream is corrupt")
	ErrTruncated = errors.New("stream is truncated")
)

type header struct {
	typ, name string
	size      int64
	sum       string // hex sha256 of the payload
	extra     string
}

func (h header) encode() ([]byte, error) {
	fields := strings.Join([]string{Magic, Version, h.typ, h.name, strconv.FormatInt(h.size, 10), h.sum, h.extra}, "\x00")
	if len(fields) >= fieldsSize || strings.Contains(h.name, "\x00") || strings.Contains(h.extra, "\x00") {
		return nil, fmt.Errorf("stream: header for %s %q does not fit", h.typ, h.name)
	}
	b := make([]byte, headerSize)
	copy(b, fields)
	s := sha256.Sum256(b[:fieldsSize])
	hex.Encode(b[fieldsSize:], s[:])
	return b, nil
}

func decodeHeader(b []byte) (header, error) {
	s := sha256.Sum256(b[:fieldsSize])
	if hex.EncodeToString(s[:]) != string(b[fieldsSize:]) {
		if !bytes.HasPrefix(b, []byte(Magic+"\x00")) {
			return header{}, fmt.Errorf("not a vmadm send stream (bad magic): %w", ErrCorrupt)
		}
		return header{}, fmt.Errorf("chunk header checksum mismatch: %w", ErrCorrupt)
	}
	f := strings.SplitN(string(b[:fieldsSize]), "\x00", 8)
	if len(f) != 8 || strings.Trim(f[7], "\x00") != "" || f[0] != Magic {
		return header{}, fmt.Errorf("bad chunk header: %w", ErrCorrupt)
	}
	if f[1] != Version {
		return header{}, fmt.Errorf("stream version %q is not supported (this node reads version %s)", f[1], Version)
	}
	size, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil || size < 0 || size > maxPayload {
		return header{}, fmt.Errorf("bad chunk size %q: %w", f[4], ErrCorrupt)
	}
	return header{typ: f[2], name: f[3], size: size, sum: f[5], extra: f[6]}, nil
}

func sumHex(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// Writer writes a stream.
type Writer struct {
	w        io.Writer
	all      hash.Hash // every byte written so far
	datasets int
	open     bool // a dataset is being written
	err      error
}

// NewWriter starts a stream on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w, all: sha256.New()} }

func (w *Writer) chunk(h header, payload []byte) error {
	if w.err != nil {
		return w.err
	}
	s := sha256.Sum256(payload)
	h.size, h.sum = int64(len(payload)), hex.EncodeToString(s[:])
	b, err := h.encode()
	if err != nil {
		return err
	}
	for _, p := range [][]byte{b, payload} {
		if _, err := w.w.Write(p); err != nil {
			w.err = fmt.Errorf("write stream: %w", err)
			return w.err
		}
		w.all.Write(p)
	}
	return nil
}

// JSON writes the VM object; it comes first.
func (w *Writer) JSON(obj []byte) error {
	return w.chunk(header{typ: TypeJSON, name: "JSON"}, obj)
}

// Dataset starts the content of a dataset; write its content (a tar made
// by Pack) to the returned writer and close it before the next call.
func (w *Writer) Dataset(name string) (io.WriteCloser, error) {
	if w.open {
		return nil, errors.New("stream: previous dataset not closed")
	}
	if err := w.chunk(header{typ: TypeDataset, name: name, extra: FormatTar}, nil); err != nil {
		return nil, err
	}
	w.open = true
	return &dataWriter{w: w, name: name, sum: sha256.New(), buf: make([]byte, 0, BlockSize)}, nil
}

// Close ends the stream.
func (w *Writer) Close() error {
	if w.open {
		return errors.New("stream: dataset not closed")
	}
	if w.err != nil {
		return w.err
	}
	b, err := header{typ: TypeEnd, name: "END", sum: hex.EncodeToString(sha256.New().Sum(nil)),
		extra: fmt.Sprintf("%d:%s", w.datasets, sumHex(w.all))}.encode()
	if err != nil {
		return err
	}
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("write stream: %w", err)
	}
	return nil
}

type dataWriter struct {
	w     *Writer
	name  string
	sum   hash.Hash
	total int64
	buf   []byte
}

func (d *dataWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), BlockSize-len(d.buf))
		d.buf = append(d.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(d.buf) == BlockSize {
			if err := d.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (d *dataWriter) flush() error {
	if len(d.buf) == 0 {
		return nil
	}
	if err := d.w.chunk(header{typ: TypeData, name: d.name}, d.buf); err != nil {
		return err
	}
	d.sum.Write(d.buf)
	d.total += int64(len(d.buf))
	d.buf = d.buf[:0]
	return nil
}

func (d *dataWriter) Close() error {
	if err := d.flush(); err != nil {
		return err
	}
	d.w.open = false
	d.w.datasets++
	return d.w.chunk(header{typ: TypeDSEnd, name: d.name, extra: fmt.Sprintf("%d:%s", d.total, sumHex(d.sum))}, nil)
}
