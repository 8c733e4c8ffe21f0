package vm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"hull/internal/priv"
)

// ApplyUpdate applies an update payload to cur and returns the new object
// and the top-level properties that changed; cur is not modified. It
// follows SmartOS's update semantics: properties the brand may not
// update are ignored, set_/remove_ verbs for key/value
// collections, add_/update_/remove_ for nics and filesystems, null or ""
// clears a property, integer 0 removes one (tmpfs and quota keep 0), and
// memory caps move together when max_physical_memory changes.
func ApplyUpdate(cur *VM, payload []byte, now time.Time) (*VM, []string, error) {
	p, err := parsePayload(payload)
	if err != nil {
		return nil, nil, err
	}
	brand := cur.Brand
	if _, ok := brandNames[brand]; !ok {
		return nil, nil, &ValidationError{BadBrand: brandOrUndefined(brand)}
	}
	var e ValidationError
	checkProps(brand, "update", p, &e, true)
	// As SmartOS's update does, properties the brand may not update are
	// dropped (it logs a warning); bad values fail the update.
	dropBadProperties(p, e.BadProperties)
	e.BadProperties = nil
	if err := e.orNil(); err != nil {
		return nil, nil, err
	}
	updateMemory(p, cur)
	if n, ok := payloadInt(p, "max_swap"); ok && n < minMaxSwap {
		return nil, nil, &ValidationError{BadValues: []string{"max_swap"}}
	}

	next, err := cloneVM(cur)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range p.keys {
		if err := applyProp(next, k, p.vals[k]); err != nil {
			return nil, nil, err
		}
	}
	if err := updateNICs(next, cur, p); err != nil {
		return nil, nil, err
	}
	if err := updateFilesystems(next, p); err != nil {
		return nil, nil, err
	}
	if err := checkZFSProps(next, p); err != nil {
		return nil, nil, err
	}
	if p.has("fs_allowed") {
		if err := checkFSAllowed(next); err != nil {
			return nil, nil, err
		}
	}
	if p.has("limit_priv") {
		if _, err := priv.Parse(next.LimitPriv, next.Brand); err != nil {
			return nil, nil, err
		}
	}
	if next.Docker != nil && *next.Docker && p.has("docker") {
		applyDocker(next, cur)
	}
	if next.Docker != nil && *next.Docker {
		next.ZlogMode = DockerZlogMode(next.InternalMetadata)
	}
	if next.InternalMetadata[DockerExtraHostsKey] != cur.InternalMetadata[DockerExtraHostsKey] || p.has("docker") {
		if err := checkDockerHosts(next); err != nil {
			return nil, nil, err
		}
	}
	if p.has("routes") || p.has("set_routes") || p.has("remove_routes") || p.has("remove_nics") {
		if err := checkRoutes(next.Routes, next.Nics); err != nil {
			return nil, nil, err
		}
	}
	changed := diffVM(cur, next)
	if len(changed) > 0 {
		next.LastModified = Timestamp(now)
	}
	return next, changed, nil
}

// applyProp applies one payload property (other than the nics and
// filesystems verbs, done afterwards) to v.
func applyProp(v *VM, k string, val any) error {
	prop := propIndex[k]
	switch k {
	case "set_tags":
		m, _ := asFlat(val)
		if v.Tags == nil {
			v.Tags = map[string]any{}
		}
		for key, e := range m {
			v.Tags[key] = flatValue(e)
		}
	case "set_customer_metadata", "set_internal_metadata", "set_routes":
		m, _ := asFlat(val)
		dst := stringMap(v, strings.TrimPrefix(k, "set_"))
		for key, e := range m {
			(*dst)[key] = fmt.Sprint(e)
		}
	case "remove_tags":
		l, _ := asList(val)
		for _, key := range l {
			delete(v.Tags, key)
		}
	case "remove_customer_metadata", "remove_internal_metadata", "remove_routes":
		l, _ := asList(val)
		dst := stringMap(v, strings.TrimPrefix(k, "remove_"))
		for _, key := range l {
			delete(*dst, key)
		}
	case "ram":
		// An OS VM has no ram of its own: it set max_physical_memory
		// (and what follows from it) in updateMemory.
		if isHVM(v.Brand) {
			return setProp(v, k, val)
		}
	default:
		if prop.Transient {
			return nil
		}
		if prop.Kind == KindInt && !prop.KeepZero {
			if n, unset, _ := asInt(val); !unset && n == 0 {
				return setProp(v, k, nil)
			}
		}
		if k == "quota" {
			// Unsetting the quota means no quota: 0.
			if _, unset, _ := asInt(val); unset {
				val = int64(0)
			}
		}
		if err := setProp(v, k, val); err != nil {
			return err
		}
		if k == "cpu_shares" {
			v.CPUShares = min(v.CPUShares, maxCPUShares)
		}
	}
	return nil
}

// stringMap returns the string-valued collection named name, creating it.
func stringMap(v *VM, name string) *map[string]string {
	var m *map[string]string
	switch name {
	case "customer_metadata":
		m = &v.CustomerMetadata
	case "internal_metadata":
		m = &v.InternalMetadata
	default:
		m = &v.Routes
	}
	if *m == nil {
		*m = map[string]string{}
	}
	return m
}

func payloadInt(p *object, k string) (int64, bool) {
	v, ok := p.vals[k]
	if !ok || v == nil {
		return 0, false
	}
	n, unset, ok := asInt(v)
	return n, ok && !unset
}

// updateMemory rewrites the payload's memory properties as SmartOS does
// before applying an update: a new max_physical_memory keeps the previous
// gaps to max_locked_memory and max_swap and rescales tmpfs; locked
// memory and tmpfs are clamped to, and swap raised to, the memory cap.
func updateMemory(p *object, cur *VM) {
	hvm := isHVM(cur.Brand)
	if ram, ok := payloadInt(p, "ram"); ok && !hvm && !p.has("max_physical_memory") {
		p.set("max_physical_memory", ram)
	}
	mpm, hasMPM := payloadInt(p, "max_physical_memory")
	hasMPM = hasMPM && mpm > 0
	if hasMPM {
		if !p.has("max_locked_memory") {
			mlm := mpm
			if cur.MaxLockedMemory > 0 && cur.MaxPhysicalMemory > 0 {
				mlm = mpm - (cur.MaxPhysicalMemory - cur.MaxLockedMemory)
			}
			p.set("max_locked_memory", mlm)
		}
		if !p.has("max_swap") {
			swap := mpm
			if cur.MaxSwap > 0 && cur.MaxPhysicalMemory > 0 {
				if cur.MaxSwap == minMaxSwap && mpm >= minMaxSwap {
					// The old swap was only raised to the minimum.
					swap = mpm
				} else {
					swap = mpm + (cur.MaxSwap - cur.MaxPhysicalMemory)
				}
			}
			p.set("max_swap", max(swap, minMaxSwap))
		}
	}
	if t, ok := payloadInt(p, "tmpfs"); ok {
		switch {
		case hasMPM && t > mpm:
			p.set("tmpfs", mpm)
		case !hasMPM && cur.MaxPhysicalMemory > 0 && t > cur.MaxPhysicalMemory:
			p.set("tmpfs", cur.MaxPhysicalMemory)
		}
	}
	if hasMPM && !hvm && !p.has("tmpfs") {
		t := mpm
		if cur.MaxPhysicalMemory > 0 && cur.Tmpfs != nil {
			t = int64(float64(*cur.Tmpfs)/float64(cur.MaxPhysicalMemory)*float64(mpm) + 0.5)
		}
		p.set("tmpfs", t)
	}
	if hasMPM {
		if cur.MaxShmMemory == 0 && !p.has("max_shm_memory") {
			p.set("max_shm_memory", mpm)
		}
		for _, k := range []string{"max_msg_ids", "max_sem_ids", "max_shm_ids"} {
			if fieldValue(cur, k).Int() == 0 && !p.has(k) {
				p.set(k, int64(defaultIPCIDs))
			}
		}
	}
	limit := cur.MaxPhysicalMemory
	if hasMPM {
		limit = mpm
	}
	if n, ok := payloadInt(p, "max_locked_memory"); ok && limit > 0 && n > limit {
		p.set("max_locked_memory", limit)
	}
	if n, ok := payloadInt(p, "max_swap"); ok && n < limit {
		p.set("max_swap", limit)
	}
}

// cloneVM deep-copies v.
func cloneVM(v *VM) (*VM, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("copy VM %s: %w", v.UUID, err)
	}
	var out VM
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("copy VM %s: %w", v.UUID, err)
	}
	return &out, nil
}

// diffVM lists the properties whose values differ, in struct order.
// Values are compared as JSON, so 5 and 5.0 in tags are the same.
func diffVM(a, b *VM) []string {
	var out []string
	av, bv := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for _, name := range vmFieldOrder {
		if name == "last_modified" {
			continue
		}
		i := vmFields[name]
		x, errX := json.Marshal(av.Field(i).Interface())
		y, errY := json.Marshal(bv.Field(i).Interface())
		if errX != nil || errY != nil || !bytes.Equal(x, y) {
			out = append(out, name)
		}
	}
	return out
}

// ParseUpdateArgs turns `vmadm update <uuid> k=v …` arguments into an
// update payload. Values are strings, converted to numbers and booleans
// where the property table says so (last one wins, as in SmartOS);
// anything else is left for validation to judge.
func ParseUpdateArgs(args []string) (map[string]any, error) {
	m := make(map[string]any, len(args))
	for _, a := range args {
		k, val, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("Bad arguments: unable to split %s", a)
		}
		m[k] = val
		p, known := propIndex[k]
		if !known {
			continue
		}
		switch p.Kind {
		case KindInt:
			if n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64); err == nil {
				m[k] = n
			}
		case KindBool:
			if b, err := strconv.ParseBool(val); err == nil && (val == "true" || val == "false") {
				m[k] = b
			}
		}
	}
	return m, nil
}
