package imgapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"hull/internal/image"
)

// listImages is ListImages: filters, then published_at order, then
// marker (inclusive: images published at or after it) and limit.
func (s *Server) listImages(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	// IMGAPI returns at most 1000 images a call, whatever the limit.
	limit := 1000
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return invalid("limit", "invalid limit: %q", v)
		}
		if n > 0 && n < limit {
			limit = n
		}
	}
	desc := false
	switch q.Get("sort") {
	case "", "published_at", "published_at.asc":
	case "published_at.desc":
		desc = true
	default:
		return invalid("sort", "invalid 'sort': not a valid sorting attribute: %q", q.Get("sort"))
	}
	// Without the token only active images exist, as on an IMGAPI that
	// is not in "dc" mode: other states list nothing, "all" lists the
	// active ones.
	state := q.Get("state")
	switch state {
	case "":
		state = "active"
	case "active":
	case "all":
		if !s.authorized(r) {
			state = "active"
		}
	case "disabled", "unactivated", "creating", "failed":
		if !s.authorized(r) {
			writeJSON(w, 200, []*image.Manifest{})
			return nil
		}
	default:
		return invalid("state", "invalid state: %q", state)
	}
	match, err := filters(q, state)
	if err != nil {
		return err
	}
	ch, err := s.channelOf(r, true)
	if err != nil {
		return err
	}
	marker := ""
	if v := q.Get("marker"); v != "" {
		if image.ValidUUID(v) {
			rec, ok := s.Repo.get(v)
			if !ok {
				return invalid("marker", "invalid value for \"marker\" param: image %s does not exist", v)
			}
			marker = rec.Manifest.PublishedAt
		} else if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			marker = t.UTC().Format("2006-01-02T15:04:05.000Z")
		} else {
			return invalid("marker", "invalid value for \"marker\" param: %q is not a UUID or date string", v)
		}
	}
	all := s.Repo.list()
	if desc {
		for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
			all[i], all[j] = all[j], all[i]
		}
	}
	out := []*image.Manifest{}
	for _, m := range all {
		if !match(m) || !inChannel(m, ch) {
			continue
		}
		if marker != "" {
			if p := published(m); (!desc && p < marker) || (desc && p > marker) {
				continue
			}
		}
		out = append(out, m)
		if len(out) == limit {
			break
		}
	}
	writeJSON(w, 200, out)
	return nil
}

// published compares like a date: unpublished images sort first.
func published(m *image.Manifest) string {
	if m.PublishedAt == "" {
		return ""
	}
	if t, err := time.Parse(time.RFC3339Nano, m.PublishedAt); err == nil {
		return t.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return m.PublishedAt
}

func invalid(field, format string, args ...any) error {
	e := errorf(422, "InvalidParameter", format, args...)
	e.Errors = []fieldError{{Field: field, Code: "Invalid"}}
	return e
}

// filters builds ListImages' filter from its query parameters.
func filters(q url.Values, state string) (func(*image.Manifest) bool, error) {
	var preds []func(*image.Manifest) bool
	str := func(key string, get func(*image.Manifest) string, substr, negate bool) {
		v := q.Get(key)
		if v == "" {
			return
		}
		preds = append(preds, func(m *image.Manifest) bool {
			got := get(m)
			switch {
			case substr && strings.HasPrefix(v, "~"):
				return strings.Contains(got, v[1:])
			case negate && strings.HasPrefix(v, "!"):
				return got != v[1:]
			}
			return got == v
		})
	}
	if state != "all" {
		preds = append(preds, func(m *image.Manifest) bool { return m.State == state })
	}
	str("name", func(m *image.Manifest) string { return m.Name }, true, false)
	str("version", func(m *image.Manifest) string { return m.Version }, true, false)
	str("owner", func(m *image.Manifest) string { return m.Owner }, false, false)
	str("os", func(m *image.Manifest) string { return m.OS }, false, false)
	str("type", func(m *image.Manifest) string { return m.Type }, false, true)
	if v := q.Get("public"); v != "" {
		want, err := strconv.ParseBool(v)
		if err != nil {
			return nil, invalid("public", "invalid \"public\" parameter: %q", v)
		}
		preds = append(preds, func(m *image.Manifest) bool { return (m.Public != nil && *m.Public) == want })
	}
	for key, vals := range q {
		tag, ok := strings.CutPrefix(key, "tag.")
		if !ok {
			continue
		}
		for _, v := range vals {
			preds = append(preds, func(m *image.Manifest) bool {
				got, ok := m.Tags[tag]
				return ok && fmt.Sprint(got) == v
			})
		}
	}
	for _, bt := range q["billing_tag"] {
		preds = append(preds, func(m *image.Manifest) bool {
			for _, t := range m.BillingTags {
				if t == bt {
					return true
				}
			}
			return false
		})
	}
	return func(m *image.Manifest) bool {
		for _, p := range preds {
			if !p(m) {
				return false
			}
		}
		return true
	}, nil
}
