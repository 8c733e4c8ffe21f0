// Package xattr reads a file's extended attributes, never following a
// symlink: the one reading that copies, streams and images of datasets
// share.
package xattr

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// List names p's extended attributes; none where the filesystem has no
// support for them.
func List(p string) ([]string, error) {
	for {
		n, err := unix.Llistxattr(p, nil)
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil || n == 0 {
			if err != nil {
				err = fmt.Errorf("list xattrs of %s: %w", p, err)
			}
			return nil, err
		}
		buf := make([]byte, n)
		n, err = unix.Llistxattr(p, buf)
		if errors.Is(err, unix.ERANGE) {
			continue // grew in between
		}
		if err != nil {
			return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
		}
		var out []string
		for _, b := range bytes.Split(buf[:n], []byte{0}) {
			if len(b) > 0 {
				out = append(out, string(b))
			}
		}
		return out, nil
	}
}

// Get reads one of p's extended attributes; a missing one is ENODATA.
func Get(p, name string) ([]byte, error) {
	for {
		n, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			return nil, fmt.Errorf("get xattr %s of %s: %w", name, p, err)
		}
		buf := make([]byte, n)
		n, err = unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			continue // grew in between
		}
		if err != nil {
			return nil, fmt.Errorf("get xattr %s of %s: %w", name, p, err)
		}
		return buf[:n], nil
	}
}

// All reads p's extended attributes but those skip (if not nil) refuses;
// one removed while they are read is left out. nil when there are none.
func All(p string, skip func(name string) bool) (map[string]string, error) {
	names, err := List(p)
	if err != nil {
		return nil, err
	}
	var out map[string]string
	for _, name := range names {
		if skip != nil && skip(name) {
			continue
		}
		v, err := Get(p, name)
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = string(v)
	}
	return out, nil
}
