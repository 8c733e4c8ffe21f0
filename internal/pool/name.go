package pool

import (
	"fmt"
	"strings"
)

// MaxSnapLen is the longest snapshot name (the part after '@').
const MaxSnapLen = 128

// maxNameLen keeps a dataset's name, with its slashes encoded, a single
// valid path component (drivers keep a dataset under one directory).
const maxNameLen = 200

// ParseName splits "<pool>/<name>[@<snap>]" into name and snap (snap is ""
// for a dataset). name is one or more components joined by '/' (a child
// dataset, as "<uuid>/data"), each [A-Za-z0-9_.:-]+ (not "." or ".."),
// snap is
// [A-Za-z0-9_.:%-]{1,64}. Anything else, or another pool, is
// ErrInvalidName. Drivers share it so that every driver accepts the same
// names.
func ParseName(poolName, full string) (name, snap string, err error) {
	rest, ok := strings.CutPrefix(full, poolName+"/")
	if !ok {
		return "", "", fmt.Errorf("%q is not in pool %q: %w", full, poolName, ErrInvalidName)
	}
	name, snap, isSnap := strings.Cut(rest, "@")
	if !validName(name) {
		return "", "", fmt.Errorf("%q: bad dataset name: %w", full, ErrInvalidName)
	}
	if isSnap && !validSnap(snap) {
		return "", "", fmt.Errorf("%q: bad snapshot name: %w", full, ErrInvalidName)
	}
	return name, snap, nil
}

func validName(s string) bool {
	if len(s) > maxNameLen {
		return false
	}
	for _, c := range strings.Split(s, "/") {
		if !validComponent(c) {
			return false
		}
	}
	return true
}

func validComponent(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, c := range s {
		if !isAlnum(c) && !strings.ContainsRune("_.:-", c) {
			return false
		}
	}
	return true
}

func validSnap(s string) bool {
	if s == "" || len(s) > MaxSnapLen {
		return false
	}
	for _, c := range s {
		if !isAlnum(c) && !strings.ContainsRune("_.:%-", c) {
			return false
		}
	}
	return true
}

func isAlnum(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ParseKind is ParseName that also wants a kind of name: "dataset" (no
// '@'), "snapshot" (with one) or "" (either).
func ParseKind(poolName, full, kind string) (name, snap string, err error) {
	name, snap, err = ParseName(poolName, full)
	if err != nil {
		return "", "", err
	}
	if kind == "dataset" && snap != "" || kind == "snapshot" && snap == "" {
		return "", "", fmt.Errorf("%q is not a %s: %w", full, kind, ErrInvalidName)
	}
	return name, snap, nil
}

// NotFound is ErrNotFound naming the missing dataset or snapshot.
func NotFound(full string) error { return fmt.Errorf("%s: %w", full, ErrNotFound) }

// ParseDataset splits the name of a dataset for an operation that
// snapshots do not take, with the errors every driver gives: a bad name
// is "<op>: …", a snapshot is "<onSnap>: " ErrSnapshotNotRO.
func ParseDataset(poolName, full, op, onSnap string) (string, error) {
	name, snap, err := ParseKind(poolName, full, "")
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	if snap != "" {
		return "", fmt.Errorf("%s: %w", onSnap, ErrSnapshotNotRO)
	}
	return name, nil
}

// ParseRename splits the names of a rename: a dataset renamed, or a
// snapshot renamed within its dataset.
func ParseRename(poolName, oldFull, newFull string) (oldName, oldSnap, newName, newSnap string, err error) {
	if oldName, oldSnap, err = ParseKind(poolName, oldFull, ""); err == nil {
		newName, newSnap, err = ParseKind(poolName, newFull, "")
	}
	if err != nil {
		return "", "", "", "", fmt.Errorf("rename: %w", err)
	}
	if (oldSnap == "") != (newSnap == "") || oldSnap != "" && oldName != newName {
		return "", "", "", "", fmt.Errorf("rename %s to %s: a snapshot stays a snapshot of the same dataset: %w",
			oldFull, newFull, ErrInvalidName)
	}
	return oldName, oldSnap, newName, newSnap, nil
}

// Parent is the name of a child dataset's parent, "" for a top-level
// dataset (names without the pool, as ParseName returns them).
func Parent(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}
