// Package atomicfile replaces files so that readers see the old content
// or the new, never a part: a temporary file in the same directory,
// renamed over the old one.
package atomicfile

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
)

// Options say how the new file is made and how durable its replacement is.
type Options struct {
	Mode os.FileMode // permissions of the new file
	// Sync flushes the file before the rename, so a host crash leaves the
	// old content or the whole new one. SyncDir also flushes the
	// directory after it, so the rename itself survives a crash.
	Sync, SyncDir bool
}

// Write replaces path with b.
func Write(path string, b []byte, o Options) error {
	return WriteFrom(path, bytes.NewReader(b), o)
}

// WriteFrom replaces path with what r reads, to its end; a failed read
// leaves path as it was.
func WriteFrom(path string, r io.Reader, o Options) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename there is nothing to remove
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Chmod(o.Mode)
	}
	if err == nil && o.Sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if o.SyncDir {
		return Sync(dir)
	}
	return nil
}

// Sync flushes a file or a directory (its entries) to disk.
func Sync(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
