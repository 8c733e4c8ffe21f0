package image

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"fmt"
	"io"

	bzip2w "github.com/dsnet/compress/bzip2"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// sniffCompression names an image file's compression, found by its magic
// bytes rather than trusted from the manifest.
func sniffCompression(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip"
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	case bytes.HasPrefix(head, []byte("BZh")):
		return "bzip2"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return "xz"
	}
	return "none"
}

// decompress wraps r in the decompressor its first bytes call for.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(6)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read image file: %w", err)
	}
	switch c := sniffCompression(head); c {
	case "gzip":
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case "zstd":
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	case "bzip2":
		return io.NopCloser(bzip2.NewReader(br)), nil
	case "xz":
		zr, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		return io.NopCloser(zr), nil
	default:
		return io.NopCloser(br), nil
	}
}

// compressionExt is the suffix an image file of each compression gets
// after ".tar": one for each of Compressions.
var compressionExt = map[string]string{"none": "", "gzip": ".gz", "bzip2": ".bz2", "xz": ".xz", "zstd": ".zst"}

// compressor wraps w in a writer of comp, one of compressionExt's.
func compressor(w io.Writer, comp string) (io.WriteCloser, error) {
	switch comp {
	case "gzip":
		return gzip.NewWriter(w), nil
	case "bzip2":
		return bzip2w.NewWriter(w, nil)
	case "zstd":
		return zstd.NewWriter(w)
	case "xz":
		return xz.NewWriter(w)
	case "none":
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("unsupported compression %q", comp)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
