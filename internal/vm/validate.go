package vm

import (
	"strings"
	"time"
)

// ValidateCreate validates a create payload the way `vmadm validate
// create` does: properties the brand may not set are errors here
// (create itself drops them). As in SmartOS, the brand is the payload's
// own: one without brand is {"bad_brand": "undefined"}, although create
// would default it to joyent. Errors are *ValidationError, or a plain
// error for invalid JSON, unsupported brands and cross-property checks.
func ValidateCreate(payload []byte) error {
	p, err := parsePayload(payload)
	if err != nil {
		return err
	}
	if !p.has("brand") {
		return &ValidationError{BadBrand: "undefined"}
	}
	_, err = normalizeCreate(payload, time.Now(), true)
	return err
}

// ValidateUpdate validates an update payload for a VM of brand, without
// a VM to apply it to (`vmadm validate update <brand>`).
func ValidateUpdate(brand string, payload []byte) error {
	if _, ok := brandNames[brand]; !ok {
		return &ValidationError{BadBrand: brandOrUndefined(brand)}
	}
	if err := errUnsupportedBrand(brand); err != nil {
		return err
	}
	p, err := parsePayload(payload)
	if err != nil {
		return err
	}
	var e ValidationError
	checkProps(brand, "update", p, &e, false)
	return e.orNil()
}

// deprecatedAlias turns a deprecated name SmartOS still accepts into its
// successor, unless the payload also gives the new name (then the old
// one is ignored). SmartOS renames dataset_uuid to image_uuid before
// validating, and zfs_storage_pool_name to zpool after.
func deprecatedAlias(brand string, p *object, old, new string) {
	if !p.has(old) || !propIndex[old].Create.Has(brand) || p.has(new) {
		return
	}
	p.set(new, p.vals[old])
	p.del(old)
}

// dropBadProperties removes from a payload the properties validation
// found the brand may not set, as SmartOS's create and update do (they
// log a warning and carry on): top-level ones, and nics.*.x or
// filesystems.*.x from every entry of the collection and of its add_ and
// update_ forms.
func dropBadProperties(p *object, bad []string) {
	for _, name := range bad {
		coll, sub, nested := strings.Cut(name, ".*.")
		if !nested {
			p.del(name)
			continue
		}
		for _, k := range []string{coll, "add_" + coll, "update_" + coll} {
			entries, _ := p.vals[k].([]any)
			for _, el := range entries {
				if o, ok := el.(*object); ok {
					o.del(sub)
				}
			}
		}
	}
}

func brandOrUndefined(b string) string {
	if b == "" {
		return "undefined"
	}
	return b
}

// checkProps checks every payload property for brand and action
// ("create" or "update"): known, allowed for the brand and action, and
// of the right type and range. With deferSwap the max_swap minimum is
// left to the caller, which first raises max_swap as SmartOS does.
func checkProps(brand, action string, p *object, e *ValidationError, deferSwap bool) {
	for _, name := range p.keys {
		val := p.vals[name]
		prop, ok := propIndex[name]
		if !ok {
			e.badProperty(name)
			continue
		}
		allowed := prop.Create
		if action == "update" {
			allowed = prop.Update
		}
		if prop.ReadOnly || !allowed.Has(brand) {
			e.badProperty(name)
		}
		if prop.ReadOnly || val == nil {
			continue
		}
		if prop.Kind == KindObjectArray {
			checkEntries(brand, action, prop, val, e)
			continue
		}
		lo := prop.Min
		if deferSwap && name == "max_swap" {
			lo = 0
		}
		if !checkValue(prop.Kind, val, lo, prop.Max, prop.Valid, action == "update" && prop.Min == 1) {
			e.badValue(name)
		}
	}
}

// checkValue checks one value of a kind. zeroOK lets 0 through a minimum
// of 1 (an update to 0 removes the property).
func checkValue(kind Kind, val any, lo, hi int64, valid func(string) bool, zeroOK bool) bool {
	switch kind {
	case KindString:
		s, unset, ok := asString(val)
		if !ok {
			return false
		}
		return unset || valid == nil || valid(s)
	case KindBool:
		_, ok := asBool(val)
		return ok
	case KindInt:
		n, unset, ok := asInt(val)
		if !ok {
			return false
		}
		if unset || (zeroOK && n == 0) {
			return true
		}
		return n >= lo && (hi == 0 || n <= hi)
	case KindUUID:
		s, ok := val.(string)
		return ok && IsUUID(s)
	case KindZpool:
		s, ok := val.(string)
		return ok && validZpool(s)
	case KindList:
		l, ok := asList(val)
		if !ok {
			return false
		}
		for _, s := range l {
			if valid != nil && !valid(s) {
				return false
			}
		}
		return true
	case KindFlatObject:
		_, ok := asFlat(val)
		return ok
	}
	return false
}

// checkEntries checks the entries of nics, filesystems and their
// add_/update_ forms against the nics.*.<prop> table.
func checkEntries(brand, action string, prop *Prop, val any, e *ValidationError) {
	arr, ok := val.([]any)
	if !ok {
		e.badValue(prop.Name)
		return
	}
	coll := prop.Name
	if prop.CheckAs != "" {
		coll = prop.CheckAs
	}
	sub := "add"
	if strings.HasPrefix(prop.Name, "update_") {
		sub = "update"
	}
	for _, el := range arr {
		o, ok := el.(*object)
		if !ok {
			e.badValue(prop.Name)
			continue
		}
		for _, k := range o.keys {
			name := coll + ".*." + k
			sp, ok := subPropIndex[name]
			if !ok {
				e.badProperty(name)
				continue
			}
			allowed := sp.Add
			if sub == "update" {
				allowed = sp.Upd
			}
			if !allowed.Has(brand) {
				e.badProperty(name)
			}
			v := o.vals[k]
			if v == nil {
				continue
			}
			if !checkValue(sp.Kind, v, sp.Min, sp.Max, sp.Valid, false) {
				e.badValue(name)
			}
		}
	}
}

// validZpool accepts a pool name; which pools exist is the node's
// business.
func validZpool(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if i == 0 && !alnum {
			return false
		}
		if !alnum && !strings.ContainsRune("_-.:", r) {
			return false
		}
	}
	return true
}
