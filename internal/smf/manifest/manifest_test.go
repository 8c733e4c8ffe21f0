package manifest

import (
	"reflect"
	"strings"
	"testing"
)

const sample = `<?xml version="1.0"?>
<!DOCTYPE service_bundle SYSTEM "/usr/share/lib/xml/dtd/service_bundle.dtd.1">
<service_bundle type="manifest" name="web">
  <service name="site/web" type="service" version="1">
    <create_default_instance enabled="true"/>
    <single_instance/>
    <dependency name="net" grouping="require_all" restart_on="error" type="service">
      <service_fmri value="svc:/milestone/network:default"/>
    </dependency>
    <dependency name="conf" grouping="require_any" restart_on="refresh" type="path">
      <service_fmri value="file://localhost/etc/web.conf"/>
    </dependency>
    <dependent name="web_multi-user" grouping="optional_all" restart_on="none">
      <service_fmri value="svc:/milestone/multi-user"/>
    </dependent>
    <method_context working_directory="/tmp">
      <method_credential user="nobody" group="nogroup"/>
      <method_environment>
        <envvar name="PORT" value="8080"/>
      </method_environment>
    </method_context>
    <exec_method type="method" name="start" exec="/opt/web/bin/web %m %{config/port}" timeout_seconds="60"/>
    <exec_method type="method" name="stop" exec=":kill" timeout_seconds="30"/>
    <exec_method type="method" name="refresh" exec=":kill -HUP" timeout_seconds="-1"/>
    <property_group name="startd" type="framework">
      <propval name="duration" type="astring" value="child"/>
      <propval name="ignore_error" type="astring" value="core,signal"/>
    </property_group>
    <property_group name="config" type="application">
      <propval name="port" type="count" value="8080"/>
      <property name="hosts" type="astring">
        <astring_list>
          <value_node value="a"/>
          <value_node value="b"/>
        </astring_list>
      </property>
    </property_group>
    <stability value="Evolving"/>
    <template>
      <common_name><loctext xml:lang="C">Web server</loctext></common_name>
      <documentation><manpage title="web" section="1M"/></documentation>
    </template>
  </service>
</service_bundle>
`

func TestParseSample(t *testing.T) {
	b, err := Parse("web.xml", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	cs := b.Services[0].Configs()
	if len(cs) != 1 {
		t.Fatalf("%d instances", len(cs))
	}
	c := cs[0]
	if c.FMRI != "svc:/site/web:default" || !c.Enabled || c.CommonName != "Web server" {
		t.Errorf("config %+v", c)
	}
	if c.Duration() != Child || !c.IgnoreError("core") || !c.IgnoreError("signal") || c.IgnoreError("x") {
		t.Errorf("startd props wrong")
	}
	if got := c.Dependencies[1].FMRIs; !reflect.DeepEqual(got, []string{"file://localhost/etc/web.conf"}) {
		t.Errorf("path dep %v", got)
	}
	if c.Methods["start"].Timeout != 60 || c.Methods["refresh"].Exec != ":kill -HUP" {
		t.Errorf("methods %+v", c.Methods)
	}
	if c.Context.Credential.User != "nobody" || c.Context.Env[0] != (EnvVar{"PORT", "8080"}) {
		t.Errorf("context %+v", c.Context)
	}
	if got := c.PropertyGroups["config"].Props[1].Values; !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("list %v", got)
	}
	deps := b.Dependents()["svc:/milestone/multi-user"]
	if len(deps) != 1 || deps[0].FMRIs[0] != "svc:/site/web" || deps[0].Grouping != OptionalAll {
		t.Errorf("dependents %+v", deps)
	}
	// Export and parse again: the same configuration.
	b2, err := Parse("export", Export(b))
	if err != nil {
		t.Fatalf("re-parse export: %v\n%s", err, Export(b))
	}
	c2 := b2.Services[0].Configs()[0]
	c2.Service, c2.Instance, c.Service, c.Instance = nil, nil, nil, nil
	if !reflect.DeepEqual(c, c2) {
		t.Errorf("round trip differs:\n%+v\n%+v", c, c2)
	}
}

func TestInstanceOverrides(t *testing.T) {
	doc := `<service_bundle type="manifest" name="x">
<service name="a" type="service" version="1">
  <exec_method type="method" name="start" exec="/bin/a" timeout_seconds="1"/>
  <exec_method type="method" name="stop" exec=":kill" timeout_seconds="1"/>
  <property_group name="startd" type="framework"><propval name="duration" type="astring" value="transient"/></property_group>
  <instance name="one" enabled="false">
    <exec_method type="method" name="start" exec="/bin/one" timeout_seconds="2"/>
    <property_group name="startd" type="framework"><propval name="duration" type="astring" value="contract"/></property_group>
  </instance>
  <instance name="two" enabled="true"/>
</service>
</service_bundle>`
	b, err := Parse("x", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	cs := b.Services[0].Configs()
	if cs[0].Methods["start"].Exec != "/bin/one" || cs[0].Duration() != Contract || cs[0].Enabled {
		t.Errorf("one: %+v", cs[0])
	}
	if cs[1].Methods["start"].Exec != "/bin/a" || cs[1].Duration() != Transient || !cs[1].Enabled {
		t.Errorf("two: %+v", cs[1])
	}
}

func TestParseErrors(t *testing.T) {
	head := `<service_bundle type="manifest" name="x">
<service name="a" type="service" version="1">
`
	methods := `<exec_method type="method" name="start" exec="/bin/a" timeout_seconds="1"/>
<exec_method type="method" name="stop" exec=":kill" timeout_seconds="1"/>
`
	tail := "<create_default_instance enabled='true'/>\n</service>\n</service_bundle>\n"
	tests := []struct {
		name, doc, want string
	}{
		{"syntax", head + "<dependency name='x'\n", "f.xml:4: XML syntax error"},
		{"unclosed", head + methods + "<instance name='a' enabled='true'>\n</service>\n", "f.xml:6: XML syntax error"},
		{"unknown element", head + methods + "<frobnicate/>\n" + tail, `f.xml:5: element <frobnicate> is not allowed in <service>`},
		{"unknown attribute", head + methods + "<single_instance color='red'/>\n" + tail, `f.xml:5: <single_instance> has unknown attribute "color"`},
		{"missing attribute", head + "<exec_method type='method' name='start' exec='/bin/a'/>\n" + tail, `f.xml:3: <exec_method> lacks required attribute "timeout_seconds"`},
		{"bad enum", head + methods + "<dependency name='d' grouping='some' restart_on='none' type='service'><service_fmri value='svc:/b'/></dependency>\n" + tail, `f.xml:5: <dependency> grouping="some"`},
		{"no stop", head + "<exec_method type='method' name='start' exec='/bin/a' timeout_seconds='1'/>\n" + tail, `f.xml:2: svc:/a:default has no "stop" exec_method`},
		{"bad timeout", head + "<exec_method type='method' name='start' exec='/bin/a' timeout_seconds='soon'/>\n" + tail, `f.xml:3: exec_method "start": timeout_seconds "soon"`},
		{"bad bool", head + methods + "<property_group name='p' type='application'><propval name='b' type='boolean' value='yes'/></property_group>\n" + tail, `f.xml:5: property "b": boolean value "yes"`},
		{"bad duration", head + methods + "<property_group name='startd' type='framework'><propval name='duration' type='astring' value='forever'/></property_group>\n" + tail, `startd/duration "forever"`},
		{"path dep cites svc", head + methods + "<dependency name='d' grouping='require_all' restart_on='none' type='path'><service_fmri value='svc:/b'/></dependency>\n" + tail, `f.xml:5: dependency "d" is of type path`},
		{"wrong root", "<service name='a'/>", "f.xml:1: root element is <service>"},
		{"empty", "", "no <service_bundle>"},
		{"bad name", `<service_bundle type="manifest" name="x"><service name="a b" type="service" version="1">` + methods + tail, `invalid service name "a b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.xml", []byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestFMRI(t *testing.T) {
	tests := []struct{ in, want string }{
		{"svc:/network/ssh:default", "svc:/network/ssh:default"},
		{"network/ssh", "svc:/network/ssh"},
		{"svc://localhost/network/ssh:default", "svc:/network/ssh:default"},
		{"file://localhost/etc/x", "file://localhost/etc/x"},
		{"file:///etc/x", "file://localhost/etc/x"},
	}
	for _, tt := range tests {
		f, err := ParseFMRI(tt.in)
		if err != nil || f.String() != tt.want {
			t.Errorf("ParseFMRI(%q) = %v, %v; want %s", tt.in, f, err, tt.want)
		}
	}
	for _, bad := range []string{"", "svc:/", "a b", "svc:/a:", "file://rel"} {
		if _, err := ParseFMRI(bad); err == nil {
			t.Errorf("ParseFMRI(%q) accepted", bad)
		}
	}
	if got := LogName("svc:/network/ssh:default"); got != "network-ssh:default.log" {
		t.Errorf("LogName %s", got)
	}
}

func TestMatch(t *testing.T) {
	f := "svc:/network/ssh:default"
	tests := map[string]bool{
		f: true, "network/ssh:default": true, "ssh": true, "ssh:default": true, "network/ssh": true,
		"svc:/network/ssh": true, "sh": false, "svc:/ssh": false, "ssh:other": false,
		"svc:/network/*": true, "*ssh*": true, "network/s*": true, "svc:/system/*": false,
	}
	for p, want := range tests {
		if got := Match(p, f); got != want {
			t.Errorf("Match(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestMajorMilestone(t *testing.T) {
	for in, want := range map[string]string{
		"all": "all", "none": "none", "multi-user": "svc:/milestone/multi-user:default",
		"milestone/multi-user-server":        "svc:/milestone/multi-user-server:default",
		"svc:/milestone/single-user:default": "svc:/milestone/single-user:default",
		"single-user:default":                "svc:/milestone/single-user:default",
		"user":                               "", "milestone/network": "", "": "",
	} {
		got, ok := MajorMilestone(in)
		if got != want || ok != (want != "") {
			t.Errorf("MajorMilestone(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
