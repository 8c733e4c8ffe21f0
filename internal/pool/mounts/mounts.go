// Package mounts reads the mount table and takes mounts down, for the
// pool drivers, which both keep their datasets mounted under one root and
// make the kernel agree with their records after a crash.
package mounts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Entry is one line of /proc/self/mountinfo.
type Entry struct {
	Root   string // the mounted directory within its filesystem
	Target string
	FSType string
	Source string
	Upper  string // overlay upperdir, "" otherwise
}

// Read returns the mount table of this process's mount namespace, in
// mount order.
func Read() ([]Entry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 2 {
			continue
		}
		m := Entry{Root: unescape(f[3]), Target: unescape(f[4]), FSType: g[0], Source: unescape(g[1])}
		if m.FSType == "overlay" && len(g) >= 3 {
			for _, o := range strings.Split(g[2], ",") {
				if v, ok := strings.CutPrefix(o, "upperdir="); ok {
					m.Upper = unescape(v)
				}
			}
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// Under lists the targets of the mounts below dir, deepest first (the
// order to take them down in).
func Under(dir string) ([]string, error) {
	table, err := Read()
	var out []string
	for _, m := range table {
		if strings.HasPrefix(m.Target, dir+"/") {
			out = append(out, m.Target)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, err
}

// TopAt is the visible mount at target (the last one mounted there), nil
// if none.
func TopAt(table []Entry, target string) *Entry {
	var top *Entry
	for i := range table {
		if table[i].Target == target {
			top = &table[i]
		}
	}
	return top
}

// OverlayUpper returns where the files under dir really are when dir is
// in an overlay mount: the same path below the overlay's upper
// directory ("" when dir is not in an overlay, or the overlay has no
// upper). The visible mount that holds dir is the last one mounted at
// the longest target that is dir or a parent of it.
func OverlayUpper(dir string) (string, error) {
	table, err := Read()
	if err != nil {
		return "", err
	}
	return overlayUpperIn(table, dir), nil
}

func overlayUpperIn(table []Entry, dir string) string {
	var best *Entry
	for i := range table {
		m := &table[i]
		if m.Target == dir || strings.HasPrefix(dir, strings.TrimSuffix(m.Target, "/")+"/") {
			if best == nil || len(m.Target) >= len(best.Target) {
				best = m
			}
		}
	}
	if best == nil || best.FSType != "overlay" || best.Upper == "" {
		return ""
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(dir, best.Target), "/")
	if rel == "" {
		return best.Upper
	}
	return best.Upper + "/" + rel
}

// Unmount removes every mount stacked on target. With detach, a busy
// mount is detached lazily (callers use it when the content is about to
// be thrown away or replaced); without, EBUSY is returned. A target that
// is not a mount point is no error.
func Unmount(target string, detach bool) error {
	for range 64 {
		err := unix.Unmount(target, unix.UMOUNT_NOFOLLOW)
		if errors.Is(err, unix.EBUSY) && detach {
			err = unix.Unmount(target, unix.UMOUNT_NOFOLLOW|unix.MNT_DETACH)
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil // not (or no longer) a mount point
		default:
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
	return fmt.Errorf("unmount %s: too many stacked mounts", target)
}

// IsMountRoot tells whether p is the root of a mount (statx: no walk of
// the mount table, which is slow on hosts with many mounts).
func IsMountRoot(p string) bool {
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC, 0, &stx)
	return err == nil && stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
}

// unescape undoes the kernel's octal escapes (\040 for space, …).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		if len(s) >= 4 && s[0] == '\\' {
			if c, err := strconv.ParseUint(s[1:4], 8, 8); err == nil {
				b.WriteByte(byte(c))
				s = s[4:]
				continue
			}
		}
		b.WriteByte(s[0])
		s = s[1:]
	}
	return b.String()
}
