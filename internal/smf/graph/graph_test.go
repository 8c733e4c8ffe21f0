package graph

import (
	"reflect"
	"strings"
	"testing"

	"hull/internal/smf/manifest"
)

func dep(grouping, restartOn string, fmris ...string) *manifest.Dependency {
	typ := "service"
	if strings.HasPrefix(fmris[0], "file:") {
		typ = "path"
	}
	return &manifest.Dependency{Name: "d", Grouping: grouping, RestartOn: restartOn, Type: typ, FMRIs: fmris}
}

const (
	a = "svc:/a:default"
	b = "svc:/b:default"
	c = "svc:/c:default"
)

func TestSatisfied(t *testing.T) {
	tests := []struct {
		name     string
		d        *manifest.Dependency
		states   map[string]string
		files    map[string]bool
		ok       bool
		hopeless bool
	}{
		{"require_all online", dep("require_all", "none", b, c), map[string]string{b: Online, c: Degraded}, nil, true, false},
		{"require_all one offline", dep("require_all", "none", b, c), map[string]string{b: Online, c: Offline}, nil, false, false},
		{"require_all one disabled", dep("require_all", "none", b, c), map[string]string{b: Online, c: Disabled}, nil, false, true},
		{"require_all absent", dep("require_all", "none", "svc:/zz"), nil, nil, false, true},
		{"require_all via service", dep("require_all", "none", "svc:/b"), map[string]string{b: Online}, nil, true, false},
		{"require_any one", dep("require_any", "none", b, c), map[string]string{b: Maintenance, c: Online}, nil, true, false},
		{"require_any none", dep("require_any", "none", b, c), map[string]string{b: Maintenance, c: Offline}, nil, false, false},
		{"require_any all hopeless", dep("require_any", "none", b, c), map[string]string{b: Maintenance, c: Disabled}, nil, false, true},
		{"optional_all disabled ok", dep("optional_all", "none", b, c), map[string]string{b: Disabled, c: Online}, nil, true, false},
		{"optional_all absent ok", dep("optional_all", "none", "svc:/zz"), nil, nil, true, false},
		{"optional_all offline waits", dep("optional_all", "none", b), map[string]string{b: Offline}, nil, false, false},
		{"exclude_all disabled", dep("exclude_all", "none", b), map[string]string{b: Disabled}, nil, true, false},
		{"exclude_all online", dep("exclude_all", "none", b), map[string]string{b: Online}, nil, false, true},
		{"path present", dep("require_all", "none", "file://localhost/etc/x"), nil, map[string]bool{"/etc/x": true}, true, false},
		{"path absent", dep("require_all", "none", "file://localhost/etc/x"), nil, nil, false, true},
		{"path any", dep("require_any", "none", "file://localhost/etc/x", "file://localhost/etc/y"), nil, map[string]bool{"/etc/y": true}, true, false},
		{"path exclude", dep("exclude_all", "none", "file://localhost/etc/x"), nil, map[string]bool{"/etc/x": true}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := New(map[string][]*manifest.Dependency{a: {tt.d}, b: nil, c: nil})
			w := World{
				State:  func(f string) string { return tt.states[f] },
				Exists: func(p string) bool { return tt.files[p] },
			}
			ok, unmet := g.Satisfied(a, w)
			if ok != tt.ok {
				t.Fatalf("ok = %v, unmet %+v", ok, unmet)
			}
			if !ok && unmet[0].Hopeless != tt.hopeless {
				t.Errorf("hopeless = %v", unmet[0].Hopeless)
			}
		})
	}
}

// An optional_all dependency on an instance offline behind a disabled
// one does not wait: that one cannot come up without an administrator.
func TestOptionalTransitive(t *testing.T) {
	g := New(map[string][]*manifest.Dependency{
		a: {dep("optional_all", "none", b)},
		b: {dep("require_all", "none", c)},
		c: nil,
	})
	st := map[string]string{b: Offline, c: Disabled}
	w := World{State: func(f string) string { return st[f] }, Exists: func(string) bool { return false }}
	if ok, _ := g.Satisfied(a, w); !ok {
		t.Error("a waits for b, which waits for disabled c")
	}
	st[c] = Offline
	if ok, _ := g.Satisfied(a, w); ok {
		t.Error("a does not wait for b while c may still come up")
	}
}

func TestPropagates(t *testing.T) {
	// SmartOS's table: rows events, columns none/error/restart/refresh.
	want := map[Event][4]bool{
		StopError: {false, true, true, true},
		Stop:      {false, false, true, true},
		Refresh:   {false, false, false, true},
	}
	for ev, row := range want {
		for i, ro := range []string{"none", "error", "restart", "refresh"} {
			if got := Propagates(ro, ev); got != row[i] {
				t.Errorf("Propagates(%s, %d) = %v", ro, ev, got)
			}
		}
	}
}

func TestAffectedAndExcluded(t *testing.T) {
	d := "svc:/d:default"
	g := New(map[string][]*manifest.Dependency{
		a: nil,
		b: {dep("require_all", "error", a)},
		c: {dep("optional_all", "restart", "svc:/a")},
		d: {dep("exclude_all", "restart", a)},
	})
	st := func(string) string { return Online }
	if got := g.Affected(a, StopError, st); !reflect.DeepEqual(got, []string{b, c}) {
		t.Errorf("error stop: %v", got)
	}
	if got := g.Affected(a, Stop, st); !reflect.DeepEqual(got, []string{c}) {
		t.Errorf("stop: %v", got)
	}
	if got := g.Affected(a, Refresh, st); len(got) != 0 {
		t.Errorf("refresh: %v", got)
	}
	if got := g.Excluded(a, st); !reflect.DeepEqual(got, []string{d}) {
		t.Errorf("excluded: %v", got)
	}
}

func TestCyclesAndClosure(t *testing.T) {
	d := "svc:/d:default"
	g := New(map[string][]*manifest.Dependency{
		a: {dep("require_all", "none", b)},
		b: {dep("require_all", "none", c)},
		c: {dep("optional_all", "none", "svc:/a")},
		d: {dep("require_all", "none", a), dep("exclude_all", "none", d)},
	})
	cyc := g.Cycles()
	if len(cyc) != 1 || !reflect.DeepEqual(cyc[0], []string{a, b, c, a}) {
		t.Errorf("cycles %v", cyc)
	}
	if m := g.InCycle(); len(m) != 3 || m[d] != nil {
		t.Errorf("in cycle %v", m)
	}
	if cl := g.Closure(d); len(cl) != 4 {
		t.Errorf("closure %v", cl)
	}
}
