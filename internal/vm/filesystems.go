package vm

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Filesystems are extra mounts (SmartOS's filesystems array), keyed by
// target.

// newFilesystem builds a Filesystem from a validated entry.
func newFilesystem(o *object) (Filesystem, error) {
	var fs Filesystem
	b, err := json.Marshal(entryMap("filesystems", o))
	if err != nil {
		return fs, fmt.Errorf("filesystem: %w", err)
	}
	if err := json.Unmarshal(b, &fs); err != nil {
		return fs, fmt.Errorf("filesystem: %w", err)
	}
	return fs, nil
}

// createFilesystems checks and builds the payload's filesystems.
func createFilesystems(v *VM, p *object) error {
	entries, _ := p.vals["filesystems"].([]any)
	for _, el := range entries {
		fs, err := newFilesystem(el.(*object))
		if err != nil {
			return err
		}
		v.Filesystems = append(v.Filesystems, fs)
	}
	return checkFilesystems(v.Filesystems, Bool(v.Docker, false))
}

// IsURLSource tells whether a filesystem's source is an http or https
// URL: a docker VM's host volume, a file the node fetches at each boot
// (SmartOS's docker:hostvolumes).
func IsURLSource(source string) bool {
	return strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://")
}

// isBindType reports filesystem types mounted from a host path.
func isBindType(t string) bool { return t == "" || t == "lofs" || t == "bind" }

// checkFilesystems: every target is an absolute path used once; lofs
// mounts name their host source, or with urls (a docker VM being
// created) an http(s) URL.
func checkFilesystems(fss []Filesystem, urls bool) error {
	seen := map[string]bool{}
	for _, fs := range fss {
		if fs.Target == "" {
			return &ValidationError{MissingProperties: []string{"filesystems.*.target"}}
		}
		if !path.IsAbs(fs.Target) {
			return &ValidationError{BadValues: []string{"filesystems.*.target"}}
		}
		t := path.Clean(fs.Target)
		if seen[t] {
			return fmt.Errorf("Cannot add multiple filesystems with the same target: %s", fs.Target)
		}
		seen[t] = true
		if isBindType(fs.Type) {
			if fs.Source == "" {
				return &ValidationError{MissingProperties: []string{"filesystems.*.source"}}
			}
			if !path.IsAbs(fs.Source) && !(urls && IsURLSource(fs.Source)) {
				return &ValidationError{BadValues: []string{"filesystems.*.source"}}
			}
		}
	}
	return nil
}

// updateFilesystems applies update_filesystems (by target),
// remove_filesystems (targets) and add_filesystems.
func updateFilesystems(next *VM, p *object) error {
	adds, _ := p.vals["add_filesystems"].([]any)
	updates, _ := p.vals["update_filesystems"].([]any)
	removes, _ := asList(p.vals["remove_filesystems"])
	if len(adds) == 0 && len(updates) == 0 && len(removes) == 0 {
		return nil
	}
	for _, el := range updates {
		o := el.(*object)
		target, _ := o.vals["target"].(string)
		i := slices.IndexFunc(next.Filesystems, func(f Filesystem) bool { return path.Clean(f.Target) == path.Clean(target) })
		if i < 0 {
			return fmt.Errorf("There is no existing filesystem with target %s", target)
		}
		b, err := json.Marshal(entryMap("filesystems", o))
		if err != nil {
			return fmt.Errorf("update filesystem %s: %w", target, err)
		}
		if err := json.Unmarshal(b, &next.Filesystems[i]); err != nil {
			return fmt.Errorf("update filesystem %s: %w", target, err)
		}
	}
	for _, t := range removes {
		next.Filesystems = slices.DeleteFunc(next.Filesystems, func(f Filesystem) bool { return path.Clean(f.Target) == path.Clean(t) })
	}
	for _, el := range adds {
		fs, err := newFilesystem(el.(*object))
		if err != nil {
			return err
		}
		next.Filesystems = append(next.Filesystems, fs)
	}
	return checkFilesystems(next.Filesystems, false)
}
