package pool

import (
	"fmt"
	"strings"
)

// MaxSnapLen is the longest snapshot name (the part after '@').
const MaxSnapLen = 128

// maxNameLen keeps a dataset's mountpoint a single valid path component.
const maxNameLen = 200

// ParseName splits "<pool>/<name>[@<snap>]" into name and snap (snap is ""
// for a dataset). name is [A-Za-z0-9_.:-]+ (not "." or ".."), snap is
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
	if s == "" || s == "." || s == ".." || len(s) > maxNameLen {
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
