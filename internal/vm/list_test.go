package vm

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func listVM(uuid, brand, alias, state string, mem int64, extra func(*VM)) *VM {
	v := &VM{UUID: uuid, Brand: brand, Alias: alias, State: state, MaxPhysicalMemory: mem, Type: BrandType(brand)}
	if isHVM(brand) {
		v.RAM = mem - 1024
	}
	if extra != nil {
		extra(v)
	}
	return v
}

func testVMs() []*VM {
	vlan := 12
	return []*VM{
		listVM("54f1cc77-68f1-42ab-acac-5c4f64f5d6e0", "joyent", "zone70", "running", 256, func(v *VM) {
			v.Tags = map[string]any{"role": "web", "n": 5.0}
			v.Nics = []NIC{{MAC: "02:08:20:0a:0b:0c", IP: "10.0.0.5", NicTag: "admin", VlanID: &vlan}}
			v.Resolvers = []string{"8.8.8.8"}
			v.CustomerMetadata = map[string]string{"k": "v"}
		}),
		listVM("0a1b2c3d-0000-4000-8000-000000000001", "lx", "", "stopped", 1024, func(v *VM) {
			v.Nics = []NIC{{MAC: "02:00:00:00:00:01", IP: "10.0.0.6", NicTag: "admin"}, {MAC: "02:00:00:00:00:02", IP: "192.168.0.2", NicTag: "internal"}}
		}),
		listVM("ffffffff-0000-4000-8000-000000000002", "bhyve", "big:vm", "running", 3072, nil),
		listVM("11111111-0000-4000-8000-000000000003", "joyent-minimal", "min", "running", 256, func(v *VM) {
			t := true
			v.Autoboot = &t
		}),
	}
}

func TestFormatList(t *testing.T) {
	tests := []struct {
		name string
		opts ListOptions
		want string
	}{
		{"default", ListOptions{}, `
UUID                                  TYPE  RAM      STATE             ALIAS
11111111-0000-4000-8000-000000000003  OS    256      running           min
54f1cc77-68f1-42ab-acac-5c4f64f5d6e0  OS    256      running           zone70
0a1b2c3d-0000-4000-8000-000000000001  LX    1024     stopped           -
ffffffff-0000-4000-8000-000000000002  BHYV  2048     running           big:vm
`},
		{"parsable", ListOptions{Parsable: true}, `
11111111-0000-4000-8000-000000000003:OS:256:running:min
54f1cc77-68f1-42ab-acac-5c4f64f5d6e0:OS:256:running:zone70
0a1b2c3d-0000-4000-8000-000000000001:LX:1024:stopped:
ffffffff-0000-4000-8000-000000000002:BHYV:2048:running:big:vm
`},
		{"parsable forced header", ListOptions{Parsable: true, ForceHeader: true, Fields: []string{"alias", "ram"}, Sort: []string{"-ram"}}, `
ALIAS:RAM
big:vm:2048
:1024
zone70:256
min:256
`},
		// Descending puts missing values first, as SmartOS's sort does.
		{"no header, fields, descending", ListOptions{NoHeader: true, Fields: []string{"alias", "nics.0.ip", "tags.role", "autoboot"}, Sort: []string{"-alias"}}, `
-           10.0.0.6              -                     -
zone70      10.0.0.5              web                   -
min         -                     -                     true
big:vm      -                     -                     -
`},
		{"flattened headers", ListOptions{Fields: []string{"uuid", "nics.1.nic_tag", "resolvers.0", "customer_metadata.k"}, Sort: []string{"uuid"}}, `
UUID                                  NICS.1.NIC_TAG        RESOLVERS.0           CUSTOMER_METADATA.K
0a1b2c3d-0000-4000-8000-000000000001  internal              -                     -
11111111-0000-4000-8000-000000000003  -                     -                     -
54f1cc77-68f1-42ab-acac-5c4f64f5d6e0  -                     8.8.8.8               v
ffffffff-0000-4000-8000-000000000002  -                     -                     -
`},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		vms := testVMs()
		first := vms[0]
		if err := FormatList(&b, vms, tt.opts); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if want := strings.TrimPrefix(tt.want, "\n"); b.String() != want {
			t.Errorf("%s: got\n%s\nwant\n%s", tt.name, b.String(), want)
		}
		if vms[0] != first {
			t.Errorf("%s: caller's slice reordered", tt.name)
		}
	}
}

func TestFormatListHeaderExact(t *testing.T) {
	var b bytes.Buffer
	if err := FormatList(&b, nil, ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "UUID                                  TYPE  RAM      STATE             ALIAS\n" {
		t.Errorf("%q", b.String())
	}
}

func TestFormatListErrors(t *testing.T) {
	tests := []struct {
		opts ListOptions
		err  string
	}{
		{ListOptions{Fields: []string{"uuid", "bogus"}}, "invalid order field: bogus"},
		{ListOptions{Sort: []string{"bogus"}}, "invalid sort field: bogus"},
		{ListOptions{Sort: []string{"-bogus"}}, "invalid sort field: -bogus"},
		{ListOptions{Fields: []string{"nics.*.ip"}}, `Invalid order key: "nics.*.ip"`},
		{ListOptions{Sort: []string{"nics.*.ip"}}, `Invalid sort key: "nics.*.ip"`},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		err := FormatList(&b, testVMs(), tt.opts)
		if err == nil || err.Error() != tt.err {
			t.Errorf("%+v: %v, want %q", tt.opts, err, tt.err)
		}
		if b.Len() != 0 {
			t.Errorf("%+v: output on error", tt.opts)
		}
	}
}

func TestFilters(t *testing.T) {
	tests := []struct {
		args []string
		want string // matching aliases, in order
		err  string
	}{
		{[]string{"type=OS"}, "zone70,min", ""},
		{[]string{"brand=lx"}, "-", ""},
		{[]string{"state=running", "ram=256"}, "zone70,min", ""},
		{[]string{"alias=~^Z"}, "zone70", ""},
		{[]string{"alias=~m"}, "big:vm,min", ""},
		{[]string{"nics.*.nic_tag=internal"}, "-", ""},
		{[]string{"nics.0.ip=10.0.0.5"}, "zone70", ""},
		{[]string{"nics.*.mac=2:8:20:a:b:c"}, "zone70", ""},
		{[]string{"nics.0.vlan_id=12"}, "zone70", ""},
		{[]string{"tags.role=web"}, "zone70", ""},
		{[]string{"tags.n=5"}, "zone70", ""},
		{[]string{"customer_metadata.k=v"}, "zone70", ""},
		{[]string{"autoboot=true"}, "min", ""},
		{[]string{"uuid=nope"}, "", ""},
		{[]string{"bogus=1"}, "", `Invalid filter key: "bogus"`},
		{[]string{"nics.*.ips=10.0.0.5/24"}, "", `Invalid filter key: "nics.*.ips"`},
		{[]string{"resolvers.0=8.8.8.8"}, "", `Invalid filter key: "resolvers.0"`},
		{[]string{"alias=~("}, "", "Invalid regular expression for alias: "},
	}
	for _, tt := range tests {
		fs, err := ParseFilters(tt.args)
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("%v: error %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		var got []string
		for _, v := range Lookup(testVMs(), fs) {
			a := v.Alias
			if a == "" {
				a = "-"
			}
			got = append(got, a)
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%v: matched %v, want %s", tt.args, got, tt.want)
		}
	}
	if _, err := ParseLookupFilters([]string{"x=1"}); err == nil || err.Error() != `Invalid lookup key: "x"` {
		t.Errorf("lookup key: %v", err)
	}
}

func TestLookupJSON(t *testing.T) {
	if err := UniqueError(2); err == nil || err.Error() != "Requested unique lookup but found 2 results." {
		t.Errorf("UniqueError: %v", err)
	}
	if UniqueError(1) != nil {
		t.Error("UniqueError(1)")
	}
	b, err := LookupJSON(testVMs()[:1], []string{"uuid", "alias", "ram", "type", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	want := `[
  {
    "alias": "zone70",
    "ram": 256,
    "type": "OS",
    "uuid": "54f1cc77-68f1-42ab-acac-5c4f64f5d6e0"
  }
]`
	if string(b) != want {
		t.Errorf("got\n%s", b)
	}
	b, _ = LookupJSON(nil, nil)
	if string(b) != "[]" {
		t.Errorf("empty: %s", b)
	}
}

func TestFlatten(t *testing.T) {
	f := Flatten(testVMs()[0])
	want := map[string]string{
		"uuid": "54f1cc77-68f1-42ab-acac-5c4f64f5d6e0", "type": "OS", "ram": "256", "alias": "zone70",
		"nics.0.ip": "10.0.0.5", "nics.0.vlan_id": "12", "nics.0.mac": "02:08:20:0a:0b:0c",
		"tags.role": "web", "tags.n": "5", "customer_metadata.k": "v", "resolvers.0": "8.8.8.8",
		"firewall_enabled": "false",
	}
	for k, w := range want {
		if f[k] != w {
			t.Errorf("%s = %q, want %q", k, f[k], w)
		}
	}
	for _, k := range []string{"cpu_cap", "hostname", "nics.0.gateway", "quota"} {
		if _, ok := f[k]; ok {
			t.Errorf("%s present: %q", k, f[k])
		}
	}
}

func TestJSONOutput(t *testing.T) {
	v := &VM{UUID: testUUID, Brand: "joyent", Alias: "a<b&c"}
	b, err := JSON(v)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"{\n  \"uuid\": ", `"alias": "a<b&c"`, `"resolvers": []`, `"nics": []`, `"tags": {}`} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in\n%s", want, s)
		}
	}
	if v.Tags != nil {
		t.Error("JSON modified its argument")
	}
	if strings.HasSuffix(s, "\n") {
		t.Error("trailing newline")
	}
}

func manyVMs(n int) []*VM {
	vms := make([]*VM, n)
	for i := range vms {
		vms[i] = listVM(fmt.Sprintf("%08x-0000-4000-8000-%012x", i*7919%n, i), []string{"joyent", "lx", "joyent-minimal"}[i%3],
			fmt.Sprintf("zone%d", i), []string{"running", "stopped"}[i%2], int64(256*(1+i%8)), func(v *VM) {
				v.Tags = map[string]any{"role": []string{"web", "db"}[i%2]}
				v.Nics = []NIC{{MAC: "02:00:00:00:00:01", IP: fmt.Sprintf("10.0.%d.%d", i/250, i%250), NicTag: "admin"}}
			})
	}
	return vms
}

// BenchmarkListFilterFormat is vmadm list over 1000 VMs with two filters
// and the default columns and sort; it must stay far under 50 ms.
func BenchmarkListFilterFormat(b *testing.B) {
	vms := manyVMs(1000)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		fs, err := ParseFilters([]string{"state=running", "tags.role=~w"})
		if err != nil {
			b.Fatal(err)
		}
		matched := Lookup(vms, fs)
		buf.Reset()
		if err := FormatList(&buf, matched, ListOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
