package manifest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Error is a manifest error at a line of a file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// elem is one XML element with the line it starts on.
type elem struct {
	name  string
	attrs map[string]string
	kids  []*elem
	text  string
	line  int
}

func (e *elem) attr(n string) string { return e.attrs[n] }

// rule says which attributes (true: required) and children an element
// may have. Children named "*" allow anything below (templates).
type rule struct {
	attrs map[string]bool
	kids  []string
}

func r(attrs string, kids ...string) rule {
	m := map[string]bool{}
	for _, a := range strings.Fields(attrs) {
		req := strings.HasSuffix(a, "!")
		m[strings.TrimSuffix(a, "!")] = req
	}
	return rule{m, kids}
}

var valueLists = []string{"count_list", "integer_list", "opaque_list", "host_list", "hostname_list",
	"net_address_list", "net_address_v4_list", "net_address_v6_list", "time_list", "astring_list",
	"ustring_list", "boolean_list", "fmri_list", "uri_list"}

var schema = map[string]rule{
	"service_bundle":          r("type! name!", "service", "xi:include"),
	"service":                 r("name! type! version!", "create_default_instance", "single_instance", "restarter", "dependency", "dependent", "method_context", "exec_method", "property_group", "instance", "stability", "template"),
	"create_default_instance": r("enabled!"),
	"single_instance":         r(""),
	"restarter":               r("", "service_fmri"),
	"instance":                r("name! enabled!", "restarter", "dependency", "dependent", "method_context", "exec_method", "property_group", "template"),
	"dependency":              r("name! grouping! restart_on! type! delete", "service_fmri", "propval", "property", "stability"),
	"dependent":               r("name! grouping! restart_on! override delete", "service_fmri", "stability"),
	"service_fmri":            r("value!"),
	"exec_method":             r("type! name! exec! timeout_seconds! delete", "method_context", "propval", "property", "stability"),
	"method_context":          r("working_directory project resource_pool security_flags", "method_profile", "method_credential", "method_environment"),
	"method_profile":          r("name!"),
	"method_credential":       r("user! group supp_groups privileges limit_privileges"),
	"method_environment":      r("", "envvar"),
	"envvar":                  r("name! value!"),
	"property_group":          r("name! type! delete", "propval", "property", "stability"),
	"propval":                 r("name! type value! override"),
	"property":                r("name! type! override", append([]string{"stability"}, valueLists...)...),
	"value_node":              r("value!"),
	"stability":               r("value!"),
	"template":                r("", "*"),
}

func init() {
	for _, l := range valueLists {
		schema[l] = r("", "value_node")
	}
}

var enums = map[string]map[string][]string{
	"service_bundle": {"type": {"manifest", "profile", "archive"}},
	"service":        {"type": {"service", "restarter", "milestone"}},
	"dependency":     {"grouping": {RequireAll, RequireAny, OptionalAll, ExcludeAll}, "restart_on": {RestartNone, RestartError, RestartRestart, RestartRefresh}, "type": {"service", "path"}},
	"dependent":      {"grouping": {RequireAll, RequireAny, OptionalAll, ExcludeAll}, "restart_on": {RestartNone, RestartError, RestartRestart, RestartRefresh}},
	"exec_method":    {"type": {"method", "monitor"}},
}

// ParseFile reads a manifest file.
func ParseFile(path string) (*Bundle, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse reads a manifest; name is used in error messages. Every error
// names the line it was found on.
func Parse(name string, data []byte) (*Bundle, error) {
	root, err := tree(name, data)
	if err != nil {
		return nil, err
	}
	p := &parser{file: name}
	b := p.bundle(root)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return b, nil
}

// tree decodes the document into elements, checking each against the
// schema as it goes.
func tree(name string, data []byte) (*elem, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var stack []*elem
	var root *elem
	var errs []error
	free := 0 // depth inside a free-form element (template): kept, not checked
	for {
		line, _ := d.InputPos()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, &Error{name, se.Line, "XML syntax error: " + se.Msg}
			}
			l, _ := d.InputPos()
			return nil, &Error{name, l, err.Error()}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := qname(t.Name)
			e := &elem{name: n, attrs: map[string]string{}, line: line}
			for _, a := range t.Attr {
				e.attrs[qname(a.Name)] = a.Value
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, &Error{name, line, "more than one root element"}
				}
				if n != "service_bundle" {
					return nil, &Error{name, line, fmt.Sprintf("root element is <%s>, want <service_bundle>", n)}
				}
				root = e
			} else {
				parent := stack[len(stack)-1]
				if free == 0 && !allowed(parent.name, n) {
					errs = append(errs, &Error{name, line, fmt.Sprintf("element <%s> is not allowed in <%s>", n, parent.name)})
				}
				parent.kids = append(parent.kids, e)
			}
			if free == 0 {
				errs = append(errs, checkAttrs(name, e)...)
			}
			stack = append(stack, e)
			if free > 0 || n == "template" {
				free++
			}
		case xml.EndElement:
			if free > 0 {
				free--
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
	if root == nil {
		return nil, &Error{name, 0, "no <service_bundle> element"}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return root, nil
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	if n.Space == "http://www.w3.org/XML/1998/namespace" {
		return "xml:" + n.Local
	}
	if n.Space == "http://www.w3.org/2001/XInclude" {
		return "xi:" + n.Local
	}
	return n.Space + ":" + n.Local
}

func allowed(parent, kid string) bool {
	for _, k := range schema[parent].kids {
		if k == kid || k == "*" {
			return true
		}
	}
	return false
}

func checkAttrs(file string, e *elem) []error {
	rl, known := schema[e.name]
	if !known {
		return nil // already reported as not allowed where it stands
	}
	var errs []error
	for a := range e.attrs {
		if _, ok := rl.attrs[a]; !ok && !strings.HasPrefix(a, "xmlns") && !strings.HasPrefix(a, "xml:") {
			errs = append(errs, &Error{file, e.line, fmt.Sprintf("<%s> has unknown attribute %q", e.name, a)})
		}
	}
	for a, req := range rl.attrs {
		if _, ok := e.attrs[a]; req && !ok {
			errs = append(errs, &Error{file, e.line, fmt.Sprintf("<%s> lacks required attribute %q", e.name, a)})
		}
	}
	for a, vals := range enums[e.name] {
		if v, ok := e.attrs[a]; ok && !contains(vals, v) {
			errs = append(errs, &Error{file, e.line, fmt.Sprintf("<%s> %s=%q: want one of %s", e.name, a, v, strings.Join(vals, ", "))})
		}
	}
	return errs
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

type parser struct {
	file string
	errs []error
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{p.file, line, fmt.Sprintf(format, args...)})
}

func (p *parser) bool(e *elem, a string) bool {
	switch e.attr(a) {
	case "true":
		return true
	case "false", "":
		return false
	}
	p.errorf(e.line, "<%s> %s=%q: want true or false", e.name, a, e.attr(a))
	return false
}

func (p *parser) bundle(e *elem) *Bundle {
	b := &Bundle{Type: e.attr("type"), Name: e.attr("name")}
	seen := map[string]bool{}
	for _, k := range e.kids {
		if k.name != "service" {
			continue
		}
		s := p.service(k)
		if seen[s.Name] {
			p.errorf(k.line, "service %q defined twice", s.Name)
		}
		seen[s.Name] = true
		b.Services = append(b.Services, s)
	}
	if b.Type == "manifest" && len(b.Services) == 0 {
		p.errorf(e.line, "manifest %q defines no service", b.Name)
	}
	return b
}

func (p *parser) service(e *elem) *Service {
	s := &Service{Name: e.attr("name"), Version: e.attr("version"), Type: e.attr("type"), Line: e.line}
	if _, err := ParseFMRI("svc:/" + s.Name); err != nil || strings.Contains(s.Name, ":") {
		p.errorf(e.line, "invalid service name %q", s.Name)
	}
	insts := map[string]bool{}
	for _, k := range e.kids {
		switch k.name {
		case "create_default_instance":
			v := p.bool(k, "enabled")
			s.DefaultInstance = &v
		case "single_instance":
			s.SingleInstance = true
		case "restarter":
			s.Restarter = p.restarter(k)
		case "instance":
			i := p.instance(k)
			if insts[i.Name] {
				p.errorf(k.line, "instance %q of %s defined twice", i.Name, s.Name)
			}
			insts[i.Name] = true
			s.Instances = append(s.Instances, i)
		case "stability":
			s.Stability = k.attr("value")
		default:
			p.common(&s.Common, k)
		}
	}
	if s.SingleInstance && len(s.Instances)+boolInt(s.DefaultInstance != nil && !insts["default"]) > 1 {
		p.errorf(e.line, "service %s is single_instance but has more than one instance", s.Name)
	}
	if s.Type == "service" && len(s.Instances) == 0 && s.DefaultInstance == nil {
		// A service with no instance is legal (instances may come later);
		// nothing runs until one is added.
		_ = s
	}
	p.checkMethods(s)
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkMethods requires start and stop methods for every instance of a
// service-typed service, from the service or the instance.
func (p *parser) checkMethods(s *Service) {
	if s.Type != "service" || s.Restarter != "" {
		return
	}
	for _, c := range s.Configs() {
		for _, m := range []string{"start", "stop"} {
			if c.Methods[m] == nil {
				p.errorf(c.Instance.Line, "%s has no %q exec_method", c.FMRI, m)
			}
		}
	}
}

func (p *parser) restarter(e *elem) string {
	for _, k := range e.kids {
		if k.name == "service_fmri" {
			return Canonical(k.attr("value"))
		}
	}
	p.errorf(e.line, "<restarter> needs a <service_fmri>")
	return ""
}

func (p *parser) instance(e *elem) *Instance {
	i := &Instance{Name: e.attr("name"), Enabled: p.bool(e, "enabled"), Line: e.line}
	if !validName(i.Name) {
		p.errorf(e.line, "invalid instance name %q", i.Name)
	}
	for _, k := range e.kids {
		if k.name != "restarter" {
			p.common(&i.Common, k)
		}
	}
	return i
}

func (p *parser) common(c *Common, e *elem) {
	switch e.name {
	case "dependency":
		c.Dependencies = append(c.Dependencies, p.dependency(e))
	case "dependent":
		d := &Dependent{Name: e.attr("name"), Grouping: e.attr("grouping"), RestartOn: e.attr("restart_on"), Line: e.line}
		var fmris []string
		for _, k := range e.kids {
			if k.name == "service_fmri" {
				fmris = append(fmris, k.attr("value"))
			}
		}
		if len(fmris) != 1 {
			p.errorf(e.line, "dependent %q needs exactly one <service_fmri>", d.Name)
		} else if f, err := ParseFMRI(fmris[0]); err != nil || f.IsFile() {
			p.errorf(e.line, "dependent %q: invalid service FMRI %q", d.Name, fmris[0])
		} else {
			d.FMRI = f.String()
		}
		c.Dependents = append(c.Dependents, d)
	case "method_context":
		c.Context = p.context(e)
	case "exec_method":
		c.Methods = append(c.Methods, p.method(e))
	case "property_group":
		c.PropertyGroups = append(c.PropertyGroups, p.propertyGroup(e))
	case "template":
		c.Template = template(e)
	}
}

func (p *parser) dependency(e *elem) *Dependency {
	d := &Dependency{Name: e.attr("name"), Grouping: e.attr("grouping"), RestartOn: e.attr("restart_on"), Type: e.attr("type"), Line: e.line}
	for _, k := range e.kids {
		if k.name != "service_fmri" {
			continue
		}
		f, err := ParseFMRI(k.attr("value"))
		switch {
		case err != nil:
			p.errorf(k.line, "dependency %q: %v", d.Name, err)
		case d.Type == "path" && !f.IsFile():
			p.errorf(k.line, "dependency %q is of type path but cites %q", d.Name, k.attr("value"))
		case d.Type == "service" && f.IsFile():
			p.errorf(k.line, "dependency %q is of type service but cites %q", d.Name, k.attr("value"))
		default:
			d.FMRIs = append(d.FMRIs, f.String())
		}
	}
	if len(d.FMRIs) == 0 && len(p.errs) == 0 {
		p.errorf(e.line, "dependency %q cites no FMRI", d.Name)
	}
	return d
}

func (p *parser) context(e *elem) *MethodContext {
	mc := &MethodContext{WorkingDirectory: e.attr("working_directory"), Project: e.attr("project"), ResourcePool: e.attr("resource_pool")}
	for _, k := range e.kids {
		switch k.name {
		case "method_profile":
			mc.Profile = k.attr("name")
		case "method_credential":
			mc.Credential = &Credential{User: k.attr("user"), Group: k.attr("group"), SuppGroups: k.attr("supp_groups"),
				Privileges: k.attr("privileges"), LimitPrivileges: k.attr("limit_privileges")}
		case "method_environment":
			for _, v := range k.kids {
				mc.Env = append(mc.Env, EnvVar{v.attr("name"), v.attr("value")})
			}
		}
	}
	return mc
}

func (p *parser) method(e *elem) *ExecMethod {
	m := &ExecMethod{Type: e.attr("type"), Name: e.attr("name"), Exec: e.attr("exec"), Line: e.line}
	t, err := strconv.ParseInt(e.attr("timeout_seconds"), 10, 64)
	if err != nil || t < -1 {
		p.errorf(e.line, "exec_method %q: timeout_seconds %q is not a count of seconds", m.Name, e.attr("timeout_seconds"))
	}
	m.Timeout = t
	if strings.TrimSpace(m.Exec) == "" {
		p.errorf(e.line, "exec_method %q has an empty exec", m.Name)
	}
	for _, k := range e.kids {
		switch k.name {
		case "method_context":
			m.Context = p.context(k)
		case "propval", "property":
			m.Props = append(m.Props, p.property(k))
		}
	}
	return m
}

func (p *parser) propertyGroup(e *elem) *PropertyGroup {
	pg := &PropertyGroup{Name: e.attr("name"), Type: e.attr("type")}
	for _, k := range e.kids {
		if k.name == "propval" || k.name == "property" {
			pg.Props = append(pg.Props, p.property(k))
		}
	}
	if pg.Name == "startd" {
		for _, pr := range pg.Props {
			if pr.Name == "duration" && len(pr.Values) > 0 && !contains([]string{"contract", "transient", "child", "wait"}, pr.Values[0]) {
				p.errorf(e.line, "startd/duration %q: want contract, transient or child", pr.Values[0])
			}
		}
	}
	return pg
}

func (p *parser) property(e *elem) *Property {
	pr := &Property{Name: e.attr("name"), Type: e.attr("type")}
	if e.name == "propval" {
		pr.Values = []string{e.attr("value")}
		if pr.Type == "" {
			pr.Type = "astring"
		}
	} else {
		pr.List = true
		for _, l := range e.kids {
			for _, v := range l.kids {
				pr.Values = append(pr.Values, v.attr("value"))
			}
		}
	}
	for _, v := range pr.Values {
		if err := checkValue(pr.Type, v); err != nil {
			p.errorf(e.line, "property %q: %v", pr.Name, err)
		}
	}
	return pr
}

func checkValue(typ, v string) error {
	switch typ {
	case "boolean":
		if v != "true" && v != "false" {
			return fmt.Errorf("boolean value %q: want true or false", v)
		}
	case "count":
		if _, err := strconv.ParseUint(v, 10, 64); err != nil {
			return fmt.Errorf("count value %q is not a non-negative integer", v)
		}
	case "integer":
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("integer value %q is not an integer", v)
		}
	case "astring", "ustring", "opaque", "host", "hostname", "net_address", "net_address_v4", "net_address_v6", "time", "fmri", "uri", "":
	default:
		return fmt.Errorf("unknown property type %q", typ)
	}
	return nil
}

// template picks common_name and description (C locale first) and the
// documentation out of a <template>.
func template(e *elem) *Template {
	t := &Template{}
	for _, k := range e.kids {
		switch k.name {
		case "common_name":
			t.CommonName = loctext(k)
		case "description":
			t.Description = loctext(k)
		case "documentation":
			for _, d := range k.kids {
				switch d.name {
				case "manpage":
					t.Manpages = append(t.Manpages, Manpage{d.attr("title"), d.attr("section"), d.attr("manpath")})
				case "doc_link":
					t.DocLinks = append(t.DocLinks, DocLink{d.attr("name"), d.attr("uri")})
				}
			}
		}
	}
	return t
}

func loctext(e *elem) string {
	out := ""
	for _, l := range e.kids {
		if l.name == "loctext" {
			txt := strings.Join(strings.Fields(l.text), " ")
			if out == "" || l.attr("xml:lang") == "C" {
				out = txt
			}
		}
	}
	return out
}
