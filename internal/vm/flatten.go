package vm

import (
	"reflect"
	"strconv"
	"strings"
)

// Flattened values: what SmartOS's VM.flatten returns for a dotted key,
// kept typed so sorting can compare numbers as numbers.

type vkind uint8

const (
	vMissing vkind = iota
	vString
	vNumber
	vBool
)

type fval struct {
	k vkind
	s string
	n float64
}

// truthy mirrors JavaScript truthiness, which SmartOS's list output and
// sort order depend on.
func (f fval) truthy() bool {
	switch f.k {
	case vString:
		return f.s != ""
	case vNumber:
		return f.n != 0
	case vBool:
		return f.s == "true"
	}
	return false
}

func str(s string) fval       { return fval{k: vString, s: s} }
func num(n int64) fval        { return fval{k: vNumber, s: strconv.FormatInt(n, 10), n: float64(n)} }
func boolean(b bool) fval     { return fval{k: vBool, s: strconv.FormatBool(b)} }
func floatVal(f float64) fval { return fval{k: vNumber, s: strconv.FormatFloat(f, 'f', -1, 64), n: f} }
func optStr(s string, omit bool) fval {
	if s == "" && omit {
		return fval{}
	}
	return str(s)
}

// structMeta describes the JSON fields of a struct type for flattening.
type structMeta struct {
	index map[string]int
	omit  []bool
}

func newStructMeta(t reflect.Type) structMeta {
	m := structMeta{index: map[string]int{}, omit: make([]bool, t.NumField())}
	for i := 0; i < t.NumField(); i++ {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		m.index[name] = i
		m.omit[i] = strings.Contains(opts, "omitempty")
	}
	return m
}

var (
	vmMeta  = newStructMeta(reflect.TypeOf(VM{}))
	nicMeta = newStructMeta(reflect.TypeOf(NIC{}))
)

// scalar flattens one struct field the way JSON plus JavaScript's
// toString would show it; objects and arrays of objects are missing.
func scalar(f reflect.Value, omit bool) fval {
	switch f.Kind() {
	case reflect.Pointer:
		if f.IsNil() {
			return fval{}
		}
		return scalar(f.Elem(), false)
	case reflect.String:
		return optStr(f.String(), omit)
	case reflect.Int, reflect.Int64:
		if omit && f.Int() == 0 {
			return fval{}
		}
		return num(f.Int())
	case reflect.Bool:
		if omit && !f.Bool() {
			return fval{}
		}
		return boolean(f.Bool())
	case reflect.Slice:
		if f.IsNil() || (omit && f.Len() == 0) {
			return fval{}
		}
		parts := make([]string, f.Len())
		for i := range parts {
			e := f.Index(i)
			switch e.Kind() {
			case reflect.String:
				parts[i] = e.String()
			case reflect.Int:
				parts[i] = strconv.FormatInt(e.Int(), 10)
			default:
				return fval{}
			}
		}
		return str(strings.Join(parts, ","))
	}
	return fval{}
}

// accessor is a compiled flatten key.
type accessor struct {
	key   string
	top   int    // VM field index, or -1
	synth string // "type" or "ram"
	coll  string // nics, tags, resolvers, …
	idx   int    // array index; -1 with star
	star  bool
	sub   string // nics.N.<sub>, tags.<sub>
}

var arrayHashKeys = map[string]bool{"disks": true, "nics": true, "pci_devices": true}
var hashKeys = map[string]bool{"customer_metadata": true, "internal_metadata": true, "routes": true, "tags": true}
var flatArrays = map[string]bool{"resolvers": true, "internal_metadata_namespaces": true}

func compileKey(key string) accessor {
	a := accessor{key: key, top: -1, idx: -1}
	if key == "type" || key == "ram" {
		a.synth = key
		return a
	}
	if !strings.Contains(key, ".") {
		if i, ok := vmMeta.index[key]; ok {
			a.top = i
		}
		return a
	}
	toks := strings.Split(key, ".")
	switch {
	case len(toks) == 3 && arrayHashKeys[toks[0]]:
		a.coll, a.sub = toks[0], toks[2]
		if toks[1] == "*" {
			a.star = true
		} else if n, err := strconv.Atoi(toks[1]); err == nil && n >= 0 {
			a.idx = n
		}
	case len(toks) == 2 && hashKeys[toks[0]]:
		a.coll, a.sub = toks[0], toks[1]
	case len(toks) == 2 && flatArrays[toks[0]]:
		a.coll = toks[0]
		if n, err := strconv.Atoi(toks[1]); err == nil && n >= 0 {
			a.idx = n
		}
	}
	return a
}

// get returns the flattened value for one VM (for a star key, use each).
func (a *accessor) get(v *VM) fval {
	switch {
	case a.synth == "type":
		return str(listType(v))
	case a.synth == "ram":
		if isHVM(v.Brand) {
			return scalar(reflect.ValueOf(v.RAM), true)
		}
		if v.MaxPhysicalMemory == 0 {
			return fval{}
		}
		return num(v.MaxPhysicalMemory)
	case a.top >= 0:
		return scalar(reflect.ValueOf(v).Elem().Field(a.top), vmMeta.omit[a.top])
	case a.coll == "nics":
		if a.idx < 0 || a.idx >= len(v.Nics) {
			return fval{}
		}
		return nicValue(&v.Nics[a.idx], a.sub)
	case a.coll == "tags":
		e, ok := v.Tags[a.sub]
		if !ok {
			return fval{}
		}
		return anyValue(e)
	case a.coll == "customer_metadata":
		return mapValue(v.CustomerMetadata, a.sub)
	case a.coll == "internal_metadata":
		return mapValue(v.InternalMetadata, a.sub)
	case a.coll == "routes":
		return mapValue(v.Routes, a.sub)
	case a.coll == "resolvers":
		return indexValue(v.Resolvers, a.idx)
	case a.coll == "internal_metadata_namespaces":
		return indexValue(v.InternalMetadataNamespaces, a.idx)
	}
	return fval{}
}

// listType is the TYPE column: the brand's type cut to 4 characters
// (BHYVE shows as BHYV), OS when unknown.
func listType(v *VM) string {
	t := BrandType(v.Brand)
	if t == "" {
		t = "OS"
	}
	if len(t) > 4 {
		t = t[:4]
	}
	return t
}

func nicValue(n *NIC, sub string) fval {
	i, ok := nicMeta.index[sub]
	if !ok {
		return fval{}
	}
	return scalar(reflect.ValueOf(n).Elem().Field(i), nicMeta.omit[i])
}

func mapValue(m map[string]string, k string) fval {
	s, ok := m[k]
	if !ok {
		return fval{}
	}
	return str(s)
}

func indexValue(l []string, i int) fval {
	if i < 0 || i >= len(l) {
		return fval{}
	}
	return str(l[i])
}

func anyValue(e any) fval {
	switch x := e.(type) {
	case string:
		return str(x)
	case bool:
		return boolean(x)
	case float64:
		return floatVal(x)
	case int:
		return num(int64(x))
	case int64:
		return num(x)
	}
	return fval{}
}

// Flatten returns every scalar property of v under SmartOS's flattened
// keys: top-level names, nics.N.<prop>, tags.<k>, customer_metadata.<k>,
// internal_metadata.<k>, routes.<k>, resolvers.N and the synthetic type
// and ram that vmadm list shows. Missing values are absent.
func Flatten(v *VM) map[string]string {
	out := make(map[string]string, 64)
	rv := reflect.ValueOf(v).Elem()
	for name, i := range vmMeta.index {
		if f := scalar(rv.Field(i), vmMeta.omit[i]); f.k != vMissing {
			out[name] = f.s
		}
	}
	for _, k := range []string{"type", "ram"} {
		a := compileKey(k)
		if f := a.get(v); f.k != vMissing {
			out[k] = f.s
		}
	}
	for i := range v.Nics {
		nv := reflect.ValueOf(&v.Nics[i]).Elem()
		prefix := "nics." + strconv.Itoa(i) + "."
		for name, j := range nicMeta.index {
			if f := scalar(nv.Field(j), nicMeta.omit[j]); f.k != vMissing {
				out[prefix+name] = f.s
			}
		}
	}
	for k, e := range v.Tags {
		if f := anyValue(e); f.k != vMissing {
			out["tags."+k] = f.s
		}
	}
	for coll, m := range map[string]map[string]string{
		"customer_metadata": v.CustomerMetadata,
		"internal_metadata": v.InternalMetadata,
		"routes":            v.Routes,
	} {
		for k, s := range m {
			out[coll+"."+k] = s
		}
	}
	for i, s := range v.Resolvers {
		out["resolvers."+strconv.Itoa(i)] = s
	}
	for i, s := range v.InternalMetadataNamespaces {
		out["internal_metadata_namespaces."+strconv.Itoa(i)] = s
	}
	return out
}
