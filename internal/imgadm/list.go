package imgadm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"sort"
	"strconv"
	"strings"

	"hull/internal/image"
)

// listEntry is one image as `imgadm list -j` prints it.
type listEntry struct {
	Manifest   *image.Manifest `json:"manifest"`
	Zpool      string          `json:"zpool"`
	Source     string          `json:"source,omitempty"`
	CloneNames []string        `json:"cloneNames"`
	Clones     int             `json:"clones"`
}

func (c *cli) list(args []string) error {
	o, err := c.parseListArgs("list", args, "uuid,name,version,os,type,pub")
	if o == nil || err != nil {
		return err
	}
	if o.docker {
		o.filters = append(o.filters, filter{field: "type", val: "docker"})
	}
	s, err := c.open("")
	if err != nil {
		return err
	}
	imgs, err := s.Images()
	if err != nil {
		return err
	}
	var rows []map[string]any
	var kept []*image.Image
	for _, img := range imgs {
		r, err := row(img)
		if err != nil {
			return err
		}
		if o.filters.match(r) {
			rows = append(rows, r)
			kept = append(kept, img)
		}
	}
	if o.json {
		out := make([]listEntry, len(kept))
		for i, img := range kept {
			out[i] = listEntry{Manifest: img.Manifest, Zpool: img.Zpool, Source: img.Source,
				CloneNames: append([]string{}, img.CloneNames...), Clones: len(img.CloneNames)}
		}
		return writeJSON(c.stdout, out)
	}
	if o.docker {
		rows, cols := dockerRows(rows)
		return writeColumns(c.stdout, rows, cols, []string{"published_at"}, o.noHeader)
	}
	return writeTable(c.stdout, rows, splitFields(o.cols), splitFields(o.sort), o.noHeader)
}

// dockerRows are `imgadm list --docker`'s rows, as `docker images` lists
// them: the top layers only (no other image has them as origin), one row
// per tag, with their columns.
func dockerRows(rows []map[string]any) ([]map[string]any, []column) {
	isOrigin := map[any]bool{}
	for _, r := range rows {
		if o, ok := r["origin"]; ok {
			isOrigin[o] = true
		}
	}
	var out []map[string]any
	for _, r := range rows {
		if r["type"] != "docker" || isOrigin[r["uuid"]] {
			continue
		}
		tags, _ := r["docker_tags"].([]any)
		if len(tags) == 0 {
			tags = []any{nil}
		}
		for _, t := range tags {
			d := maps.Clone(r)
			d["docker_tag"] = t
			out = append(out, d)
		}
	}
	return out, []column{{"UUID", "uuid"}, {"REPOSITORY", "docker_repo"}, {"TAG", "docker_tag"},
		{"IMAGE_ID", "docker_short_id"}, {"CREATED", "published"}}
}

// listOpts are the options list and avail share.
type listOpts struct {
	json, noHeader, help, docker bool
	cols, sort                   string
	filters                      filters
}

// parseListArgs parses the flags and filters of list or avail (cmd), with
// cols the default columns. A nil result with a nil error means the usage
// was asked for and has been printed.
func (c *cli) parseListArgs(cmd string, args []string, cols string) (*listOpts, error) {
	o := &listOpts{cols: cols, sort: "published_at,name"}
	bools := map[string]*bool{"j": &o.json, "json": &o.json, "H": &o.noHeader, "h": &o.help, "help": &o.help}
	if cmd == "list" {
		bools["docker"] = &o.docker
	}
	rest, err := parseFlags(args, bools, map[string]*string{"o": &o.cols, "s": &o.sort})
	if err != nil {
		return nil, err
	}
	if o.help {
		fmt.Fprint(c.stdout, commandUsage[cmd])
		return nil, nil
	}
	if o.filters, err = parseFilters(rest); err != nil {
		return nil, err
	}
	return o, nil
}

func splitFields(s string) []string {
	var out []string
	for _, f := range strings.Split(strings.TrimSpace(s), ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// row is the manifest as a generic object plus imgadm's computed fields.
func row(img *image.Image) (map[string]any, error) {
	b, err := json.Marshal(img.Manifest)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	r := map[string]any{}
	if err := d.Decode(&r); err != nil {
		return nil, err
	}
	if p := img.Manifest.PublishedAt; p != "" {
		if len(p) >= 10 {
			r["published_date"] = p[:10]
			r["pub"] = p[:10]
		}
		// Normalised without milliseconds.
		if i := strings.LastIndexByte(p, '.'); i >= 0 && strings.HasSuffix(p, "Z") {
			r["published"] = p[:i] + "Z"
		} else {
			r["published"] = p
		}
	}
	if img.Source != "" {
		r["source"] = img.Source
	}
	r["clones"] = json.Number(strconv.Itoa(len(img.CloneNames)))
	r["zpool"] = img.Zpool
	if len(img.Manifest.Files) > 0 {
		r["size"] = json.Number(strconv.FormatInt(img.Manifest.Files[0].Size, 10))
	}
	if img.Manifest.Type == "docker" {
		// SmartOS's docker fields; the short id is a plain 12-character
		// slice of docker:id, "sha256:" and all.
		id, _ := img.Manifest.Tags["docker:id"].(string)
		r["docker_id"] = id
		r["docker_short_id"] = id[:min(12, len(id))]
		if repo, ok := img.Manifest.Tags["docker:repo"]; ok {
			r["docker_repo"] = repo
		}
		tags := []any{}
		for k := range img.Manifest.Tags {
			if t, ok := strings.CutPrefix(k, "docker:tag:"); ok {
				tags = append(tags, t)
			}
		}
		sort.Slice(tags, func(i, j int) bool { return tags[i].(string) < tags[j].(string) })
		r["docker_tags"] = tags
	}
	return r, nil
}

// lookup finds a dotted field ("requirements.min_ram") in a row.
func lookup(r map[string]any, field string) (any, bool) {
	var cur any = r
	for _, k := range strings.Split(field, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// cell renders a value as a table cell: strings and numbers as they are,
// anything else as JSON; absent values are "-".
func cell(v any, ok bool) (string, bool) {
	if !ok {
		return "-", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	}
	b, _ := json.Marshal(v)
	return string(b), true
}

type filter struct {
	field string
	val   string
	isB   bool
	b     bool
}

type filters []filter

// parseFilters reads FIELD=VALUE, FIELD=true|false and FIELD=~SUBSTRING.
func parseFilters(args []string) (filters, error) {
	var fs filters
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, usageErr("invalid filter: %q (must be of the form \"field=value\")", a)
		}
		f := filter{field: k, val: v}
		if v == "true" || v == "false" {
			f.isB, f.b = true, v == "true"
		}
		fs = append(fs, f)
	}
	return fs, nil
}

func (fs filters) match(r map[string]any) bool {
	for _, f := range fs {
		v, ok := lookup(r, f.field)
		if !ok {
			return false
		}
		switch {
		case f.isB:
			if b, isBool := v.(bool); !isBool || b != f.b {
				return false
			}
		case strings.HasPrefix(f.val, "~"):
			s, _ := cell(v, true)
			if !strings.Contains(s, f.val[1:]) {
				return false
			}
		default:
			s, _ := cell(v, true)
			if s != f.val {
				return false
			}
		}
	}
	return true
}

// writeTable prints rows as imgadm's table printer does: columns as wide
// as their widest cell or header (with -H too), two spaces apart, the
// last unpadded; the header alone for no rows.
func writeTable(w io.Writer, rows []map[string]any, cols, sortBy []string, noHeader bool) error {
	cs := make([]column, len(cols))
	for i, c := range cols {
		cs[i] = column{strings.ToUpper(c), c}
	}
	return writeColumns(w, rows, cs, sortBy, noHeader)
}

// column is a table column: its header and the field it shows.
type column struct{ name, field string }

// writeColumns is writeTable with headers of the caller's choosing.
func writeColumns(w io.Writer, rows []map[string]any, cols []column, sortBy []string, noHeader bool) error {
	sortRows(rows, sortBy)
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = len(c.name)
	}
	cells := make([][]string, len(rows))
	for j, r := range rows {
		cells[j] = make([]string, len(cols))
		for i, c := range cols {
			s, present := cell(lookup(r, c.field))
			cells[j][i] = s
			if present && len(s) > widths[i] {
				widths[i] = len(s)
			}
		}
	}
	var b strings.Builder
	line := func(vals []string) {
		for i, v := range vals {
			if i == len(vals)-1 {
				b.WriteString(v)
			} else {
				fmt.Fprintf(&b, "%-*s  ", widths[i], v)
			}
		}
		b.WriteByte('\n')
	}
	if !noHeader {
		h := make([]string, len(cols))
		for i, c := range cols {
			h[i] = c.name
		}
		line(h)
	}
	for _, c := range cells {
		line(c)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sortRows sorts by the fields in order; "-field" reverses. Values that
// are both numbers compare as numbers; absent values come first.
func sortRows(rows []map[string]any, fields []string) {
	sort.SliceStable(rows, func(a, b int) bool {
		for _, f := range fields {
			inv := strings.HasPrefix(f, "-")
			f = strings.TrimPrefix(f, "-")
			va, oka := lookup(rows[a], f)
			vb, okb := lookup(rows[b], f)
			c := 0
			switch {
			case !oka && !okb:
			case !oka:
				c = -1
			case !okb:
				c = 1
			default:
				sa, _ := cell(va, true)
				sb, _ := cell(vb, true)
				na, ea := strconv.ParseFloat(sa, 64)
				nb, eb := strconv.ParseFloat(sb, 64)
				switch {
				case ea == nil && eb == nil && na < nb, (ea != nil || eb != nil) && sa < sb:
					c = -1
				case ea == nil && eb == nil && na > nb, (ea != nil || eb != nil) && sa > sb:
					c = 1
				}
			}
			if inv {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return false
	})
}
