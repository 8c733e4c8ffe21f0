// Package storedir is what the pool drivers do alike with the directory
// that keeps a pool: readying it, locking it across processes, and
// naming the entries they make in it.
package storedir

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Open readies store for a pool driver of kind ("dir", "btrfs"): it
// checks the pool name, runs check on store (when not nil, before
// anything is written), makes store's subdirectories and mountRoot, and
// returns both resolved, since the mount table shows resolved paths and
// the drivers compare theirs with it.
func Open(kind, store, mountRoot, poolName string, check func(store string) error, subdirs ...string) (string, string, error) {
	fail := func(err error) (string, string, error) {
		return "", "", fmt.Errorf("open %s pool: %w", kind, err)
	}
	if poolName == "" || strings.ContainsAny(poolName, "/@") {
		return fail(fmt.Errorf("bad pool name %q", poolName))
	}
	if check != nil {
		if err := check(store); err != nil {
			return fail(err)
		}
	}
	for _, p := range subdirs {
		if err := os.MkdirAll(filepath.Join(store, p), 0o700); err != nil {
			return fail(err)
		}
	}
	if err := os.MkdirAll(mountRoot, 0o755); err != nil {
		return fail(err)
	}
	st, err := Resolve(store)
	if err != nil {
		return fail(err)
	}
	mr, err := Resolve(mountRoot)
	if err != nil {
		return fail(err)
	}
	return st, mr, nil
}

// Resolve makes p absolute and free of symbolic links.
func Resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// NewID names a new entry (a layer, a temporary directory): 16 random
// hex digits.
func NewID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}
