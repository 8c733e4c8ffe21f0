package manifest

import (
	"encoding/xml"
	"fmt"
	"strings"
)

// Export writes b as a manifest document, in the element order of the
// DTD, the way svccfg export prints it.
func Export(b *Bundle) []byte {
	w := &xw{}
	w.raw(`<?xml version='1.0'?>`)
	w.raw(`<!DOCTYPE service_bundle SYSTEM '/usr/share/lib/xml/dtd/service_bundle.dtd.1'>`)
	typ := b.Type
	if typ == "" {
		typ = "manifest"
	}
	w.open("service_bundle", "type", typ, "name", b.Name)
	for _, s := range b.Services {
		w.open("service", "name", s.Name, "type", s.Type, "version", s.Version)
		if s.DefaultInstance != nil {
			w.leaf("create_default_instance", "enabled", fmt.Sprint(*s.DefaultInstance))
		}
		if s.SingleInstance {
			w.leaf("single_instance")
		}
		if s.Restarter != "" {
			w.open("restarter")
			w.leaf("service_fmri", "value", s.Restarter)
			w.close("restarter")
		}
		w.common(&s.Common, false)
		for _, i := range s.Instances {
			w.open("instance", "name", i.Name, "enabled", fmt.Sprint(i.Enabled))
			w.common(&i.Common, true)
			w.close("instance")
		}
		if s.Stability != "" {
			w.leaf("stability", "value", s.Stability)
		}
		if s.Template != nil {
			w.template(s.Template)
		}
		w.close("service")
	}
	w.close("service_bundle")
	return []byte(w.b.String())
}

// entities names the characters Go's escaper writes by number, as
// libxml2 (and so svccfg export) writes them.
var entities = strings.NewReplacer("&#39;", "&apos;", "&#34;", "&quot;")

type xw struct {
	b     strings.Builder
	depth int
}

func (w *xw) raw(s string) { w.b.WriteString(strings.Repeat("  ", w.depth) + s + "\n") }

func attrs(kv []string) string {
	var s strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		var v strings.Builder
		_ = xml.EscapeText(&v, []byte(kv[i+1]))
		fmt.Fprintf(&s, " %s='%s'", kv[i], entities.Replace(v.String()))
	}
	return s.String()
}

func (w *xw) open(name string, kv ...string) {
	w.raw("<" + name + attrs(kv) + ">")
	w.depth++
}

func (w *xw) close(name string) {
	w.depth--
	w.raw("</" + name + ">")
}

func (w *xw) leaf(name string, kv ...string) { w.raw("<" + name + attrs(kv) + "/>") }

func (w *xw) common(c *Common, inInstance bool) {
	for _, d := range c.Dependencies {
		w.open("dependency", "name", d.Name, "grouping", d.Grouping, "restart_on", d.RestartOn, "type", d.Type)
		for _, f := range d.FMRIs {
			w.leaf("service_fmri", "value", f)
		}
		w.close("dependency")
	}
	for _, d := range c.Dependents {
		w.open("dependent", "name", d.Name, "grouping", d.Grouping, "restart_on", d.RestartOn)
		w.leaf("service_fmri", "value", d.FMRI)
		w.close("dependent")
	}
	if c.Context != nil {
		w.context(c.Context)
	}
	for _, m := range c.Methods {
		kv := []string{"name", m.Name, "type", m.Type, "exec", m.Exec, "timeout_seconds", fmt.Sprint(m.Timeout)}
		if m.Context == nil && len(m.Props) == 0 {
			w.leaf("exec_method", kv...)
			continue
		}
		w.open("exec_method", kv...)
		if m.Context != nil {
			w.context(m.Context)
		}
		for _, p := range m.Props {
			w.property(p)
		}
		w.close("exec_method")
	}
	for _, pg := range c.PropertyGroups {
		w.open("property_group", "name", pg.Name, "type", pg.Type)
		for _, p := range pg.Props {
			w.property(p)
		}
		w.close("property_group")
	}
	if inInstance && c.Template != nil {
		w.template(c.Template)
	}
}

func (w *xw) context(mc *MethodContext) {
	var kv []string
	for _, a := range [][2]string{{"working_directory", mc.WorkingDirectory}, {"project", mc.Project}, {"resource_pool", mc.ResourcePool}} {
		if a[1] != "" {
			kv = append(kv, a[0], a[1])
		}
	}
	if mc.Profile == "" && mc.Credential == nil && len(mc.Env) == 0 {
		w.leaf("method_context", kv...)
		return
	}
	w.open("method_context", kv...)
	if mc.Profile != "" {
		w.leaf("method_profile", "name", mc.Profile)
	}
	if c := mc.Credential; c != nil {
		kv := []string{"user", c.User}
		for _, a := range [][2]string{{"group", c.Group}, {"supp_groups", c.SuppGroups}, {"privileges", c.Privileges}, {"limit_privileges", c.LimitPrivileges}} {
			if a[1] != "" {
				kv = append(kv, a[0], a[1])
			}
		}
		w.leaf("method_credential", kv...)
	}
	if len(mc.Env) > 0 {
		w.open("method_environment")
		for _, e := range mc.Env {
			w.leaf("envvar", "name", e.Name, "value", e.Value)
		}
		w.close("method_environment")
	}
	w.close("method_context")
}

func (w *xw) property(p *Property) {
	if !p.List && len(p.Values) == 1 {
		w.leaf("propval", "name", p.Name, "type", p.Type, "value", p.Values[0])
		return
	}
	w.open("property", "name", p.Name, "type", p.Type)
	w.open(p.Type + "_list")
	for _, v := range p.Values {
		w.leaf("value_node", "value", v)
	}
	w.close(p.Type + "_list")
	w.close("property")
}

func (w *xw) template(t *Template) {
	w.open("template")
	for _, x := range [][2]string{{"common_name", t.CommonName}, {"description", t.Description}} {
		if x[1] == "" {
			continue
		}
		w.open(x[0])
		var v strings.Builder
		_ = xml.EscapeText(&v, []byte(x[1]))
		w.raw("<loctext xml:lang='C'>" + v.String() + "</loctext>")
		w.close(x[0])
	}
	if len(t.Manpages)+len(t.DocLinks) > 0 {
		w.open("documentation")
		for _, m := range t.Manpages {
			kv := []string{"title", m.Title, "section", m.Section}
			if m.Manpath != "" {
				kv = append(kv, "manpath", m.Manpath)
			}
			w.leaf("manpage", kv...)
		}
		for _, d := range t.DocLinks {
			w.leaf("doc_link", "name", d.Name, "uri", d.URI)
		}
		w.close("documentation")
	}
	w.close("template")
}
