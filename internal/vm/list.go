package vm

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// ListField is a column of vmadm list: its header and minimum width.
type ListField struct {
	Header string
	Width  int
}

// ListFields are vmadm list's named columns.
var ListFields = map[string]ListField{
	"alias":                    {"ALIAS", 10},
	"autoboot":                 {"AUTOBOOT", 8},
	"billing_id":               {"BILLING_ID", 36},
	"boot_timestamp":           {"BOOT_TIMESTAMP", 24},
	"brand":                    {"BRAND", 14},
	"cpu_cap":                  {"CPU_CAP", 7},
	"cpu_shares":               {"CPU_SHARE", 9},
	"cpu_type":                 {"CPU_TYPE", 8},
	"create_timestamp":         {"CREATE_TIMESTAMP", 24},
	"dns_domain":               {"DOMAIN", 32},
	"do_not_inventory":         {"DNI", 5},
	"docker":                   {"DOCKER", 6},
	"exit_status":              {"EXIT", 4},
	"exit_timestamp":           {"EXIT_TIMESTAMP", 24},
	"firewall_enabled":         {"FIREWALL_ENABLED", 16},
	"flexible_disk_size":       {"FLEX_DISK_SIZE", 14},
	"free_space":               {"FREE_SPACE", 14},
	"hostname":                 {"HOSTNAME", 32},
	"hvm":                      {"HVM", 5},
	"image_uuid":               {"IMAGE_UUID", 36},
	"indestructible_delegated": {"INDESTR_DATA", 12},
	"indestructible_zoneroot":  {"INDESTR_ROOT", 12},
	"ram":                      {"RAM", 7},
	"max_locked_memory":        {"MAX_LOCKED", 10},
	"max_lwps":                 {"MAX_LWP", 7},
	"max_physical_memory":      {"MAX_PHYS", 8},
	"max_swap":                 {"MAX_SWAP", 8},
	"owner_uuid":               {"OWNER_UUID", 36},
	"package_name":             {"PACKAGE_NAME", 32},
	"package_version":          {"PACKAGE_VER", 11},
	"pid":                      {"PID", 6},
	"qemu_extra_opts":          {"QEMU_EXTRA_OPTS", 15},
	"quota":                    {"QUOTA", 5},
	"zone_state":               {"ZONE_STATE", 10},
	"state":                    {"STATE", 16},
	"tmpfs":                    {"TMPFS", 5},
	"type":                     {"TYPE", 4},
	"uuid":                     {"UUID", 36},
	"vcpus":                    {"VCPUS", 5},
	"zfs_io_priority":          {"IO_PRIORITY", 11},
	"zpool":                    {"ZPOOL", 12},
	"zonename":                 {"ZONENAME", 12},
	"zonepath":                 {"ZONEPATH", 40},
	"zoneid":                   {"ZONEID", 6},
}

// Default columns and order of vmadm list.
var (
	DefaultListFields = []string{"uuid", "type", "ram", "state", "alias"}
	DefaultListSort   = []string{"ram", "uuid"}
)

// ListOptions are vmadm list's -o, -s, -p, -H and -h.
type ListOptions struct {
	Fields   []string // -o; DefaultListFields when empty
	Sort     []string // -s; DefaultListSort when empty
	Parsable bool     // -p: colon-separated, no header
	NoHeader bool     // -H
	// ForceHeader (-h) prints the header even with -p.
	ForceHeader bool
}

// listColumn returns the column for a field: a named one, or a flattened
// key (nics.0.ip, tags.foo, resolvers.0) headed by the key in upper case.
func listColumn(field string) (ListField, bool) {
	if f, ok := ListFields[field]; ok {
		return f, true
	}
	toks := strings.Split(field, ".")
	if (len(toks) == 3 && arrayHashKeys[toks[0]]) ||
		(len(toks) == 2 && (hashKeys[toks[0]] || flatArrays[toks[0]])) {
		return ListField{strings.ToUpper(field), 20}, true
	}
	return ListField{}, false
}

var starColumnRE = newLazyRE(`^(disks|filesystems|nics)\.\*\.`)

// Filter is one key=value or key=~regex condition of list and lookup.
type Filter struct {
	Key   string
	Value string
	re    *regexp.Regexp
	acc   accessor
}

var (
	diskFilterRE = newLazyRE(`^disks\.[*0-9]*\.(boot|image_name|image_size|image_uuid|size|media|model|zpool)$`)
	nicFilterRE  = newLazyRE(`^nics\.[*0-9]*\.(dhcp_server|gateway|interface|ip|mac|model|netmask|nic_tag|vlan_id)$`)
	hashFilterRE = newLazyRE(`^(tags|customer_metadata|internal_metadata)\..*`)
	macFilterRE  = newLazyRE(`^nics\..*\.mac$`)
)

func validFilterKey(k string) bool {
	_, listed := ListFields[k]
	return listed || diskFilterRE.MatchString(k) || nicFilterRE.MatchString(k) || hashFilterRE.MatchString(k)
}

// ParseFilters parses vmadm list's field=value arguments. A value
// starting with ~ is a case-insensitive regular expression; * as an array
// index matches any element.
func ParseFilters(args []string) ([]Filter, error) {
	return parseFilters(args, "Invalid filter key: %q")
}

// ParseLookupFilters is ParseFilters with vmadm lookup's message.
func ParseLookupFilters(args []string) ([]Filter, error) {
	return parseFilters(args, "Invalid lookup key: %q")
}

func parseFilters(args []string, badKey string) ([]Filter, error) {
	fs := make([]Filter, 0, len(args))
	for _, a := range args {
		k, val, _ := strings.Cut(a, "=")
		if !validFilterKey(k) {
			return nil, fmt.Errorf(badKey, k)
		}
		f := Filter{Key: k, Value: val, acc: compileKey(k)}
		if strings.HasPrefix(val, "~") {
			re, err := regexp.Compile("(?i)" + val[1:])
			if err != nil {
				return nil, fmt.Errorf("Invalid regular expression for %s: %w", k, err)
			}
			f.re = re
		} else if macFilterRE.MatchString(k) && validMAC(val) {
			// SmartOS pads MAC octets so 2:8:20:… finds 02:08:20:….
			f.Value = normalMAC(val)
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// Match reports whether v satisfies every filter.
func Match(v *VM, fs []Filter) bool {
	for i := range fs {
		if !fs[i].match(v) {
			return false
		}
	}
	return true
}

func (f *Filter) match(v *VM) bool {
	if !f.acc.star {
		return f.matchValue(f.acc.get(v))
	}
	if f.acc.coll != "nics" {
		return false
	}
	for i := range v.Nics {
		if f.matchValue(nicValue(&v.Nics[i], f.acc.sub)) {
			return true
		}
	}
	return false
}

func (f *Filter) matchValue(x fval) bool {
	if x.k == vMissing {
		return false
	}
	if f.re != nil {
		return f.re.MatchString(x.s)
	}
	return x.s == f.Value
}

// sortKey is a compiled -s field.
type sortKey struct {
	acc  accessor
	desc bool
}

func compileSort(fields []string) ([]sortKey, error) {
	keys := make([]sortKey, 0, len(fields))
	for _, f := range fields {
		if starColumnRE.MatchString(f) {
			return nil, fmt.Errorf("Invalid sort key: %q", f)
		}
		k := sortKey{}
		name := f
		switch {
		case strings.HasPrefix(f, "-"):
			k.desc, name = true, f[1:]
		case strings.HasPrefix(f, "+"):
			name = f[1:]
		}
		if _, ok := listColumn(name); !ok {
			return nil, fmt.Errorf("invalid sort field: %s", f)
		}
		k.acc = compileKey(name)
		keys = append(keys, k)
	}
	return keys, nil
}

// compareJS orders two values as SmartOS's list sort does, JavaScript
// comparisons included: a missing or falsy value sorts after a truthy one.
func compareJS(a, b fval) int {
	if greater(a, b) || (!a.truthy() && b.truthy()) || (a.k == vMissing && b.k != vMissing) {
		return 1
	}
	if greater(b, a) || (a.truthy() && !b.truthy()) || (a.k != vMissing && b.k == vMissing) {
		return -1
	}
	return 0
}

func greater(a, b fval) bool {
	if a.k == vMissing || b.k == vMissing {
		return false
	}
	if a.k == vNumber && b.k == vNumber {
		return a.n > b.n
	}
	return a.s > b.s
}

// SortVMs sorts vms in place by vmadm list -s fields.
func SortVMs(vms []*VM, fields []string) error {
	keys, err := compileSort(fields)
	if err != nil {
		return err
	}
	sortBy(vms, keys)
	return nil
}

func sortBy(vms []*VM, keys []sortKey) {
	// Each VM's sort values are computed once, not per comparison.
	type row struct {
		v    *VM
		vals []fval
	}
	rows := make([]row, len(vms))
	vals := make([]fval, len(vms)*len(keys))
	for i, v := range vms {
		r := vals[i*len(keys) : (i+1)*len(keys)]
		for j := range keys {
			r[j] = keys[j].acc.get(v)
		}
		rows[i] = row{v, r}
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		for j, k := range keys {
			c := compareJS(a.vals[j], b.vals[j])
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	for i := range rows {
		vms[i] = rows[i].v
	}
}

// FormatList writes vmadm list output for vms (already filtered): sorted,
// each column %-<width>s, columns joined by two spaces and right-trimmed,
// "-" for a missing value; with Parsable, values joined by ":" and
// missing ones empty. vms is not reordered.
func FormatList(w io.Writer, vms []*VM, opts ListOptions) error {
	fields := opts.Fields
	if len(fields) == 0 {
		fields = DefaultListFields
	}
	sortFields := opts.Sort
	if len(sortFields) == 0 {
		sortFields = DefaultListSort
	}
	for _, f := range fields {
		if starColumnRE.MatchString(f) {
			return fmt.Errorf("Invalid order key: %q", f)
		}
	}
	keys, err := compileSort(sortFields)
	if err != nil {
		return err
	}
	cols := make([]ListField, len(fields))
	accs := make([]accessor, len(fields))
	for i, f := range fields {
		c, ok := listColumn(f)
		if !ok {
			return fmt.Errorf("invalid order field: %s", f)
		}
		cols[i], accs[i] = c, compileKey(f)
	}
	sorted := slices.Clone(vms)
	sortBy(sorted, keys)

	buf := make([]byte, 0, 96*(len(vms)+1))
	cells := make([]string, len(fields))
	header := !opts.NoHeader && (!opts.Parsable || opts.ForceHeader)
	if header {
		for i, c := range cols {
			cells[i] = c.Header
		}
		buf = appendLine(buf, cells, cols, opts.Parsable)
	}
	for _, v := range sorted {
		for i := range accs {
			x := accs[i].get(v)
			switch {
			case x.truthy() || x.k == vNumber:
				cells[i] = x.s
			case opts.Parsable:
				cells[i] = ""
			default:
				cells[i] = "-"
			}
		}
		buf = appendLine(buf, cells, cols, opts.Parsable)
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write list: %w", err)
	}
	return nil
}

func appendLine(buf []byte, cells []string, cols []ListField, parsable bool) []byte {
	start := len(buf)
	for i, c := range cells {
		if i > 0 {
			if parsable {
				buf = append(buf, ':')
			} else {
				buf = append(buf, "  "...)
			}
		}
		buf = append(buf, c...)
		if !parsable {
			for n := utf8.RuneCountInString(c); n < cols[i].Width; n++ {
				buf = append(buf, ' ')
			}
		}
	}
	end := len(buf)
	for end > start && (buf[end-1] == ' ' || buf[end-1] == '\t') {
		end--
	}
	return append(buf[:end], '\n')
}
