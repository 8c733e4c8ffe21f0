package image

import (
	"sync"

	"golang.org/x/sys/unix"

	"hull/internal/pool/mounts"
)

// writeback starts the writeback of extracted files as soon as each is
// written, so that the sync which ends an install finds most of the data
// on disk already and the disk works while the archive is unpacked.
//
// sync_file_range does nothing on an overlayfs file (its page cache is
// the upper file's, which the overlay does not pass the call on to), so
// when the extraction goes through an overlay (a dir-pool dataset) the
// file is reached again beneath the overlay's upper directory.
type writeback struct {
	// upperPath is the extraction root's place in the overlay's upper
	// directory ("": not an overlay). In a clone it appears only when
	// the first entry is written beneath it (overlayfs copies the
	// directory up then), so it is opened at the first file.
	upperPath string
	mu        sync.Mutex // file writers start writeback side by side
	upper     int        // upperPath opened; -1: not yet
}

// overlayMagic is overlayfs's statfs f_type.
const overlayMagic = 0x794c7630

// newWriteback prepares writeback for files extracted beneath root.
func newWriteback(root string) *writeback {
	w := &writeback{upper: -1}
	var st unix.Statfs_t
	if unix.Statfs(root, &st) != nil || st.Type != overlayMagic {
		return w
	}
	if upper, err := mounts.OverlayUpper(root); err == nil {
		w.upperPath = upper
	}
	return w
}

// upperFD is the extraction root beneath the upper directory, -1 when
// there is none (yet).
func (w *writeback) upperFD() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.upper < 0 && w.upperPath != "" {
		if fd, err := unix.Open(w.upperPath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			w.upper = fd
		}
	}
	return w.upper
}

// start begins writing back fd, the extracted file at rel (beneath the
// extraction root).
func (w *writeback) start(fd int, rel string) {
	if w.upperPath == "" {
		_ = unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
		return
	}
	upper := w.upperFD()
	if upper < 0 {
		return // only a hint
	}
	how := &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	real, err := unix.Openat2(upper, rel, how)
	if err != nil {
		return
	}
	_ = unix.SyncFileRange(real, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	unix.Close(real)
}

func (w *writeback) close() {
	if w.upper >= 0 {
		unix.Close(w.upper)
		w.upper = -1
	}
}
