package vm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// object is a decoded JSON object that remembers its key order, so that
// errors list properties in the order the payload gave them, as SmartOS
// does. Values are json.Number, string, bool, nil, []any, map[string]any
// or, for object arrays, []*object.
type object struct {
	keys []string
	vals map[string]any
	raw  json.RawMessage
}

func (o *object) has(k string) bool { _, ok := o.vals[k]; return ok }

func (o *object) set(k string, v any) {
	if !o.has(k) {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) del(k string) {
	if !o.has(k) {
		return
	}
	delete(o.vals, k)
	for i, kk := range o.keys {
		if kk == k {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			break
		}
	}
}

// parsePayload decodes a create or update payload.
func parsePayload(b []byte) (*object, error) {
	o, err := decodeObject(b, true)
	if err != nil {
		return nil, fmt.Errorf("Invalid JSON payload: %w", err)
	}
	return o, nil
}

// decodeObject decodes one JSON object; with arrays set, values of
// object-array properties become []*object.
func decodeObject(b []byte, arrays bool) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errors.New("payload is not a JSON object")
	}
	o := &object{vals: map[string]any{}, raw: b}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		v, err := decodeValue(raw, arrays && isObjectArray(k))
		if err != nil {
			return nil, err
		}
		o.set(k, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON object")
	}
	return o, nil
}

func isObjectArray(k string) bool {
	p, ok := propIndex[k]
	return ok && p.Kind == KindObjectArray
}

// decodeValue decodes raw; an array of objects becomes []*object when
// entries is set (other shapes stay generic so validation can flag them).
func decodeValue(raw json.RawMessage, entries bool) (any, error) {
	if entries {
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) == nil {
			out := make([]any, 0, len(elems))
			for _, e := range elems {
				if t := bytes.TrimSpace(e); len(t) > 0 && t[0] == '{' {
					o, err := decodeObject(t, false)
					if err != nil {
						return nil, err
					}
					out = append(out, o)
					continue
				}
				v, err := decodeValue(e, false)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
			return out, nil
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// Coercions from payload values, with SmartOS's leniency: integers may be
// numeric strings, booleans "true"/"false" (and the deprecated 1), lists a
// comma-separated string. unset reports a value that clears the property
// (null, or "" for strings and integers).

func asInt(v any) (n int64, unset, ok bool) {
	var s string
	switch x := v.(type) {
	case nil:
		return 0, true, true
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
		if s == "" {
			return 0, true, true
		}
	case int:
		return int64(x), false, true
	case int64:
		return x, false, true
	default:
		return 0, false, false
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, false, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
		return 0, false, false
	}
	return int64(f), false, true
}

func asBool(v any) (b, ok bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch x {
		case "true", "1":
			return true, true
		case "false":
			return false, true
		}
	case json.Number:
		if x.String() == "1" {
			return true, true
		}
	}
	return false, false
}

func asString(v any) (s string, unset, ok bool) {
	switch x := v.(type) {
	case nil:
		return "", true, true
	case string:
		if strings.TrimSpace(x) == "" {
			return "", true, true
		}
		return x, false, true
	}
	return "", false, false
}

// asList returns the elements of a list value. Elements may not contain
// commas, since SmartOS may store the list joined.
func asList(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		var out []string
		for _, e := range strings.Split(x, ",") {
			if e != "" {
				out = append(out, e)
			}
		}
		return out, true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			var s string
			switch y := e.(type) {
			case string:
				s = y
			case json.Number:
				s = y.String()
			default:
				return nil, false
			}
			if strings.Contains(s, ",") {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	case []string:
		return x, true
	}
	return nil, false
}

// asFlat returns a flat object: values strings, numbers or booleans.
func asFlat(v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	for _, e := range m {
		switch e.(type) {
		case string, json.Number, bool:
		default:
			return nil, false
		}
	}
	return m, true
}

// flatValue converts a flat-object value for storage in tags: numbers
// become float64 like any decoded JSON number.
func flatValue(v any) any {
	if n, ok := v.(json.Number); ok {
		if f, err := n.Float64(); err == nil {
			return f
		}
	}
	return v
}

// ReprovisionImage reads a reprovision payload's image_uuid, the only
// field SmartOS reads from it: nil when the payload has none. A value
// that is not a string is returned as written, for the image lookup to
// refuse.
func ReprovisionImage(b []byte) (*string, error) {
	o, err := parsePayload(b)
	if err != nil {
		return nil, err
	}
	v, ok := o.vals["image_uuid"]
	if !ok {
		return nil, nil
	}
	s, ok := v.(string)
	if !ok {
		s = fmt.Sprint(v)
	}
	return &s, nil
}
