package vm

import (
	"fmt"
	"reflect"
	"strings"
)

// vmFields maps each JSON property name of VM to its struct field, so
// payload values can be stored, cleared and compared by name.
var vmFields = func() map[string]int {
	t := reflect.TypeOf(VM{})
	m := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}()

// vmFieldOrder lists VM property names in struct order.
var vmFieldOrder = func() []string {
	t := reflect.TypeOf(VM{})
	var out []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}()

// setProp stores a validated scalar, list or flat-object payload value in
// the VM field of that name. A value that unsets (null, "") clears it.
func setProp(v *VM, name string, val any) error {
	i, ok := vmFields[name]
	if !ok {
		return fmt.Errorf("property %s has no field", name)
	}
	f := reflect.ValueOf(v).Elem().Field(i)
	prop := propIndex[name]
	if val == nil {
		f.SetZero()
		return nil
	}
	var x any
	switch prop.Kind {
	case KindString, KindUUID, KindZpool:
		s, unset, _ := asString(val)
		if unset {
			f.SetZero()
			return nil
		}
		x = s
	case KindBool:
		x, _ = asBool(val)
	case KindInt:
		n, unset, _ := asInt(val)
		if unset {
			f.SetZero()
			return nil
		}
		x = n
	case KindList:
		l, _ := asList(val)
		if f.Kind() == reflect.String {
			x = joinList(l)
		} else {
			x = append([]string{}, l...)
		}
	case KindFlatObject:
		m, _ := asFlat(val)
		if f.Type() == reflect.TypeOf(map[string]string{}) {
			out := make(map[string]string, len(m))
			for k, e := range m {
				out[k] = fmt.Sprint(e)
			}
			x = out
		} else {
			out := make(map[string]any, len(m))
			for k, e := range m {
				out[k] = flatValue(e)
			}
			x = out
		}
	default:
		return fmt.Errorf("property %s cannot be set directly", name)
	}
	return assign(f, reflect.ValueOf(x))
}

// assign stores x in f, converting between int64/int and through one
// level of pointer.
func assign(f, x reflect.Value) error {
	t := f.Type()
	if t.Kind() == reflect.Pointer {
		p := reflect.New(t.Elem())
		if err := assign(p.Elem(), x); err != nil {
			return err
		}
		f.Set(p)
		return nil
	}
	switch {
	case x.Type().AssignableTo(t):
		f.Set(x)
	case x.Type().ConvertibleTo(t) && x.Kind() != reflect.String:
		f.Set(x.Convert(t))
	default:
		return fmt.Errorf("cannot store %s in %s", x.Type(), t)
	}
	return nil
}

// fieldValue returns the VM field of a property, for comparisons.
func fieldValue(v *VM, name string) reflect.Value {
	return reflect.ValueOf(v).Elem().Field(vmFields[name])
}
