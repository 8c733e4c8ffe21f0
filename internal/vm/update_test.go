package vm

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func baseVM(t *testing.T, extra string) *VM {
	t.Helper()
	v, err := NormalizeCreate(payload(extra), testNow)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var later = testNow.Add(time.Hour)

func TestApplyUpdate(t *testing.T) {
	tests := []struct {
		name    string
		create  string
		update  string
		changed []string
		check   func(v *VM) bool
	}{
		{"alias", ``, `{"alias":"web"}`, []string{"alias"}, func(v *VM) bool { return v.Alias == "web" }},
		{"alias cleared by null", `"alias":"x"`, `{"alias":null}`, []string{"alias"}, func(v *VM) bool { return v.Alias == "" }},
		{"alias cleared by empty", `"alias":"x"`, `{"alias":""}`, []string{"alias"}, func(v *VM) bool { return v.Alias == "" }},
		{"same value changes nothing", `"alias":"x"`, `{"alias":"x"}`, nil, nil},
		{"hostname cleared by null", `"hostname":"h"`, `{"hostname":null}`, []string{"hostname"}, func(v *VM) bool { return v.Hostname == "" }},
		{"cpu_cap cleared by null", `"cpu_cap":100`, `{"cpu_cap":null}`, []string{"cpu_cap"}, func(v *VM) bool { return v.CPUCap == 0 }},
		{"cpu_cap cleared by empty", `"cpu_cap":100`, `{"cpu_cap":""}`, []string{"cpu_cap"}, func(v *VM) bool { return v.CPUCap == 0 }},
		{"bool cleared by null", `"do_not_inventory":true`, `{"do_not_inventory":null}`, []string{"do_not_inventory"}, func(v *VM) bool { return v.DoNotInventory == nil }},
		{"list cleared by null", `"limit_priv":"default,dtrace_user"`, `{"limit_priv":null}`, []string{"limit_priv"}, func(v *VM) bool { return v.LimitPriv == "" }},
		{"resolvers cleared by null", `"resolvers":["8.8.8.8"]`, `{"resolvers":null}`, []string{"resolvers"}, func(v *VM) bool { return len(v.Resolvers) == 0 }},
		{"quota null means none", ``, `{"quota":null}`, []string{"quota"}, func(v *VM) bool { return v.Quota != nil && *v.Quota == 0 }},
		{"max_lwps 0 removes", ``, `{"max_lwps":0}`, []string{"max_lwps"}, func(v *VM) bool { return v.MaxLwps == 0 }},
		{"max_lwps string", ``, `{"max_lwps":"500"}`, []string{"max_lwps"}, func(v *VM) bool { return v.MaxLwps == 500 }},
		{"cpu_cap 0 removes", `"cpu_cap":100`, `{"cpu_cap":0}`, []string{"cpu_cap"}, func(v *VM) bool { return v.CPUCap == 0 }},
		{"tmpfs 0 kept", ``, `{"tmpfs":0}`, []string{"tmpfs"}, func(v *VM) bool { return v.Tmpfs != nil && *v.Tmpfs == 0 }},
		{"quota 0 kept", ``, `{"quota":0}`, []string{"quota"}, func(v *VM) bool { return v.Quota != nil && *v.Quota == 0 }},
		{"cpu_shares capped", ``, `{"cpu_shares":70000}`, []string{"cpu_shares"}, func(v *VM) bool { return v.CPUShares == 65535 }},
		{"autoboot", ``, `{"autoboot":false}`, []string{"autoboot"}, func(v *VM) bool { return !Bool(v.Autoboot, true) }},
		{"resolvers list string", ``, `{"resolvers":"8.8.8.8,1.1.1.1"}`, []string{"resolvers"}, func(v *VM) bool { return len(v.Resolvers) == 2 }},
		{"set_tags", `"tags":{"a":"1"}`, `{"set_tags":{"b":2,"c":true}}`, []string{"tags"}, func(v *VM) bool { return v.Tags["a"] == "1" && v.Tags["b"] == 2.0 && v.Tags["c"] == true }},
		{"remove_tags", `"tags":{"a":"1","b":"2"}`, `{"remove_tags":["a"]}`, []string{"tags"}, func(v *VM) bool { return len(v.Tags) == 1 }},
		{"set_customer_metadata", ``, `{"set_customer_metadata":{"user-script":"x"}}`, []string{"customer_metadata"}, func(v *VM) bool { return v.CustomerMetadata["user-script"] == "x" }},
		{"remove_customer_metadata", `"customer_metadata":{"a":"b"}`, `{"remove_customer_metadata":"a"}`, []string{"customer_metadata"}, func(v *VM) bool { return len(v.CustomerMetadata) == 0 }},
		// Metadata values are strings, as the mdata protocol serves them;
		// numbers and booleans are taken as SmartOS takes them.
		{"set_customer_metadata numbers", ``, `{"set_customer_metadata":{"n":5,"b":true,"f":1.5}}`, []string{"customer_metadata"}, func(v *VM) bool {
			return v.CustomerMetadata["n"] == "5" && v.CustomerMetadata["b"] == "true" && v.CustomerMetadata["f"] == "1.5"
		}},
		{"set_internal_metadata", ``, `{"set_internal_metadata":{"k":"v"}}`, []string{"internal_metadata"}, func(v *VM) bool { return v.InternalMetadata["k"] == "v" }},
		{"remove_internal_metadata", `"internal_metadata":{"k":"v"}`, `{"remove_internal_metadata":["k"]}`, []string{"internal_metadata"}, func(v *VM) bool { return len(v.InternalMetadata) == 0 }},
		{"set_routes", ``, `{"set_routes":{"10.1.0.0/16":"10.0.0.1"}}`, []string{"routes"}, func(v *VM) bool { return v.Routes["10.1.0.0/16"] == "10.0.0.1" }},
		{"remove_routes", `"routes":{"10.1.0.0/16":"10.0.0.1"}`, `{"remove_routes":["10.1.0.0/16"]}`, []string{"routes"}, func(v *VM) bool { return len(v.Routes) == 0 }},
		{"memory keeps deltas", `"max_physical_memory":1024,"max_locked_memory":512,"max_swap":2048,"tmpfs":256`, `{"max_physical_memory":2048}`,
			[]string{"max_physical_memory", "max_locked_memory", "max_swap", "tmpfs"},
			func(v *VM) bool {
				return v.MaxPhysicalMemory == 2048 && v.MaxLockedMemory == 1536 && v.MaxSwap == 3072 && *v.Tmpfs == 512
			}},
		{"memory from minimum swap", `"max_physical_memory":64`, `{"max_physical_memory":512}`,
			[]string{"max_physical_memory", "max_locked_memory", "max_swap", "tmpfs"},
			func(v *VM) bool { return v.MaxLockedMemory == 512 && v.MaxSwap == 512 && *v.Tmpfs == 512 }},
		{"memory down clamps", `"max_physical_memory":1024`, `{"max_physical_memory":128}`,
			[]string{"max_physical_memory", "max_locked_memory", "max_swap", "tmpfs"},
			func(v *VM) bool { return v.MaxLockedMemory == 128 && v.MaxSwap == 256 && *v.Tmpfs == 128 }},
		{"ram on OS moves memory", ``, `{"ram":1024}`,
			[]string{"max_physical_memory", "max_locked_memory", "max_swap", "tmpfs"},
			func(v *VM) bool { return v.RAM == 0 && v.MaxPhysicalMemory == 1024 && v.MaxSwap == 1024 }},
		{"locked clamped", `"max_physical_memory":512,"max_locked_memory":256`, `{"max_locked_memory":4096}`, []string{"max_locked_memory"}, func(v *VM) bool { return v.MaxLockedMemory == 512 }},
		{"tmpfs clamped", `"max_physical_memory":512,"tmpfs":64`, `{"tmpfs":4096}`, []string{"tmpfs"}, func(v *VM) bool { return *v.Tmpfs == 512 }},
		{"swap raised", `"max_physical_memory":512,"max_swap":1024`, `{"max_swap":300}`, []string{"max_swap"}, func(v *VM) bool { return v.MaxSwap == 512 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := baseVM(t, tt.create)
			before, _ := json.Marshal(cur)
			next, changed, err := ApplyUpdate(cur, []byte(tt.update), later)
			if err != nil {
				t.Fatal(err)
			}
			if after, _ := json.Marshal(cur); string(after) != string(before) {
				t.Error("cur was modified")
			}
			if !reflect.DeepEqual(changed, tt.changed) {
				t.Errorf("changed %v, want %v", changed, tt.changed)
			}
			if tt.check != nil && !tt.check(next) {
				b, _ := JSON(next)
				t.Errorf("unexpected result:\n%s", b)
			}
			wantMod := cur.LastModified
			if len(tt.changed) > 0 {
				wantMod = Timestamp(later)
			}
			if next.LastModified != wantMod {
				t.Errorf("last_modified %s, want %s", next.LastModified, wantMod)
			}
		})
	}
}

func TestApplyUpdateErrors(t *testing.T) {
	tests := []struct {
		create, update, err string
	}{
		{``, `{"max_lwps":"lots"}`, "Invalid value(s) for: max_lwps"},
		{``, `{"max_lwps":"lots","bogus":1}`, "Invalid value(s) for: max_lwps"},
		// Not updatable, and a bad value: the value fails the update.
		{``, `{"uuid":"nope"}`, "Invalid value(s) for: uuid"},
		{`"max_physical_memory":64`, `{"max_swap":100}`, "Invalid value(s) for: max_swap"},
		{``, `{"set_tags":{"a":[1]}}`, "Invalid value(s) for: set_tags"},
		{``, `{"set_customer_metadata":{"a":[1]}}`, "Invalid value(s) for: set_customer_metadata"},
		{``, `{"hostname":"not valid"}`, "Invalid value(s) for: hostname"},
		{``, `{"zfs_root_recsize":3}`, "invalid zfs_root_recsize (3), must be 512-131072 and a power of 2. (0 to disable)"},
		{``, `{"set_routes":{"x":"10.0.0.1"}}`, `Invalid route destination: "x" (must be IP address or CIDR)`},
		{``, `{nope}`, "Invalid JSON payload: "},
		{``, `{"fs_allowed":"tmpfs"}`, "fs_allowed is not supported yet on this node"},
		{``, `{"limit_priv":"default,-proc_fork"}`, `required privilege "proc_fork" is missing from the zone's privilege set`},
		{``, `{"limit_priv":["default","nope"]}`, `unknown privilege "nope" specified in the zone's privilege set`},
	}
	for _, tt := range tests {
		cur := baseVM(t, tt.create)
		_, _, err := ApplyUpdate(cur, []byte(tt.update), later)
		if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
			t.Errorf("%s: error %v, want %q", tt.update, err, tt.err)
		}
	}
}

// TestUpdateIgnoresBadProperties: properties the brand may not update
// are dropped, as SmartOS's update does; the rest of the payload applies.
func TestUpdateIgnoresBadProperties(t *testing.T) {
	tests := []struct {
		update  string
		changed []string
	}{
		{`{"brand":"lx"}`, nil},
		{`{"uuid":"` + testImage + `"}`, nil},
		{`{"image_uuid":"` + testImage + `"}`, nil},
		{`{"zonename":"x"}`, nil},
		{`{"state":"running","zonepath":"/x","pid":1}`, nil},
		{`{"tags":{"a":"b"}}`, nil},
		{`{"nics":[]}`, nil},
		{`{"kernel_version":"4.3"}`, nil},
		{`{"docker":true}`, nil},
		{`{"vcpus":4,"alias":"kept"}`, []string{"alias"}},
		{`{"bogus":1,"max_lwps":300}`, []string{"max_lwps"}},
	}
	for _, tt := range tests {
		cur := baseVM(t, "")
		next, changed, err := ApplyUpdate(cur, []byte(tt.update), later)
		if err != nil {
			t.Errorf("%s: %v", tt.update, err)
			continue
		}
		if !reflect.DeepEqual(changed, tt.changed) {
			t.Errorf("%s: changed %v, want %v", tt.update, changed, tt.changed)
		}
		if next.Brand != "joyent" || next.UUID != testUUID || next.ImageUUID != testImage || next.Zonename != testUUID {
			t.Errorf("%s: identity changed: %+v", tt.update, next)
		}
		if err := ValidateUpdate("joyent", []byte(tt.update)); err == nil {
			t.Errorf("validate update %s: valid, want bad_properties", tt.update)
		}
	}
}

func TestUpdateNICs(t *testing.T) {
	const nics = `"nics":[{"nic_tag":"admin","mac":"02:00:00:00:00:01","ips":["10.0.0.2/24"],"primary":true},{"nic_tag":"external","mac":"02:00:00:00:00:02","ips":["8.8.1.2/24"]},{"nic_tag":"internal","mac":"02:00:00:00:00:03","ips":["192.168.1.2/24"]}]`
	tests := []struct {
		name   string
		update string
		err    string
		check  func(n []NIC) bool
	}{
		{"add", `{"add_nics":[{"nic_tag":"admin","ips":["10.0.0.9/24"]}]}`, "", func(n []NIC) bool {
			return len(n) == 4 && n[3].Interface == "net3" && n[3].MAC != "" && n[0].Primary
		}},
		{"add primary moves it", `{"add_nics":[{"nic_tag":"admin","ips":["10.0.0.9/24"],"primary":true}]}`, "", func(n []NIC) bool {
			return !n[0].Primary && n[3].Primary
		}},
		{"update primary moves it", `{"update_nics":[{"mac":"02:00:00:00:00:03","primary":true}]}`, "", func(n []NIC) bool {
			return !n[0].Primary && n[2].Primary
		}},
		{"update fields", `{"update_nics":[{"mac":"2:0:0:0:0:2","vlan_id":40,"mtu":1400,"allow_ip_spoofing":true,"interface":"netX"}]}`, "", func(n []NIC) bool {
			return *n[1].VlanID == 40 && n[1].MTU == 1400 && n[1].AllowIPSpoofing && n[1].Interface == "net1"
		}},
		{"update ips", `{"update_nics":[{"mac":"02:00:00:00:00:02","ips":["8.8.1.3/16"]}]}`, "", func(n []NIC) bool {
			return n[1].IP == "8.8.1.3" && n[1].Netmask == "255.255.0.0"
		}},
		{"update ip only", `{"update_nics":[{"mac":"02:00:00:00:00:02","ip":"8.8.1.9"}]}`, "", func(n []NIC) bool {
			return n[1].IPs[0] == "8.8.1.9/24"
		}},
		{"remove primary picks public", `{"remove_nics":["02:00:00:00:00:01"]}`, "", func(n []NIC) bool {
			return len(n) == 2 && n[0].Primary && !n[1].Primary
		}},
		{"remove unknown skipped", `{"remove_nics":["02:00:00:00:00:99"]}`, "", func(n []NIC) bool { return len(n) == 3 }},
		{"interface reused", `{"remove_nics":["02:00:00:00:00:02"],"add_nics":[{"nic_tag":"admin"}]}`, "", func(n []NIC) bool {
			return n[2].Interface == "net1"
		}},
		{"update unknown", `{"update_nics":[{"mac":"02:00:00:00:00:99","mtu":1500}]}`, "There is no existing NIC with that mac address", nil},
		{"update without mac", `{"update_nics":[{"mtu":1500}]}`, "NIC object needs a .mac property to update", nil},
		{"primary false", `{"update_nics":[{"mac":"02:00:00:00:00:02","primary":false}]}`, "invalid value for NIC's primary flag: false (must be true)", nil},
		{"duplicate mac", `{"add_nics":[{"nic_tag":"admin","mac":"02:00:00:00:00:01"}]}`, "Cannot add multiple NICs with the same MAC: 02:00:00:00:00:01", nil},
		{"duplicate ip", `{"add_nics":[{"nic_tag":"admin","ips":["10.0.0.2/24"]}]}`, "Cannot add multiple NICs with the same IP: 10.0.0.2/24", nil},
		{"ip moved between nics", `{"update_nics":[{"mac":"02:00:00:00:00:01","ips":["10.0.0.3/24"]}],"add_nics":[{"nic_tag":"admin","ips":["10.0.0.2/24"]}]}`, "", nil},
		{"two primaries", `{"add_nics":[{"nic_tag":"a","primary":true},{"nic_tag":"b","primary":true}]}`, "payload specifies more than 1 primary NIC", nil},
		{"bad update tag", `{"update_nics":[{"mac":"02:00:00:00:00:01","nic_tag":"a/b"}]}`, `invalid .nic_tag option for NIC: {"mac":"02:00:00:00:00:01","nic_tag":"a/b"}`, nil},
		{"missing tag", `{"add_nics":[{"ips":["10.9.0.1/24"]}]}`, `invalid or missing .nic_tag option for NIC: {"ips":["10.9.0.1/24"]}`, nil},
		{"bad sub value", `{"add_nics":[{"nic_tag":"a","vlan_id":5000}]}`, "Invalid value(s) for: nics.*.vlan_id", nil},
		{"bad sub prop dropped", `{"update_nics":[{"mac":"02:00:00:00:00:01","bogus":1,"model":"virtio","mtu":1400}]}`, "", func(n []NIC) bool {
			return n[0].MTU == 1400 && n[0].Model == ""
		}},
		{"route to removed nic", `{"set_routes":{"10.5.0.0/16":"nics[2]"},"remove_nics":["02:00:00:00:00:03"]}`, `Route gateway: "nics[2]" refers to non-existent or DHCP nic`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := baseVM(t, nics)
			next, changed, err := ApplyUpdate(cur, []byte(tt.update), later)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.name != "remove unknown skipped" && !reflect.DeepEqual(changed, []string{"nics"}) && !strings.Contains(tt.name, "route") {
				t.Errorf("changed %v", changed)
			}
			if len(cur.Nics) != 3 || !cur.Nics[0].Primary {
				t.Error("cur nics modified")
			}
			if tt.check != nil && !tt.check(next.Nics) {
				b, _ := json.MarshalIndent(next.Nics, "", " ")
				t.Errorf("nics:\n%s", b)
			}
		})
	}
}

func TestUpdateFilesystems(t *testing.T) {
	const fss = `"filesystems":[{"type":"lofs","source":"/srv/a","target":"/a"},{"type":"lofs","source":"/srv/b","target":"/b"}]`
	tests := []struct {
		update string
		err    string
		want   []string // targets:sources
	}{
		{`{"add_filesystems":[{"type":"lofs","source":"/srv/c","target":"/c","options":["ro"]}]}`, "", []string{"/a:/srv/a", "/b:/srv/b", "/c:/srv/c"}},
		{`{"update_filesystems":[{"target":"/b","source":"/srv/B"}]}`, "", []string{"/a:/srv/a", "/b:/srv/B"}},
		{`{"remove_filesystems":["/a"]}`, "", []string{"/b:/srv/b"}},
		{`{"add_filesystems":[{"type":"lofs","source":"/x","target":"/a"}]}`, "Cannot add multiple filesystems with the same target: /a", nil},
		{`{"update_filesystems":[{"target":"/z","source":"/x"}]}`, "There is no existing filesystem with target /z", nil},
		{`{"add_filesystems":[{"type":"lofs","target":"/c"}]}`, "Missing required properties: filesystems.*.source", nil},
	}
	for _, tt := range tests {
		cur := baseVM(t, fss)
		next, _, err := ApplyUpdate(cur, []byte(tt.update), later)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: error %v, want %q", tt.update, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.update, err)
			continue
		}
		var got []string
		for _, f := range next.Filesystems {
			got = append(got, f.Target+":"+f.Source)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.update, got, tt.want)
		}
	}
}

func TestUpdateDocker(t *testing.T) {
	cur, err := NormalizeCreate([]byte(`{"uuid":"`+testUUID+`","brand":"lx","kernel_version":"4.3.0","image_uuid":"`+testImage+`"}`), testNow)
	if err != nil {
		t.Fatal(err)
	}
	next, changed, err := ApplyUpdate(cur, []byte(`{"docker":true}`), later)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(changed, []string{"docker", "restart_init", "zlog_mode", "internal_metadata", "internal_metadata_namespaces"}) {
		t.Errorf("changed %v", changed)
	}
	id := next.InternalMetadata["docker:id"]
	again, _, _ := ApplyUpdate(next, []byte(`{"docker":true}`), later)
	if again.InternalMetadata["docker:id"] != id {
		t.Error("docker:id changed on second update")
	}
	if next, changed, err := ApplyUpdate(baseVM(t, ""), []byte(`{"docker":true}`), later); err != nil || changed != nil || next.Docker != nil {
		t.Errorf("docker on joyent is ignored: %v %v", changed, err)
	}
}

func TestParseUpdateArgs(t *testing.T) {
	m, err := ParseUpdateArgs([]string{"max_lwps=500", "alias=a=b", "autoboot=false", "cpu_cap=lots", "alias=web", "resolvers=8.8.8.8,1.1.1.1", "bogus=1", "quota="})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"max_lwps": int64(500), "alias": "web", "autoboot": false, "cpu_cap": "lots",
		"resolvers": "8.8.8.8,1.1.1.1", "bogus": "1", "quota": ""}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %#v", m)
	}
	if _, err := ParseUpdateArgs([]string{"alias"}); err == nil || err.Error() != "Bad arguments: unable to split alias" {
		t.Errorf("no '=': %v", err)
	}
	// The result feeds ApplyUpdate.
	b, _ := json.Marshal(map[string]any{"max_lwps": int64(500), "autoboot": false})
	next, _, err := ApplyUpdate(baseVM(t, ""), b, later)
	if err != nil || next.MaxLwps != 500 || Bool(next.Autoboot, true) {
		t.Errorf("apply parsed args: %v %+v", err, next)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		action, brand, payload, err string
	}{
		{"create", "", `{"brand":"joyent","image_uuid":"` + testImage + `"}`, ""},
		{"create", "", `{"brand":"sparse","alias":"x"}`, ""},
		{"create", "", `{"brand":"nope"}`, `Invalid brand while validating payload: "nope"`},
		{"create", "", `{"brand":"joyent","max_lwps":"lots","image_uuid":"` + testImage + `"}`, "Invalid value(s) for: max_lwps"},
		{"update", "joyent", `{"max_lwps":10}`, ""},
		{"update", "joyent", `{"max_lwps":0}`, ""},
		{"update", "joyent", `{"max_swap":100}`, "Invalid value(s) for: max_swap"},
		{"update", "joyent", `{"brand":"lx"}`, "Invalid property: brand"},
		{"update", "lx", `{"kernel_version":"5.10"}`, ""},
		{"update", "joyent-minimal", `{"docker":true}`, ""},
		{"update", "nope", `{}`, `Invalid brand while validating payload: "nope"`},
		{"update", "", `{}`, `Invalid brand while validating payload: "undefined"`},
		{"update", "bhyve", `{}`, `brand "bhyve" is not supported on Linux; use kvm`},
	}
	for _, tt := range tests {
		var err error
		if tt.action == "create" {
			err = ValidateCreate([]byte(tt.payload))
		} else {
			err = ValidateUpdate(tt.brand, []byte(tt.payload))
		}
		if (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
			t.Errorf("validate %s %s %s: %v, want %q", tt.action, tt.brand, tt.payload, err, tt.err)
		}
	}
	if got := ValidMessage("create", "joyent"); got != "VALID 'create' payload for joyent brand VMs." {
		t.Errorf("ValidMessage: %q", got)
	}
}

func TestValidationErrorJSON(t *testing.T) {
	tests := []struct {
		e    ValidationError
		want string
	}{
		{ValidationError{BadBrand: "x"}, `{"bad_brand":"x"}`},
		{ValidationError{BadValues: []string{"max_lwps"}}, `{"bad_values":["max_lwps"],"bad_properties":[],"missing_properties":[]}`},
		{ValidationError{BadProperties: []string{"a"}, MissingProperties: []string{"b"}}, `{"bad_values":[],"bad_properties":["a"],"missing_properties":["b"]}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(&tt.e)
		if err != nil || string(b) != tt.want {
			t.Errorf("%+v: %s %v", tt.e, b, err)
		}
	}
	e := ValidationError{BadValues: []string{"a", "b"}, MissingProperties: []string{"c"}, BadProperties: []string{"d"}}
	if e.Error() != "Invalid value(s) for: a,b" {
		t.Error(e.Error())
	}
	e.BadValues = nil
	if e.Error() != "Missing required properties: c" {
		t.Error(e.Error())
	}
}

// updateValueCases gives, per update property, a value that must apply
// and one that must fail with SmartOS's message (default "Invalid
// value(s) for: <prop>"). The VM updated is a joyent zone with one NIC
// (MAC 02:00:00:00:00:01) and a filesystem at /a.
var updateValueCases = []struct {
	prop, good, bad, badErr string
}{
	{"add_filesystems", `[{"source":"/srv/b","target":"/b"}]`, `[{"source":"/srv/b","target":"b"}]`, "Invalid value(s) for: filesystems.*.target"},
	{"add_nics", `[{"nic_tag":"admin","ips":["10.0.0.9/24"]}]`, `[{"nic_tag":"admin","mtu":99999}]`, "Invalid value(s) for: nics.*.mtu"},
	{"alias", `"web"`, `["web"]`, ""},
	{"archive_on_delete", `true`, `"sometimes"`, ""},
	{"autoboot", `false`, `"no"`, ""},
	{"billing_id", `"` + testImage + `"`, `7`, ""},
	{"cpu_cap", `150`, `-1`, ""},
	{"cpu_shares", `50`, `1.5`, ""},
	{"dns_domain", `"example.org"`, `"no spaces.org"`, ""},
	{"do_not_inventory", `true`, `{}`, ""},
	{"docker", `true`, `"x"`, ""},
	{"firewall_enabled", `true`, `"x"`, ""},
	{"fs_allowed", `""`, `[{}]`, ""},
	{"hostname", `"db-2"`, `"under_score"`, ""},
	{"indestructible_delegated", `true`, `"x"`, ""},
	{"indestructible_zoneroot", `true`, `"x"`, ""},
	{"init_name", `"/sbin/myinit"`, `true`, ""},
	{"internal_metadata_namespaces", `["ops"]`, `["a:b"]`, ""},
	{"kernel_version", `"5.10.0"`, `5`, ""},
	{"limit_priv", `"default,dtrace_user"`, `[["x"]]`, ""},
	{"maintain_resolvers", `true`, `"x"`, ""},
	{"max_locked_memory", `128`, `"x"`, ""},
	{"max_lwps", `500`, `-2`, ""},
	{"max_msg_ids", `10`, `-1`, ""},
	{"max_physical_memory", `1024`, `"1G"`, ""},
	{"max_sem_ids", `10`, `true`, ""},
	{"max_shm_ids", `10`, `[]`, ""},
	{"max_shm_memory", `64`, `"x"`, ""},
	{"max_swap", `2048`, `"x"`, ""},
	{"owner_uuid", `"` + testImage + `"`, `{}`, ""},
	{"package_name", `"small"`, `1`, ""},
	{"package_version", `"2.0"`, `1`, ""},
	{"quota", `20`, `-1`, ""},
	{"ram", `512`, `"x"`, ""},
	{"remove_customer_metadata", `["k"]`, `{"k":1}`, ""},
	{"remove_filesystems", `["/a"]`, `7`, ""},
	{"remove_internal_metadata", `["k"]`, `[{}]`, ""},
	{"remove_nics", `["02:00:00:00:00:01"]`, `{"a":"b"}`, ""},
	{"remove_routes", `["10.1.0.0/16"]`, `true`, ""},
	{"remove_tags", `["k"]`, `[[]]`, ""},
	{"resolvers", `["1.1.1.1"]`, `["one"]`, ""},
	{"restart_init", `false`, `"x"`, ""},
	{"set_customer_metadata", `{"k2":"v"}`, `{"k":{}}`, ""},
	{"set_internal_metadata", `{"k":"v2"}`, `"k=v"`, ""},
	{"set_routes", `{"10.2.0.0/16":"10.0.0.1"}`, `{"10.1.0.0/16":"somewhere"}`, `Invalid route gateway: "somewhere"`},
	{"set_tags", `{"k":"v","n":1}`, `{"k":null}`, ""},
	{"tmpfs", `64`, `-1`, ""},
	{"update_filesystems", `[{"target":"/a","options":["ro"]}]`, `[{"target":"/a","options":[{"x":1}]}]`, "Invalid value(s) for: filesystems.*.options"},
	{"update_nics", `[{"mac":"02:00:00:00:00:01","mtu":9000}]`, `[{"mac":"02:00:00:00:00:01","vlan_id":4096}]`, "Invalid value(s) for: nics.*.vlan_id"},
	{"zfs_data_compression", `"lz4"`, `"lz5"`, "invalid compression type for lz5"},
	{"zfs_data_recsize", `65536`, `65535`, "invalid zfs_data_recsize (65535)"},
	{"zfs_filesystem_limit", `100`, `-1`, ""},
	{"zfs_io_priority", `200`, `"high"`, ""},
	{"zfs_root_compression", `"gzip"`, `1`, ""},
	{"zfs_root_recsize", `512`, `"big"`, ""},
	{"zfs_snapshot_limit", `100`, `-1`, ""},
	{"zlog_max_size", `1000`, `-1`, ""},
}

// TestUpdatePropertyValues updates with each property's good value and
// fails with its bad one; a failed update leaves the VM as it was
// (ApplyUpdate returns no new object and does not touch the old one).
func TestUpdatePropertyValues(t *testing.T) {
	const create = `"nics":[{"nic_tag":"admin","mac":"02:00:00:00:00:01","ips":["10.0.0.2/24"]}],` +
		`"filesystems":[{"source":"/srv/a","target":"/a"}],"tags":{"k":"v"},"customer_metadata":{"k":"v"},` +
		`"internal_metadata":{"k":"v"},"routes":{"10.1.0.0/16":"10.0.0.1"}`
	for _, tt := range updateValueCases {
		t.Run(tt.prop, func(t *testing.T) {
			var cur *VM
			switch tt.prop {
			case "kernel_version":
				cur, _ = NormalizeCreate([]byte(`{"brand":"lx","kernel_version":"4.3.0","image_uuid":"`+testImage+`"}`), testNow)
			case "docker":
				cur, _ = NormalizeCreate([]byte(`{"brand":"joyent-minimal","image_uuid":"`+testImage+`"}`), testNow)
			case "fs_allowed":
				// Only unsetting it is accepted now; a VM may still
				// have one from before.
				cur = baseVM(t, create)
				cur.FSAllowed = "ufs,pcfs"
			default:
				cur = baseVM(t, create)
			}
			next, changed, err := ApplyUpdate(cur, []byte(`{"`+tt.prop+`":`+tt.good+`}`), later)
			if err != nil || len(changed) == 0 {
				t.Errorf("%s=%s: changed %v, error %v", tt.prop, tt.good, changed, err)
			}
			if err := ValidateUpdate(cur.Brand, []byte(`{"`+tt.prop+`":`+tt.good+`}`)); err != nil {
				t.Errorf("validate update %s=%s: %v", tt.prop, tt.good, err)
			}
			if next == nil {
				return
			}
			before, _ := json.Marshal(cur)
			want := tt.badErr
			if want == "" {
				want = "Invalid value(s) for: " + tt.prop
			}
			next, _, err = ApplyUpdate(cur, []byte(`{"`+tt.prop+`":`+tt.bad+`}`), later)
			if err == nil || !strings.HasPrefix(err.Error(), want) || next != nil {
				t.Errorf("%s=%s: error %v, want %q", tt.prop, tt.bad, err, want)
			}
			if after, _ := json.Marshal(cur); string(after) != string(before) {
				t.Errorf("%s=%s: failed update changed the VM", tt.prop, tt.bad)
			}
		})
	}
}

// TestEveryUpdatePropertyHasCases keeps updateValueCases complete.
func TestEveryUpdatePropertyHasCases(t *testing.T) {
	have := map[string]bool{}
	for _, c := range updateValueCases {
		have[c.prop] = true
	}
	for _, p := range Properties {
		if p.Update&brandsOS != 0 && !have[p.Name] {
			t.Errorf("update property %s has no value cases", p.Name)
		}
	}
}
