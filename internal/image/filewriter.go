package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fileWriters writes the contents of extracted files, on goroutines of
// their own on btrfs: there most of an extraction's CPU is the kernel's
// buffered-write path, which also blocks now and then (with the writes
// inline, a quarter of two CPUs sat idle during a docker import), and
// two writers unpack the image about 10% sooner. Elsewhere the writes are
// made inline: on an overlay of ext4, where a write is cheap and does
// not wait, writers made a docker import on two CPUs 5–10% slower (each
// layer's sync found more still to write), though one large image file
// went faster.
//
// Pages of zeros are left holes (writeData), as ZFS with compression on
// stores them: a layer's sparse files (lastlog, faillog, disk images)
// come as runs of zeros, since docker writes plain tar, and unpacked
// whole they would take their full size.
//
// A file's chunks all go to one writer, in order; the writer finishes
// the file (owner, mode, xattrs, times) after its last chunk and closes
// it. The extraction only ends once every writer is done, so nothing
// written later (a hard link to the file, a whiteout removing it, its
// directory's times) sees it half written.
type fileWriters struct {
	queues []chan writeJob
	next   int // the queue the next file goes to
	free   chan []byte
	made   int // buffers made so far, at most cap(free)
	chunk  int // size of a buffer
	wb     *writeback
	attrs  func(fd int, n string, hdr *tar.Header) error
	wrote  func(n int) // extractOptions.wrote
	wg     sync.WaitGroup
	failed atomic.Bool
	mu     sync.Mutex
	err    error // the first failure
	closed bool
}

// writeJob is a chunk of a file, or its end.
type writeJob struct {
	f    *pendingFile
	data []byte // a buffer of free's; nil for none
	end  bool   // after data, the file is complete: finish and close it
	drop bool   // the extraction failed: close the file
}

// pendingFile is a file being written.
type pendingFile struct {
	f    *os.File
	name string
	hdr  *tar.Header
	q    chan writeJob
	off  int64 // the bytes of the file queued before this job
	end  int64 // the end of its last write: beyond is a hole so far
}

const (
	// writeBuffers bounds the file data in flight to the writers: two
	// for each writer (one written, one waiting) and some for the
	// extracting goroutine to fill. More were no faster on btrfs.
	writeBuffers = 8
	// maxFileWriters caps the writers on a big machine: one goroutine
	// decompresses for all of them.
	maxFileWriters = 4
)

// fileWritersFor is the number of writers for an extraction beneath dir:
// one per CPU, at most maxFileWriters, on btrfs; none elsewhere.
func fileWritersFor(dir string) int {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil || st.Type != unix.BTRFS_SUPER_MAGIC {
		return 0
	}
	return min(runtime.GOMAXPROCS(0), maxFileWriters)
}

// newFileWriters starts n writers with buffers of chunk bytes; with n 0,
// each chunk is written as it is queued, by the caller.
func newFileWriters(n, chunk int, wb *writeback, attrs func(fd int, n string, hdr *tar.Header) error) *fileWriters {
	buffers := writeBuffers
	if n == 0 {
		buffers = 1
	}
	w := &fileWriters{free: make(chan []byte, buffers), chunk: chunk, wb: wb, attrs: attrs}
	for range n {
		q := make(chan writeJob, writeBuffers)
		w.queues = append(w.queues, q)
		w.wg.Add(1)
		go w.run(q)
	}
	return w
}

// open hands f, just created for the entry n, to a writer.
func (w *fileWriters) open(f *os.File, n string, hdr *tar.Header) *pendingFile {
	pf := &pendingFile{f: f, name: n, hdr: hdr}
	if len(w.queues) > 0 {
		pf.q = w.queues[w.next]
		w.next = (w.next + 1) % len(w.queues)
	}
	return pf
}

// buffer returns a buffer to fill, waiting for one when all are in use,
// or the writers' failure.
func (w *fileWriters) buffer() ([]byte, error) {
	if err := w.failure(); err != nil {
		return nil, err
	}
	select {
	case b := <-w.free:
		return b, nil
	default:
	}
	if w.made < cap(w.free) {
		w.made++
		return make([]byte, w.chunk), nil
	}
	b := <-w.free
	if err := w.failure(); err != nil {
		w.free <- b
		return nil, err
	}
	return b, nil
}

// write queues data (a buffer from buffer) of pf; end completes pf.
func (w *fileWriters) write(pf *pendingFile, data []byte, end bool) {
	w.queue(writeJob{f: pf, data: data, end: end})
}

// drop closes pf without finishing it; a buffer not queued goes back.
func (w *fileWriters) drop(pf *pendingFile, unused []byte) {
	if unused != nil {
		w.free <- unused[:cap(unused)]
	}
	w.queue(writeJob{f: pf, drop: true})
}

func (w *fileWriters) queue(j writeJob) {
	if j.f.q == nil {
		w.do(j)
		return
	}
	j.f.q <- j
}

// failure is the first error of a writer, if any.
func (w *fileWriters) failure() error {
	if !w.failed.Load() {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *fileWriters) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.failed.Store(true)
}

// close waits for the writers to finish what was queued and returns the
// first error. With abort, queued work is dropped (files are closed, not
// written). close may be called again; it then returns nil.
func (w *fileWriters) close(abort bool) error {
	if w.closed {
		return nil
	}
	w.closed = true
	if abort {
		w.fail(errors.New("extraction aborted"))
	}
	for _, q := range w.queues {
		close(q)
	}
	w.wg.Wait()
	if abort {
		return nil
	}
	return w.failure()
}

func (w *fileWriters) run(q chan writeJob) {
	defer w.wg.Done()
	for j := range q {
		w.do(j)
	}
}

// do carries out one job.
func (w *fileWriters) do(j writeJob) {
	pf := j.f
	if j.data != nil {
		if !w.failed.Load() {
			n, end, err := writeData(pf.f, j.data, pf.off)
			if err != nil {
				// A write error names the file already.
				var pe *os.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				w.fail(fmt.Errorf("write %q: %w", pf.name, err))
			} else if n > 0 && w.wrote != nil {
				w.wrote(n)
			}
			pf.off += int64(len(j.data))
			if n > 0 {
				pf.end = end
			}
		}
		w.free <- j.data[:cap(j.data)]
	}
	if !j.end && !j.drop {
		return
	}
	if j.end && !w.failed.Load() {
		if err := w.finish(pf); err != nil {
			w.fail(err)
		}
	}
	pf.f.Close()
}

// finish starts the file's writeback and sets its owner, mode, xattrs
// and times, times last: the writes changed them. It runs only after all
// of the file's hdr.Size bytes were written.
func (w *fileWriters) finish(pf *pendingFile) error {
	fd := int(pf.f.Fd())
	if pf.end < pf.off {
		// The file ends in zeros, left a hole.
		if err := unix.Ftruncate(fd, pf.off); err != nil {
			return fmt.Errorf("write %q: %w", pf.name, err)
		}
	}
	if pf.hdr.Size >= writebackMin {
		w.wb.start(fd, pf.name)
	}
	if err := w.attrs(fd, pf.name, pf.hdr); err != nil {
		return err
	}
	ts := []unix.Timespec{timespec(pf.hdr.AccessTime, pf.hdr.ModTime), timespec(pf.hdr.ModTime, pf.hdr.ModTime)}
	if err := futimens(fd, ts); err != nil {
		return fmt.Errorf("set times of %q: %w", pf.name, err)
	}
	return nil
}

// futimens sets the times of the file open at fd: utimensat with a NULL
// path, which the kernel takes as fd itself whatever fd's type.
func futimens(fd int, ts []unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
