package manifest

import (
	"fmt"
	"path"
	"strings"
)

// FMRI is a parsed service or file FMRI.
type FMRI struct {
	Service  string // "network/ssh" (no "svc:/" prefix); empty for files
	Instance string // "default"; empty for a service FMRI
	File     string // absolute path for file:// FMRIs
}

// ParseFMRI accepts "svc:/a/b:inst", "svc:/a/b", "a/b:inst", "a/b",
// "svc://localhost/a/b" and "file://localhost/path", "file:///path".
func ParseFMRI(s string) (FMRI, error) {
	orig := s
	if rest, ok := strings.CutPrefix(s, "file://"); ok {
		rest = strings.TrimPrefix(rest, "localhost")
		if !strings.HasPrefix(rest, "/") {
			return FMRI{}, fmt.Errorf("invalid FMRI %q: file path must be absolute", orig)
		}
		return FMRI{File: path.Clean(rest)}, nil
	}
	if rest, ok := strings.CutPrefix(s, "svc:"); ok {
		rest = strings.TrimPrefix(rest, "//localhost")
		s = strings.TrimPrefix(rest, "/")
	}
	if s == "" {
		return FMRI{}, fmt.Errorf("invalid FMRI %q", orig)
	}
	f := FMRI{Service: s}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		f.Service, f.Instance = s[:i], s[i+1:]
		if f.Instance == "" || !validName(f.Instance) {
			return FMRI{}, fmt.Errorf("invalid FMRI %q: bad instance name", orig)
		}
	}
	for _, part := range strings.Split(f.Service, "/") {
		if !validName(part) {
			return FMRI{}, fmt.Errorf("invalid FMRI %q: bad service name", orig)
		}
	}
	return f, nil
}

// validName checks an SMF name component: letters, digits, '-', '_',
// '.', ',' and starting with a letter or digit.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && (r == '-' || r == '_' || r == '.' || r == ','):
		default:
			return false
		}
	}
	return true
}

// String gives the canonical form: "svc:/svc:inst", "svc:/svc" or
// "file://localhost/path".
func (f FMRI) String() string {
	switch {
	case f.File != "":
		return "file://localhost" + f.File
	case f.Instance != "":
		return "svc:/" + f.Service + ":" + f.Instance
	}
	return "svc:/" + f.Service
}

// IsFile reports whether f names a file.
func (f FMRI) IsFile() bool { return f.File != "" }

// Canonical returns s in canonical form, or s unchanged if it does not parse.
func Canonical(s string) string {
	f, err := ParseFMRI(s)
	if err != nil {
		return s
	}
	return f.String()
}

// LogName is the instance's log file name under /var/svc/log:
// "network-ssh:default.log".
func LogName(fmri string) string {
	f, err := ParseFMRI(fmri)
	if err != nil {
		return strings.NewReplacer("/", "-", ":", "-").Replace(fmri) + ".log"
	}
	return strings.ReplaceAll(f.Service, "/", "-") + ":" + f.Instance + ".log"
}

// Match reports whether an svcs/svcadm pattern names fmri: the full
// FMRI, the FMRI without "svc:/", the service part (all its instances),
// a trailing run of its components ("ssh", "ssh:default"), or a shell
// glob over the full FMRI.
func Match(pattern, fmri string) bool {
	if strings.ContainsAny(pattern, "*?[") {
		p := pattern
		if !strings.HasPrefix(p, "svc:") && !strings.HasPrefix(p, "lrc:") && !strings.HasPrefix(p, "*") {
			p = "svc:/" + p
		}
		return glob(p, fmri) || glob(pattern, fmri)
	}
	if pattern == fmri {
		return true
	}
	body := strings.TrimPrefix(fmri, "svc:/")
	p := strings.TrimPrefix(strings.TrimPrefix(pattern, "svc:"), "/")
	if p == "" {
		return false
	}
	svc := body
	if i := strings.LastIndexByte(body, ':'); i >= 0 {
		svc = body[:i]
	}
	for _, cand := range []string{body, svc} {
		if cand == p || strings.HasSuffix(cand, "/"+p) {
			return !strings.HasPrefix(pattern, "svc:/") || cand == p
		}
	}
	return false
}

// glob matches a shell pattern in which '*' also spans '/'.
func glob(pattern, s string) bool {
	hide := strings.NewReplacer("/", "\x00")
	ok, _ := path.Match(hide.Replace(pattern), hide.Replace(s))
	return ok
}

// Milestones svcadm milestone accepts besides all and none.
var majorMilestones = []string{
	"svc:/milestone/single-user:default",
	"svc:/milestone/multi-user:default",
	"svc:/milestone/multi-user-server:default",
}

// MajorMilestone resolves what svcadm milestone was given: all, none, or
// a major milestone named in full or by a trailing part ("multi-user",
// "milestone/multi-user", with or without ":default").
func MajorMilestone(m string) (string, bool) {
	if m == "all" || m == "none" {
		return m, true
	}
	for _, ms := range majorMilestones {
		k := strings.Index(ms, m)
		if m == "" || k < 0 {
			continue
		}
		end := k + len(m)
		if (k == 0 || ms[k-1] == '/') && (end == len(ms) || ms[end] == ':') {
			return ms, true
		}
	}
	return "", false
}
