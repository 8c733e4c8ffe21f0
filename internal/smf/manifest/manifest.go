// Package manifest reads and writes SMF service manifests (the
// service_bundle DTD as SmartOS uses it) and resolves each instance's
// effective configuration: service-level settings with the instance's
// own on top.
package manifest

import (
	"fmt"
	"strconv"
	"strings"
)

// Bundle is one service_bundle document.
type Bundle struct {
	Type     string // manifest, profile, archive
	Name     string
	Services []*Service
}

// Service is a <service> element.
type Service struct {
	Name, Version, Type string // type: service, restarter, milestone
	// DefaultInstance is create_default_instance: nil when absent.
	DefaultInstance *bool
	SingleInstance  bool
	Restarter       string
	Common
	Instances []*Instance
	Stability string
	Line      int
}

// Instance is an <instance> element.
type Instance struct {
	Name    string
	Enabled bool
	Common
	Line int
}

// Common holds what both services and instances may carry.
type Common struct {
	Dependencies   []*Dependency
	Dependents     []*Dependent
	Context        *MethodContext
	Methods        []*ExecMethod
	PropertyGroups []*PropertyGroup
	Template       *Template
}

// Dependency is a <dependency>.
type Dependency struct {
	Name, Grouping, RestartOn, Type string
	FMRIs                           []string // canonical
	Line                            int
}

// Dependent is a <dependent>: a dependency added to the named service.
type Dependent struct {
	Name, Grouping, RestartOn string
	FMRI                      string
	Line                      int
}

// ExecMethod is an <exec_method>.
type ExecMethod struct {
	Type, Name, Exec string
	// Timeout in seconds; 0 or -1 means none.
	Timeout int64
	Context *MethodContext
	Props   []*Property
	Line    int
}

// MethodContext is a <method_context>.
type MethodContext struct {
	WorkingDirectory, Project, ResourcePool string
	Profile                                 string
	Credential                              *Credential
	Env                                     []EnvVar
}

// Credential is a <method_credential>.
type Credential struct {
	User, Group, SuppGroups, Privileges, LimitPrivileges string
}

// EnvVar is an <envvar>.
type EnvVar struct{ Name, Value string }

// PropertyGroup is a <property_group>.
type PropertyGroup struct {
	Name, Type string
	Props      []*Property
}

// Property is a <propval> or a <property> with a value list.
type Property struct {
	Name, Type string
	Values     []string
	// List is true for a <property> element (exported as such).
	List bool
}

// Template holds the human-readable names of a service and where its
// documentation is.
type Template struct {
	CommonName, Description string
	Manpages                []Manpage
	DocLinks                []DocLink
}

// Manpage is a <manpage> of a template's documentation.
type Manpage struct{ Title, Section, Manpath string }

// DocLink is a <doc_link>.
type DocLink struct{ Name, URI string }

// Groupings and restart_on values.
const (
	RequireAll  = "require_all"
	RequireAny  = "require_any"
	OptionalAll = "optional_all"
	ExcludeAll  = "exclude_all"

	RestartNone    = "none"
	RestartError   = "error"
	RestartRestart = "restart"
	RestartRefresh = "refresh"
)

// Durations of startd/duration.
const (
	Contract  = "contract"
	Transient = "transient"
	Child     = "child"
)

// Config is an instance's effective configuration.
type Config struct {
	FMRI           string
	Service        *Service
	Instance       *Instance
	Enabled        bool
	Dependencies   []*Dependency
	Methods        map[string]*ExecMethod
	Context        *MethodContext
	PropertyGroups map[string]*PropertyGroup
	CommonName     string
	Description    string
}

// Instances lists the effective configuration of every instance of s,
// including the default instance that create_default_instance asks for.
func (s *Service) Configs() []*Config {
	insts := s.Instances
	if s.DefaultInstance != nil {
		found := false
		for _, i := range insts {
			found = found || i.Name == "default"
		}
		if !found {
			insts = append([]*Instance{{Name: "default", Enabled: *s.DefaultInstance, Line: s.Line}}, insts...)
		}
	}
	var out []*Config
	for _, i := range insts {
		out = append(out, s.config(i))
	}
	return out
}

func (s *Service) config(i *Instance) *Config {
	c := &Config{
		FMRI:           "svc:/" + s.Name + ":" + i.Name,
		Service:        s,
		Instance:       i,
		Enabled:        i.Enabled,
		Methods:        map[string]*ExecMethod{},
		PropertyGroups: map[string]*PropertyGroup{},
		Context:        i.Context,
	}
	if c.Context == nil {
		c.Context = s.Context
	}
	byName := map[string]int{}
	for _, d := range append(append([]*Dependency(nil), s.Dependencies...), i.Dependencies...) {
		if k, ok := byName[d.Name]; ok {
			c.Dependencies[k] = d
			continue
		}
		byName[d.Name] = len(c.Dependencies)
		c.Dependencies = append(c.Dependencies, d)
	}
	for _, m := range append(append([]*ExecMethod(nil), s.Methods...), i.Methods...) {
		c.Methods[m.Name] = m
	}
	for _, list := range [][]*PropertyGroup{s.PropertyGroups, i.PropertyGroups} {
		for _, pg := range list {
			cur := c.PropertyGroups[pg.Name]
			if cur == nil {
				cur = &PropertyGroup{Name: pg.Name, Type: pg.Type}
				c.PropertyGroups[pg.Name] = cur
			}
			for _, p := range pg.Props {
				replaced := false
				for k, q := range cur.Props {
					if q.Name == p.Name {
						cur.Props[k], replaced = p, true
					}
				}
				if !replaced {
					cur.Props = append(cur.Props, p)
				}
			}
		}
	}
	for _, t := range []*Template{s.Template, i.Template} {
		if t != nil {
			if t.CommonName != "" {
				c.CommonName = t.CommonName
			}
			if t.Description != "" {
				c.Description = t.Description
			}
		}
	}
	return c
}

// Prop returns the first value of pg/name, or "".
func (c *Config) Prop(pg, name string) string {
	if g := c.PropertyGroups[pg]; g != nil {
		for _, p := range g.Props {
			if p.Name == name && len(p.Values) > 0 {
				return p.Values[0]
			}
		}
	}
	return ""
}

// Duration is startd/duration: contract (default), transient or child
// ("wait" is the same as child).
func (c *Config) Duration() string {
	switch c.Prop("startd", "duration") {
	case "transient":
		return Transient
	case "child", "wait":
		return Child
	}
	return Contract
}

// IgnoreError reports whether startd/ignore_error lists kind ("core" or
// "signal").
func (c *Config) IgnoreError(kind string) bool {
	for _, k := range strings.Split(c.Prop("startd", "ignore_error"), ",") {
		if strings.TrimSpace(k) == kind {
			return true
		}
	}
	return false
}

// PropInt returns pg/name as an integer, or def when unset or invalid.
func (c *Config) PropInt(pg, name string, def int64) int64 {
	v, err := strconv.ParseInt(c.Prop(pg, name), 10, 64)
	if err != nil {
		return def
	}
	return v
}

// Dependents turns every <dependent> of the bundle into the dependency
// it adds to its target: map target FMRI (as written) → dependencies.
func (b *Bundle) Dependents() map[string][]*Dependency {
	out := map[string][]*Dependency{}
	add := func(from string, ds []*Dependent) {
		for _, d := range ds {
			out[d.FMRI] = append(out[d.FMRI], &Dependency{
				Name: d.Name, Grouping: d.Grouping, RestartOn: d.RestartOn,
				Type: "service", FMRIs: []string{from}, Line: d.Line,
			})
		}
	}
	for _, s := range b.Services {
		add("svc:/"+s.Name, s.Dependents)
		for _, i := range s.Instances {
			add("svc:/"+s.Name+":"+i.Name, i.Dependents)
		}
	}
	return out
}

// String describes a dependency as svcs -l does: "require_all/none".
func (d *Dependency) String() string { return fmt.Sprintf("%s/%s", d.Grouping, d.RestartOn) }
