package vm

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	testUUID  = "54f1cc77-68f1-42ab-acac-5c4f64f5d6e0"
	testImage = "dc0688f0-0f6b-4b10-9a1e-2d9fa4ad9d22"
)

var testNow = time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC)

// payload builds a joyent create payload with extra properties.
func payload(extra string) []byte {
	s := `{"uuid":"` + testUUID + `","brand":"joyent","image_uuid":"` + testImage + `"`
	if extra != "" {
		s += "," + extra
	}
	return []byte(s + "}")
}

func TestNormalizeCreateDefaults(t *testing.T) {
	v, err := NormalizeCreate(payload(""), testNow)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"zonename", v.Zonename, testUUID},
		{"owner_uuid", v.OwnerUUID, ZeroUUID},
		{"billing_id", v.BillingID, ZeroUUID},
		{"autoboot", Bool(v.Autoboot, false), true},
		{"dns_domain", v.DNSDomain, "local"},
		{"cpu_shares", v.CPUShares, int64(100)},
		{"zfs_io_priority", v.ZFSIOPriority, int64(100)},
		{"max_lwps", v.MaxLwps, int64(2000)},
		{"max_physical_memory", v.MaxPhysicalMemory, int64(256)},
		{"max_locked_memory", v.MaxLockedMemory, int64(256)},
		{"max_shm_memory", v.MaxShmMemory, int64(256)},
		{"max_swap", v.MaxSwap, int64(256)},
		{"tmpfs", *v.Tmpfs, int64(256)},
		{"max_msg_ids", v.MaxMsgIDs, int64(4096)},
		{"max_sem_ids", v.MaxSemIDs, int64(4096)},
		{"max_shm_ids", v.MaxShmIDs, int64(4096)},
		{"quota", *v.Quota, int64(10)},
		{"zfs_root_recsize", v.ZFSRootRecsize, int64(131072)},
		{"limit_priv", v.LimitPriv, "default"},
		{"type", v.Type, "OS"},
		{"v", v.V, 1},
		{"zpool", v.Zpool, "zones"},
		{"zfs_filesystem", v.ZFSFilesystem, "zones/" + testUUID},
		{"create_timestamp", v.CreateTimestamp, "2024-01-02T03:04:05.006Z"},
		{"last_modified", v.LastModified, "2024-01-02T03:04:05.006Z"},
		{"ram (not stored for OS)", v.RAM, int64(0)},
		{"hostname (zone uses zonename)", v.Hostname, ""},
		{"firewall_enabled", v.FirewallEnabled, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	b, err := JSON(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"resolvers": []`, `"nics": []`, `"tags": {}`, `"customer_metadata": {}`,
		`"internal_metadata": {}`, `"routes": {}`, `"firewall_enabled": false`, `"hvm": false`, `"snapshots": []`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b)
		}
	}
}

func TestNormalizeCreateGeneratesUUID(t *testing.T) {
	v, err := NormalizeCreate([]byte(`{"image_uuid":"`+testImage+`"}`), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !IsUUID(v.UUID) || v.Zonename != v.UUID || v.Brand != "joyent" {
		t.Fatalf("uuid %q zonename %q brand %q", v.UUID, v.Zonename, v.Brand)
	}
}

func TestNormalizeCreateBrands(t *testing.T) {
	tests := []struct {
		payload string
		typ     string
		err     string
	}{
		{`{"brand":"sparse"}`, "OS", ""},
		{`{"brand":"joyent-minimal","image_uuid":"` + testImage + `"}`, "OS", ""},
		{`{"brand":"lx","image_uuid":"` + testImage + `","kernel_version":"4.3.0"}`, "LX", ""},
		{`{"brand":"lx","image_uuid":"` + testImage + `"}`, "", "Missing required properties: kernel_version"},
		{`{"brand":"lx"}`, "", "Missing required properties: image_uuid,kernel_version"},
		{`{"brand":"joyent"}`, "", "Missing required properties: image_uuid"},
		{`{}`, "", "Missing required properties: image_uuid"},
		// A property the brand may not set is dropped, as SmartOS does.
		{`{"brand":"sparse","image_uuid":"` + testImage + `"}`, "OS", ""},
		{`{"brand":"joyent","dataset_uuid":"` + testImage + `"}`, "OS", ""},
		{`{"brand":null}`, "", `Invalid brand while validating payload: "undefined"`},
		{`{"brand":5}`, "", `Invalid brand while validating payload: "5"`},
		{`{"brand":"nope"}`, "", `Invalid brand while validating payload: "nope"`},
		{`{"brand":"kvm"}`, "", `brand "kvm" is not supported yet on this node`},
		{`{"brand":"bhyve"}`, "", `brand "bhyve" is not supported on Linux; use kvm`},
		{`{"brand":"joyent","image_uuid":"` + testImage + `","delegate_dataset":true}`, "OS", ""},
		{`{"brand":"joyent","image_uuid":"` + testImage + `","delegate_dataset":false}`, "OS", ""},
		{`{"brand":"joyent","image_uuid":"` + testImage + `","fs_allowed":"ufs,pcfs,tmpfs"}`, "", "fs_allowed is not supported yet on this node"},
		{`{"brand":"joyent","image_uuid":"` + testImage + `","fs_allowed":""}`, "OS", ""},
		{`{"brand":"joyent","image_uuid":"` + testImage + `","limit_priv":"default,dtrace_user,-net_access"}`, "OS", ""},
		{`{"brand":"joyent","image_uuid":"` + testImage + `","limit_priv":["default","sys_devices"]}`, "", `privilege "sys_devices" is not permitted within the zone's privilege set`},
		{`{"brand":"lx","image_uuid":"` + testImage + `","kernel_version":"4.3.0","limit_priv":"default,-sys_mount"}`, "", `required privilege "sys_mount" is missing from the zone's privilege set`},
		{`{nope`, "", "Invalid JSON payload: "},
		{`[1]`, "", "Invalid JSON payload: payload is not a JSON object"},
		{`{"brand":"sparse"} x`, "", "Invalid JSON payload: "},
	}
	for _, tt := range tests {
		v, err := NormalizeCreate([]byte(tt.payload), testNow)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.payload, err)
		case tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want %q", tt.payload, err, tt.err)
		case tt.err == "" && v.Type != tt.typ:
			t.Errorf("%s: type %q, want %q", tt.payload, v.Type, tt.typ)
		}
	}
	v, err := NormalizeCreate([]byte(`{"brand":"lx","image_uuid":"`+testImage+`","kernel_version":"4.3.0","nics":[{"nic_tag":"admin"}]}`), testNow)
	if err != nil || v.Nics[0].Interface != "eth0" {
		t.Fatalf("lx interface: %v %+v", err, v)
	}
}

// createValueCases gives, per create property, a value that must pass
// and one that must fail with SmartOS's message.
var createValueCases = []struct {
	prop      string
	good, bad string // JSON values
	badErr    string // default "Invalid value(s) for: <prop>"
}{
	{"alias", `"web 1 ✓"`, `5`, ""},
	{"archive_on_delete", `true`, `"yes"`, ""},
	{"autoboot", `"false"`, `0`, ""},
	{"billing_id", `"` + testImage + `"`, `false`, ""},
	{"cpu_cap", `300`, `-1`, ""},
	{"cpu_shares", `65535`, `"many"`, ""},
	{"customer_metadata", `{"user-script":"#!/bin/sh"}`, `{"n":[5]}`, ""},
	{"delegate_dataset", `false`, `"x"`, ""},
	{"dns_domain", `"example.com"`, `"bad_domain!"`, ""},
	{"do_not_inventory", `true`, `[]`, ""},
	{"firewall_enabled", `true`, `"on"`, ""},
	{"fs_allowed", `""`, `{"a":1}`, ""},
	{"hostname", `"web-1.example"`, `"-bad"`, ""},
	{"hostname", `"a23456789012345678901234567890123456789012345678901234567890123"`, `"a234567890123456789012345678901234567890123456789012345678901234"`, ""},
	{"indestructible_delegated", `false`, `2`, ""},
	{"indestructible_zoneroot", `true`, `null2`, "Invalid JSON payload: "},
	{"init_name", `"/sbin/init"`, `7`, ""},
	{"internal_metadata", `{"k":"v"}`, `{"k":{"x":1}}`, ""},
	{"internal_metadata_namespaces", `["sdc","docker"]`, `["bad ns"]`, ""},
	{"limit_priv", `"default,-net_access"`, `[{"x":1}]`, ""},
	{"maintain_resolvers", `true`, `"maybe"`, ""},
	{"max_locked_memory", `128`, `1.5`, ""},
	{"max_lwps", `"500"`, `0`, ""},
	{"max_msg_ids", `100`, `true`, ""},
	{"max_physical_memory", `512`, `"lots"`, ""},
	{"max_sem_ids", `100`, `-5`, ""},
	{"max_shm_ids", `100`, `"x"`, ""},
	{"max_shm_memory", `100`, `"x"`, ""},
	{"max_swap", `1024`, `"x"`, ""},
	{"mdata_exec_timeout", `0`, `-1`, ""},
	{"nowait", `true`, `"x"`, ""},
	{"owner_uuid", `"` + testImage + `"`, `1`, ""},
	{"package_name", `"g4-highcpu-1G"`, `1`, ""},
	{"package_version", `"1.0.0"`, `1`, ""},
	{"quota", `0`, `-10`, ""},
	{"ram", `1024`, `"x"`, ""},
	{"resolvers", `["8.8.8.8","2001:4860:4860::8888"]`, `["8.8.8"]`, ""},
	{"resolvers", `"8.8.8.8,8.8.4.4"`, `"not-an-ip"`, ""},
	{"restart_init", `false`, `"x"`, ""},
	{"routes", `{"10.2.0.0/16":"10.0.0.1"}`, `"x"`, ""},
	{"tags", `{"role":"db","n":5,"on":true}`, `{"x":[1]}`, ""},
	{"tmpfs", `0`, `-1`, ""},
	{"uuid", `"` + testUUID + `"`, `"54F1CC77-68F1-42AB-ACAC-5C4F64F5D6E0"`, ""},
	{"uuid", `"` + testUUID + `"`, `"not-a-uuid"`, ""},
	{"zfs_data_compression", `"lz4"`, `5`, ""},
	{"zfs_data_recsize", `8192`, `"x"`, ""},
	{"zfs_filesystem_limit", `10`, `-1`, ""},
	{"zfs_io_priority", `16383`, `-1`, ""},
	{"zfs_root_compression", `"gzip-9"`, `"gzip-10"`, "invalid compression type for gzip-10, must be one of: on, off, gzip, gzip-1, gzip-2, gzip-3, gzip-4, gzip-5, gzip-6, gzip-7, gzip-8, gzip-9, lz4, lzjb, zle"},
	{"zfs_root_recsize", `4096`, `1000`, "invalid zfs_root_recsize (1000), must be 512-131072 and a power of 2. (0 to disable)"},
	{"zfs_snapshot_limit", `10`, `"x"`, ""},
	{"zlog_max_size", `1000000`, `"x"`, ""},
	{"zonename", `"myzone"`, `"-bad zone"`, ""},
	{"zpool", `"zones"`, `"bad pool!"`, ""},
	{"image_uuid", `"` + testImage + `"`, `"x"`, ""},
	// dataset_uuid becomes image_uuid before validation, as in SmartOS.
	{"dataset_uuid", `"` + testImage + `"`, `7`, "Invalid value(s) for: image_uuid"},
	{"zfs_storage_pool_name", `"zones"`, `"bad pool!"`, ""},
	{"brand", `"joyent"`, `"bhyve2"`, `Invalid brand while validating payload: "bhyve2"`},
	{"docker", `true`, `"yes"`, ""},
	{"kernel_version", `"4.3.0"`, `4.3`, ""},
	{"nics", `[{"nic_tag":"admin","ips":["10.0.0.2/24"]}]`, `[{"nic_tag":"admin","vlan_id":"x"}]`, "Invalid value(s) for: nics.*.vlan_id"},
	{"filesystems", `[{"source":"/srv","target":"/srv"}]`, `[{"source":"/srv","target":"srv"}]`, "Invalid value(s) for: filesystems.*.target"},
	{"routes", `{"10.9.0.0/16":"10.0.0.1"}`, `{"10.9.0.0/16":"nowhere"}`, `Invalid route gateway: "nowhere"`},
}

// caseBrand is the brand a property's cases are created as (joyent
// when not listed).
var caseBrand = map[string]string{"docker": "joyent-minimal", "kernel_version": "lx"}

// payloadFor is a create payload of brand (joyent by default) with the
// required properties and one more.
func payloadFor(brand, prop, val string) []byte {
	if brand == "" {
		brand = "joyent"
	}
	s := `{"uuid":"` + testUUID + `","brand":"` + brand + `"`
	if prop != "image_uuid" && prop != "dataset_uuid" && brand != "sparse" {
		s += `,"image_uuid":"` + testImage + `"`
	}
	if brand == "lx" && prop != "kernel_version" {
		s += `,"kernel_version":"4.3.0"`
	}
	if prop == "brand" {
		s = `{"uuid":"` + testUUID + `","image_uuid":"` + testImage + `"`
	}
	return []byte(s + `,"` + prop + `":` + val + `}`)
}

// TestCreatePropertyValues creates with each property's good value and
// fails with its bad one, with SmartOS's message; the failing payload
// creates nothing (NormalizeCreate returns no VM).
func TestCreatePropertyValues(t *testing.T) {
	for _, tt := range createValueCases {
		brand := caseBrand[tt.prop]
		t.Run(tt.prop, func(t *testing.T) {
			if _, err := NormalizeCreate(payloadFor(brand, tt.prop, tt.good), testNow); err != nil {
				t.Errorf("%s=%s: %v", tt.prop, tt.good, err)
			}
			want := tt.badErr
			if want == "" {
				want = "Invalid value(s) for: " + tt.prop
			}
			v, err := NormalizeCreate(payloadFor(brand, tt.prop, tt.bad), testNow)
			if err == nil || !strings.HasPrefix(err.Error(), want) || v != nil {
				t.Errorf("%s=%s: error %v, want %q", tt.prop, tt.bad, err, want)
			}
		})
	}
}

// TestEveryCreatePropertyHasCases keeps createValueCases complete: every
// property an OS zone may be created with has a good and a bad value.
func TestEveryCreatePropertyHasCases(t *testing.T) {
	have := map[string]bool{}
	for _, c := range createValueCases {
		have[c.prop] = true
	}
	for _, p := range Properties {
		if p.Create&brandsOS != 0 && !have[p.Name] {
			t.Errorf("create property %s has no value cases", p.Name)
		}
	}
}

// TestCreateBadProperties: create drops the properties a brand may not
// set, as SmartOS's create does, and fails only on bad values; vmadm
// validate (ValidateCreate) reports both lists.
func TestCreateBadProperties(t *testing.T) {
	tests := []struct {
		extra string
		want  ValidationError
	}{
		{`"bogus":1`, ValidationError{BadProperties: []string{"bogus"}}},
		{`"state":"running","zonepath":"/x"`, ValidationError{BadProperties: []string{"state", "zonepath"}}},
		{`"set_tags":{"a":"b"}`, ValidationError{BadProperties: []string{"set_tags"}}},
		{`"vcpus":2`, ValidationError{BadProperties: []string{"vcpus"}}},
		{`"docker":true`, ValidationError{BadProperties: []string{"docker"}}},
		{`"nics":[{"nic_tag":"admin","bogus":1,"model":"virtio"}]`, ValidationError{BadProperties: []string{"nics.*.bogus", "nics.*.model"}}},
		{`"nics":[{"nic_tag":"admin","mac":"zz:00:00:00:00:01","vlan_id":4096,"mtu":100}]`, ValidationError{BadValues: []string{"nics.*.mac", "nics.*.vlan_id", "nics.*.mtu"}}},
		{`"nics":[1]`, ValidationError{BadValues: []string{"nics"}}},
		{`"nics":{"a":1}`, ValidationError{BadValues: []string{"nics"}}},
		{`"max_lwps":"x","cpu_cap":"y","bogus":1`, ValidationError{BadValues: []string{"max_lwps", "cpu_cap"}, BadProperties: []string{"bogus"}}},
		{`"filesystems":[{"target":5}]`, ValidationError{BadValues: []string{"filesystems.*.target"}}},
	}
	same := func(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }
	for _, tt := range tests {
		err := ValidateCreate(payload(tt.extra))
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("validate %s: error %v, want ValidationError", tt.extra, err)
			continue
		}
		if !same(ve.BadValues, tt.want.BadValues) || !same(ve.BadProperties, tt.want.BadProperties) ||
			!same(ve.MissingProperties, tt.want.MissingProperties) {
			t.Errorf("validate %s: got %+v, want %+v", tt.extra, *ve, tt.want)
		}
		v, err := NormalizeCreate(payload(tt.extra), testNow)
		if len(tt.want.BadValues) > 0 {
			if !errors.As(err, &ve) || !same(ve.BadValues, tt.want.BadValues) || len(ve.BadProperties) > 0 {
				t.Errorf("create %s: error %v, want bad values %v only", tt.extra, err, tt.want.BadValues)
			}
			continue
		}
		if err != nil {
			t.Errorf("create %s: %v (bad properties are dropped)", tt.extra, err)
			continue
		}
		if v.State != "" || v.Zonepath != "" || v.Docker != nil || len(v.Tags) != 0 {
			t.Errorf("create %s kept a dropped property: %+v", tt.extra, v)
		}
		for _, n := range v.Nics {
			if n.Model != "" || n.NicTag != "admin" {
				t.Errorf("create %s: nic %+v", tt.extra, n)
			}
		}
	}
}

// TestDeprecatedAliases: dataset_uuid and zfs_storage_pool_name still
// work, as in SmartOS, unless their successors are also given.
func TestDeprecatedAliases(t *testing.T) {
	const other = "11111111-2222-4333-8444-555555555555"
	tests := []struct {
		payload    string
		image, zp  string
		err        string
		validation bool
	}{
		{`{"brand":"joyent","dataset_uuid":"` + testImage + `"}`, testImage, "zones", "", false},
		{`{"brand":"joyent","dataset_uuid":"` + other + `","image_uuid":"` + testImage + `"}`, testImage, "zones", "", false},
		{`{"brand":"joyent","dataset_uuid":"nope"}`, "", "", "Invalid value(s) for: image_uuid", false},
		{`{"brand":"joyent","dataset_uuid":"nope","image_uuid":"` + testImage + `"}`, "", "", "Invalid value(s) for: dataset_uuid", false},
		{`{"brand":"joyent","image_uuid":"` + testImage + `","zfs_storage_pool_name":"data"}`, testImage, "data", "", false},
		{`{"brand":"joyent","image_uuid":"` + testImage + `","zfs_storage_pool_name":"data","zpool":"zones"}`, testImage, "zones", "", false},
		{`{"brand":"sparse","dataset_uuid":"` + testImage + `"}`, "", "zones", "", true},
	}
	for _, tt := range tests {
		v, err := NormalizeCreate([]byte(tt.payload), testNow)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: error %v, want %q", tt.payload, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.payload, err)
			continue
		}
		if v.ImageUUID != tt.image || v.Zpool != tt.zp {
			t.Errorf("%s: image %q zpool %q", tt.payload, v.ImageUUID, v.Zpool)
		}
		if verr := ValidateCreate([]byte(tt.payload)); (verr != nil) != tt.validation {
			t.Errorf("validate %s: %v", tt.payload, verr)
		}
	}
}

func TestCreateMemory(t *testing.T) {
	tests := []struct {
		extra                 string
		mpm, mlm, swap, tmpfs int64
		err                   string
	}{
		{`"ram":1024`, 1024, 1024, 1024, 1024, ""},
		{`"max_physical_memory":64`, 64, 64, 256, 64, ""},
		{`"max_physical_memory":64,"max_swap":256,"tmpfs":512`, 64, 64, 256, 64, ""},
		{`"max_physical_memory":512,"max_locked_memory":1024`, 512, 512, 512, 512, ""},
		{`"max_physical_memory":512,"max_swap":300`, 512, 512, 512, 512, ""},
		{`"max_physical_memory":512,"tmpfs":0`, 512, 512, 512, 0, ""},
		{`"ram":128,"max_physical_memory":2048`, 2048, 2048, 2048, 2048, ""},
		{`"max_physical_memory":64,"max_swap":100`, 0, 0, 0, 0, "Invalid value(s) for: max_swap"},
	}
	for _, tt := range tests {
		v, err := NormalizeCreate(payload(tt.extra), testNow)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: error %v, want %q", tt.extra, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.extra, err)
			continue
		}
		if v.MaxPhysicalMemory != tt.mpm || v.MaxLockedMemory != tt.mlm || v.MaxSwap != tt.swap || *v.Tmpfs != tt.tmpfs {
			t.Errorf("%s: mpm %d mlm %d swap %d tmpfs %d, want %d %d %d %d", tt.extra,
				v.MaxPhysicalMemory, v.MaxLockedMemory, v.MaxSwap, *v.Tmpfs, tt.mpm, tt.mlm, tt.swap, tt.tmpfs)
		}
	}
	v, _ := NormalizeCreate(payload(`"cpu_shares":100000`), testNow)
	if v.CPUShares != 65535 {
		t.Errorf("cpu_shares not capped: %d", v.CPUShares)
	}
}

func TestCreateDocker(t *testing.T) {
	v, err := NormalizeCreate([]byte(`{"uuid":"`+testUUID+`","brand":"joyent-minimal","image_uuid":"`+testImage+`","docker":true,"internal_metadata":{"docker:cmd":"[\"sh\"]"}}`), testNow)
	if err != nil {
		t.Fatal(err)
	}
	id := v.InternalMetadata["docker:id"]
	if len(id) != 64 || !strings.HasPrefix(id, strings.ReplaceAll(testUUID, "-", "")) {
		t.Errorf("docker:id %q", id)
	}
	if Bool(v.RestartInit, true) || !containsString(v.InternalMetadataNamespaces, "docker") || v.InternalMetadata["docker:cmd"] != `["sh"]` {
		t.Errorf("docker VM: %+v", v)
	}
}

func TestCreateNICs(t *testing.T) {
	tests := []struct {
		nics string
		err  string
	}{
		{`[{"nic_tag":"admin","ips":["10.0.0.2/24","dhcp","fd00::2/64"],"gateways":["10.0.0.1"],"primary":true},{"nic_tag":"external","ips":["addrconf"],"vlan_id":12,"mtu":9000}]`, ""},
		{`[{"nic_tag":"admin","primary":true},{"nic_tag":"admin","primary":true}]`, "payload specifies more than 1 primary NIC"},
		{`[{"ips":["10.0.0.2/24"]}]`, `invalid or missing .nic_tag option for NIC: {"ips":["10.0.0.2/24"]}`},
		{`[{"nic_tag":"bad tag"}]`, `invalid or missing .nic_tag option for NIC: {"nic_tag":"bad tag"}`},
		{`[{"nic_tag":"admin","ips":["10.0.0.300/24"]}]`, `Invalid IP for NIC: {"ips":["10.0.0.300/24"],"nic_tag":"admin"}`},
		{`[{"nic_tag":"admin","ips":["10.0.0.2"]}]`, `Invalid IP for NIC: `},
		{`[{"nic_tag":"admin","ips":["10.0.0.2/24"]},{"nic_tag":"admin","ips":["10.0.0.2/24"]}]`, "Cannot add multiple NICs with the same IP: 10.0.0.2/24"},
		{`[{"nic_tag":"a","mac":"02:00:00:00:00:01"},{"nic_tag":"a","mac":"2:0:0:0:0:1"}]`, "Cannot add multiple NICs with the same MAC: 02:00:00:00:00:01"},
		{`[{"nic_tag":"admin","gateways":["fd00::1"]}]`, "Static gateways must be IPv4 addresses: fd00::1"},
		{`[{"nic_tag":"admin","ips":["1.0.0.1/8","1.0.0.2/8","1.0.0.3/8","1.0.0.4/8","1.0.0.5/8","1.0.0.6/8","1.0.0.7/8","1.0.0.8/8","1.0.0.9/8","1.0.0.10/8","1.0.0.11/8","1.0.0.12/8","1.0.0.13/8","1.0.0.14/8","1.0.0.15/8","1.0.0.16/8","1.0.0.17/8","1.0.0.18/8","1.0.0.19/8","1.0.0.20/8","1.0.0.21/8"]}]`, "nic.*.ips contains 21 addresses, but is limited to 20"},
		{`[{"nic_tag":"admin","ip":"10.0.0.2"}]`, `Missing .netmask option for NIC: `},
		{`[{"nic_tag":"admin","ip":"10.0.0.2","netmask":"255.0.255.0"}]`, "Specified netmask value is invalid: 255.0.255.0"},
		{`[{"nic_tag":"admin","allowed_ips":["10.0.0.9","x"]}]`, "invalid allowed_ips: x"},
		{`[{"nic_tag":"admin","vrrp_vrid":1}]`, "vrrp_vrid set but not vrrp_primary_ip"},
		{`[{"nic_tag":"admin","allowed_dhcp_cids":["0x1234"],"blocked_outgoing_ports":[25,"587"]}]`, ""},
		{`[{"nic_tag":"admin","blocked_outgoing_ports":[70000]}]`, "Invalid value(s) for: nics.*.blocked_outgoing_ports"},
		{`[{"nic_tag":"admin","allowed_dhcp_cids":["abc"]}]`, "Invalid value(s) for: nics.*.allowed_dhcp_cids"},
		{`[{"nic_tag":"admin","network_uuid":"x"}]`, "Invalid value(s) for: nics.*.network_uuid"},
		{`[{"nic_tag":"admin","primary":"yes"}]`, "Invalid value(s) for: nics.*.primary"},
	}
	for _, tt := range tests {
		v, err := NormalizeCreate(payload(`"nics":`+tt.nics), testNow)
		if tt.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.nics, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
			t.Errorf("%s: error %v, want %q", tt.nics, err, tt.err)
		}
		_ = v
	}

	v, err := NormalizeCreate(payload(`"nics":[{"nic_tag":"admin","ips":["10.0.0.2/24"],"primary":true},{"nic_tag":"admin","ip":"dhcp"},{"nic_tag":"x","mac":"2:8:20:a:b:c"}]`), testNow)
	if err != nil {
		t.Fatal(err)
	}
	n := v.Nics
	if n[0].Interface != "net0" || n[1].Interface != "net1" || n[2].Interface != "net2" {
		t.Errorf("interfaces %s %s %s", n[0].Interface, n[1].Interface, n[2].Interface)
	}
	if n[0].IP != "10.0.0.2" || n[0].Netmask != "255.255.255.0" || n[1].IPs[0] != "dhcp" || n[1].IP != "dhcp" {
		t.Errorf("addresses %+v %+v", n[0], n[1])
	}
	if n[2].MAC != "02:08:20:0a:0b:0c" {
		t.Errorf("mac %s", n[2].MAC)
	}
	if n[0].MAC == n[1].MAC || n[0].MAC[1] != '2' || n[1].MAC[1] != '2' {
		t.Errorf("generated macs %s %s", n[0].MAC, n[1].MAC)
	}
	again, _ := NormalizeCreate(payload(`"nics":[{"nic_tag":"admin"}]`), testNow)
	if again.Nics[0].MAC != n[0].MAC {
		t.Errorf("MAC not deterministic: %s vs %s", again.Nics[0].MAC, n[0].MAC)
	}
}

// TestHostVolumeSources: an http(s) URL is a filesystem's source only
// for a docker VM (a host volume), and only at create.
func TestHostVolumeSources(t *testing.T) {
	for _, c := range []struct {
		docker bool
		source string
		ok     bool
	}{
		{true, "https://example.com/f", true},
		{true, "http://example.com/f", true},
		{false, "https://example.com/f", false},
		{true, "ftp://example.com/f", false},
	} {
		p := `{"uuid":"` + testUUID + `","brand":"joyent-minimal","image_uuid":"` + testImage + `","docker":` + strconv.FormatBool(c.docker) +
			`,"filesystems":[{"type":"lofs","source":"` + c.source + `","target":"/etc/f"}]}`
		_, err := NormalizeCreate([]byte(p), testNow)
		if c.ok != (err == nil) || err != nil && err.Error() != "Invalid value(s) for: filesystems.*.source" {
			t.Errorf("docker %v, source %s: %v", c.docker, c.source, err)
		}
	}
	v, _ := NormalizeCreate(payload(`"filesystems":[{"source":"/srv","target":"/srv"}]`), testNow)
	if _, _, err := ApplyUpdate(v, []byte(`{"add_filesystems":[{"source":"https://example.com/f","target":"/f"}]}`), testNow); err == nil {
		t.Error("update added a URL source")
	}
}

func TestCreateFilesystemsAndRoutes(t *testing.T) {
	tests := []struct {
		extra string
		err   string
	}{
		{`"filesystems":[{"type":"lofs","source":"/srv/data","target":"/data","options":["ro","nodevices"]}]`, ""},
		{`"filesystems":[{"type":"tmpfs","target":"/scratch","options":["size=64m"]}]`, ""},
		{`"filesystems":[{"type":"lofs","source":"/srv","target":"data"}]`, "Invalid value(s) for: filesystems.*.target"},
		{`"filesystems":[{"type":"lofs","target":"/data"}]`, "Missing required properties: filesystems.*.source"},
		{`"filesystems":[{"type":"lofs","source":"/srv"}]`, "Missing required properties: filesystems.*.target"},
		{`"filesystems":[{"source":"/a","target":"/d"},{"source":"/b","target":"/d/"}]`, "Cannot add multiple filesystems with the same target: /d/"},
		{`"filesystems":[{"source":"/a","target":"/d","options":["a,b"]}]`, "Invalid value(s) for: filesystems.*.options"},
		{`"routes":{"10.1.0.0/16":"10.0.0.1","10.2.0.1":"nics[0]"},"nics":[{"nic_tag":"admin","ips":["10.0.0.5/24"]}]`, ""},
		{`"routes":{"10.1.0.0/16":"macs[2:8:20:a:b:c]"},"nics":[{"nic_tag":"admin","mac":"02:08:20:0a:0b:0c","ips":["10.0.0.5/24"]}]`, ""},
		{`"routes":{"bad":"10.0.0.1"}`, `Invalid route destination: "bad" (must be IP address or CIDR)`},
		{`"routes":{"10.1.0.0/16":"gw"}`, `Invalid route gateway: "gw" (must be IP address, MAC address, or nic)`},
		{`"routes":{"10.1.0.0/16":"nics[1]"},"nics":[{"nic_tag":"admin","ips":["10.0.0.5/24"]}]`, `Route gateway: "nics[1]" refers to non-existent or DHCP nic`},
		{`"routes":{"10.1.0.0/16":"nics[0]"},"nics":[{"nic_tag":"admin","ips":["dhcp"]}]`, `Route gateway: "nics[0]" refers to non-existent or DHCP nic`},
	}
	for _, tt := range tests {
		_, err := NormalizeCreate(payload(tt.extra), testNow)
		if tt.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.extra, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.err {
			t.Errorf("%s: error %v, want %q", tt.extra, err, tt.err)
		}
	}
}
