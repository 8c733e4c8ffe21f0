package vm

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// JSON renders a VM object (or a list of them) as vmadm get and lookup -j
// print it: two-space indent, no HTML escaping, properties in the
// object's own order (SmartOS does not sort keys). Collections that
// SmartOS always shows are shown empty rather than null.
func JSON(x any) ([]byte, error) {
	switch v := x.(type) {
	case *VM:
		x = present(v)
	case []*VM:
		out := make([]*VM, len(v))
		for i := range v {
			out[i] = present(v[i])
		}
		x = out
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(x); err != nil {
		return nil, fmt.Errorf("encode VM JSON: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// MarshalIndent is JSON for one VM.
func (v *VM) MarshalIndent() ([]byte, error) { return JSON(v) }

// present returns v with nil always-present collections made empty,
// copying only when something changes.
func present(v *VM) *VM {
	if v == nil || (v.CustomerMetadata != nil && v.InternalMetadata != nil && v.Tags != nil &&
		v.Routes != nil && v.Resolvers != nil && v.Nics != nil && v.Snapshots != nil) {
		return v
	}
	c := *v
	if c.CustomerMetadata == nil {
		c.CustomerMetadata = map[string]string{}
	}
	if c.InternalMetadata == nil {
		c.InternalMetadata = map[string]string{}
	}
	if c.Tags == nil {
		c.Tags = map[string]any{}
	}
	if c.Routes == nil {
		c.Routes = map[string]string{}
	}
	if c.Resolvers == nil {
		c.Resolvers = []string{}
	}
	if c.Nics == nil {
		c.Nics = []NIC{}
	}
	if c.Snapshots == nil {
		c.Snapshots = []Snapshot{}
	}
	return &c
}

// Lookup returns the VMs that match every filter, in the given order.
func Lookup(vms []*VM, fs []Filter) []*VM {
	var out []*VM
	for _, v := range vms {
		if Match(v, fs) {
			out = append(out, v)
		}
	}
	return out
}

// UniqueError is vmadm lookup -1's error unless exactly one VM matched.
func UniqueError(n int) error {
	if n == 1 {
		return nil
	}
	return fmt.Errorf("Requested unique lookup but found %d results.", n)
}

// LookupJSON renders vmadm lookup -j: an array of full VM objects, or,
// with fields (-o), of objects holding only those properties that are
// set. The list view's synthetic type and ram may be asked for too.
func LookupJSON(vms []*VM, fields []string) ([]byte, error) {
	if len(fields) == 0 {
		if vms == nil {
			vms = []*VM{}
		}
		return JSON(vms)
	}
	out := make([]map[string]any, 0, len(vms))
	for _, v := range vms {
		b, err := json.Marshal(present(v))
		if err != nil {
			return nil, fmt.Errorf("encode VM %s: %w", v.UUID, err)
		}
		var full map[string]any
		if err := json.Unmarshal(b, &full); err != nil {
			return nil, fmt.Errorf("decode VM %s: %w", v.UUID, err)
		}
		m := map[string]any{}
		for _, f := range fields {
			switch f {
			case "type":
				m[f] = listType(v)
			case "ram":
				a := compileKey("ram")
				if x := a.get(v); x.k == vNumber {
					m[f] = int64(x.n)
				}
			default:
				if val, ok := full[f]; ok {
					m[f] = val
				}
			}
		}
		out = append(out, m)
	}
	return JSON(out)
}
