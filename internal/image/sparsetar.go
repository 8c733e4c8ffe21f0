package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// An image file keeps its files' holes, as a ZFS stream does: a file with
// holes is written as a sparse entry of GNU's PAX format 1.0 (what
// `tar -S --format=posix --sparse-version=1.0` writes, and GNU tar,
// libarchive and Go read). Go's tar writer cannot write one, so the
// entry's headers are made here. Extraction keeps the holes of sparse
// entries of every GNU format, below.

// segment is a region of a file: its data, or in a map, where data is.
type segment struct{ off, len int64 }

// dataSegments gives the regions of f that hold data (SEEK_DATA and
// SEEK_HOLE), and whether f has a hole at all within size bytes.
func dataSegments(f *os.File, size int64) (segs []segment, holes bool, err error) {
	fd := int(f.Fd())
	for off := int64(0); off < size; {
		d, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // a hole to the end
		}
		if err != nil {
			return nil, false, fmt.Errorf("seek data: %w", err)
		}
		if d >= size {
			break
		}
		h, err := unix.Seek(fd, d, unix.SEEK_HOLE)
		if err != nil {
			return nil, false, fmt.Errorf("seek hole: %w", err)
		}
		h = min(h, size)
		segs = append(segs, segment{d, h - d})
		off = h
	}
	if _, err := unix.Seek(fd, 0, io.SeekStart); err != nil {
		return nil, false, err
	}
	holes = !(len(segs) == 1 && segs[0] == segment{0, size})
	return segs, holes && size > 0, nil
}

// sparseHeaders renders the headers of hdr's file as a sparse entry with
// data at segs: a PAX extended header (hdr's own records, the sparse
// ones, and mtime, ids and size), the entry's ustar header, and the
// sparse map that begins its data. The segments' bytes, then padding to
// a block, are to follow (sparsePadding).
func sparseHeaders(hdr *tar.Header, segs []segment) ([]byte, error) {
	if hdr.Size < 0 {
		return nil, fmt.Errorf("sparse %s: size %d", hdr.Name, hdr.Size)
	}
	end := int64(0)
	for _, s := range segs {
		if s.off < end || s.len < 0 || s.off+s.len > hdr.Size {
			return nil, fmt.Errorf("sparse %s: bad data region %d+%d", hdr.Name, s.off, s.len)
		}
		end = s.off + s.len
	}
	// The map: the number of regions, then each one's offset and length,
	// one number a line; a file ending in a hole ends with an empty
	// region at its size, as GNU tar writes it.
	if end < hdr.Size || len(segs) == 0 {
		segs = append(segs[:len(segs):len(segs)], segment{hdr.Size, 0})
	}
	var m []byte
	m = append(strconv.AppendInt(m, int64(len(segs)), 10), '\n')
	var data int64
	for _, s := range segs {
		m = append(strconv.AppendInt(m, s.off, 10), '\n')
		m = append(strconv.AppendInt(m, s.len, 10), '\n')
		data += s.len
	}
	m = append(m, make([]byte, blockPad(int64(len(m))))...)
	stored := int64(len(m)) + data

	recs := map[string]string{}
	for k, v := range hdr.PAXRecords {
		recs[k] = v
	}
	recs["GNU.sparse.major"] = "1"
	recs["GNU.sparse.minor"] = "0"
	recs["GNU.sparse.name"] = hdr.Name
	recs["GNU.sparse.realsize"] = strconv.FormatInt(hdr.Size, 10)
	recs["size"] = strconv.FormatInt(stored, 10)
	recs["uid"] = strconv.Itoa(hdr.Uid)
	recs["gid"] = strconv.Itoa(hdr.Gid)
	recs["mtime"] = paxTime(hdr.ModTime)
	keys := make([]string, 0, len(recs))
	for k := range recs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var pax []byte
	for _, k := range keys {
		pax = append(pax, paxRecord(k, recs[k])...)
	}

	var out bytes.Buffer
	out.Write(ustarHeader("PaxHeaders/GNUSparseFile", 0o644, int64(len(pax)), hdr.ModTime, tar.TypeXHeader))
	out.Write(pax)
	out.Write(make([]byte, blockPad(int64(len(pax)))))
	out.Write(ustarHeader("GNUSparseFile.0/file", hdr.Mode, stored, hdr.ModTime, tar.TypeReg))
	out.Write(m)
	return out.Bytes(), nil
}

// sparsePadding pads an entry's data of n bytes to a whole block.
func sparsePadding(segs []segment) []byte {
	var n int64
	for _, s := range segs {
		n += s.len
	}
	return make([]byte, blockPad(n))
}

func blockPad(n int64) int64 { return -n & 511 }

// paxRecord is "LEN KEY=VALUE\n", LEN counting the whole record.
func paxRecord(k, v string) string {
	body := " " + k + "=" + v + "\n"
	n := len(body)
	for size := n + len(strconv.Itoa(n)); ; size++ {
		if len(strconv.Itoa(size))+n == size {
			return strconv.Itoa(size) + body
		}
	}
}

// paxTime is t in seconds, with its fraction when it has one.
func paxTime(t time.Time) string {
	s := strconv.FormatInt(t.Unix(), 10)
	if ns := t.Nanosecond(); ns != 0 {
		s += "." + fmt.Sprintf("%09d", ns)
		s = string(bytes.TrimRight([]byte(s), "0"))
	}
	return s
}

// ustarHeader is one 512-byte ustar header block. Values too large for
// its fields are in the PAX header before it (ids, size); a field that
// cannot hold one is left 0.
func ustarHeader(name string, mode, size int64, mtime time.Time, typ byte) []byte {
	b := make([]byte, 512)
	octal := func(field []byte, v int64) {
		s := strconv.FormatInt(v, 8)
		if v < 0 || len(s) > len(field)-1 {
			s = "0"
		}
		copy(field, strings.Repeat("0", len(field)-1-len(s))+s)
	}
	copy(b[0:100], name)
	octal(b[100:108], mode&0o7777)
	octal(b[108:116], 0)
	octal(b[116:124], 0)
	octal(b[124:136], size)
	octal(b[136:148], mtime.Unix())
	b[156] = typ
	copy(b[257:263], "ustar\x00")
	copy(b[263:265], "00")
	// The checksum is of the block with its own field as spaces.
	copy(b[148:156], "        ")
	var sum int64
	for _, c := range b {
		sum += int64(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// sparseEntry tells whether hdr is a sparse file (GNU tar -S: an old
// GNU sparse header, or PAX records of GNU's sparse formats 0.0 to 1.0).
func sparseEntry(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for _, k := range []string{"GNU.sparse.major", "GNU.sparse.map", "GNU.sparse.numblocks", "GNU.sparse.size"} {
		if _, ok := hdr.PAXRecords[k]; ok {
			return true
		}
	}
	return false
}

// sparseFile writes a sparse entry's data to fd with holes where it has
// them (as ZFS receives a dataset's holes, and GNU tar extracts them).
// Go's tar reader reads holes as zeros and keeps the sparse map to
// itself, so every page of zeros in the entry is left a hole: the same
// contents. The write is made here, not by a writer; a writer finishes
// the file after it.
func (x *extractor) sparseFile(fd int, n string, hdr *tar.Header, r io.Reader) error {
	f := os.NewFile(uintptr(fd), n)
	pf := x.w.open(f, n, hdr)
	if err := x.writeSparse(f, hdr.Size, r); err != nil {
		x.w.drop(pf, nil)
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the name is said below
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("write %q: %w", n, err)
	}
	x.w.write(pf, nil, true)
	return nil
}

// sparsePage is the unit of a hole left in a sparse file.
const sparsePage = 4096

var zeroPage [sparsePage]byte

func (x *extractor) writeSparse(f *os.File, size int64, r io.Reader) error {
	if err := x.w.failure(); err != nil {
		return err
	}
	buf := make([]byte, copyBuffer)
	for off := int64(0); off < size; {
		k := int(min(size-off, int64(len(buf))))
		if _, err := io.ReadFull(r, buf[:k]); err != nil {
			return err
		}
		n, _, err := writeData(f, buf[:k], off)
		if err != nil {
			return err
		}
		if x.w.wrote != nil && n > 0 {
			x.w.wrote(n)
		}
		off += int64(k)
	}
	return f.Truncate(size) // a file that ends in a hole
}

// writeData writes buf at off in f, a new file, leaving each page of
// zeros (pages counted from the file's start) a hole: the file reads the
// same. Each run of other pages is one write. It returns the bytes
// written and the file offset where the last write ended (0: none); a
// file whose end is a hole needs a Truncate to its size.
func writeData(f *os.File, buf []byte, off int64) (written int, dataEnd int64, err error) {
	for i := 0; i < len(buf); {
		// The page holding off+i ends at end (within buf).
		end := min(i+sparsePage-int((off+int64(i))%sparsePage), len(buf))
		if isZero(buf[i:end]) {
			i = end
			continue
		}
		j := end
		for j < len(buf) {
			next := min(j+sparsePage, len(buf))
			if isZero(buf[j:next]) {
				break
			}
			j = next
		}
		if _, err := f.WriteAt(buf[i:j], off+int64(i)); err != nil {
			return written, dataEnd, err
		}
		written += j - i
		dataEnd = off + int64(j)
		i = j
	}
	return written, dataEnd, nil
}

// isZero says whether b (at most a page) is all zeros; most pages that
// are not say so at their first bytes.
func isZero(b []byte) bool {
	return len(b) > 0 && b[0] == 0 && bytes.Equal(b, zeroPage[:len(b)])
}
