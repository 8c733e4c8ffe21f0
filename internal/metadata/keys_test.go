package metadata

import (
	"context"
	"errors"
	"strings"
	"testing"

	"hull/internal/metadata/protocol"
	"hull/internal/vm"
)

func TestGetKeys(t *testing.T) {
	v := testVM(testUUID)
	h := Host{ServerUUID: "44454c4c-3200-1048-8033-b2c04f4b4e31", DatacenterName: "dc1"}
	for _, tc := range []struct {
		key  string
		want protocol.Reply
	}{
		{"sdc:uuid", protocol.Reply{Code: protocol.Success, Data: testUUID}},
		{"sdc:hostname", protocol.Reply{Code: protocol.Success, Data: "web01"}},
		{"sdc:alias", protocol.Reply{Code: protocol.Success, Data: "web"}},
		{"sdc:image_uuid", protocol.Reply{Code: protocol.Success, Data: "dc0688f0-0f6b-4b10-9a1e-2d9fa4ad9d22"}},
		{"sdc:owner_uuid", protocol.Reply{Code: protocol.Success, Data: "930896af-bf8c-48d4-885c-6573a94b1853"}},
		{"sdc:server_uuid", protocol.Reply{Code: protocol.Success, Data: h.ServerUUID}},
		{"sdc:datacenter_name", protocol.Reply{Code: protocol.Success, Data: "dc1"}},
		{"sdc:dns_domain", protocol.Reply{Code: protocol.Success, Data: "example.com"}},
		{"sdc:brand", protocol.Reply{Code: protocol.Success, Data: "joyent"}},
		{"sdc:resolvers", protocol.Reply{Code: protocol.Success, Data: `["8.8.8.8","1.1.1.1"]`}},
		{"sdc:tmpfs", protocol.Reply{Code: protocol.Success, Data: "256"}},
		{"sdc:nics", protocol.Reply{Code: protocol.Success, Data: `[{"mac":"02:08:20:aa:bb:cc","interface":"net0","nic_tag":"admin","ip":"10.0.0.5","netmask":"255.255.255.0","gateway":"10.0.0.1","primary":true}]`}},
		{"sdc:nics.0.ip", protocol.Reply{Code: protocol.Success, Data: "10.0.0.5"}},
		{"sdc:routes", protocol.Reply{Code: protocol.Success, Data: `[{"linklocal":true,"dst":"10.1.0.0/16","gateway":"10.0.0.5"},{"linklocal":true,"dst":"172.16.0.0/12","gateway":"10.0.0.5"},{"linklocal":false,"dst":"192.168.0.0/24","gateway":"10.0.0.254"}]`}},
		{"sdc:tags.role", protocol.Reply{Code: protocol.Success, Data: "db"}},
		{"sdc:tags.n", protocol.Reply{Code: protocol.Success, Data: "3"}},
		{"sdc:tags.none", protocol.Reply{Code: protocol.NotFound}},
		{"sdc:operator-script", protocol.Reply{Code: protocol.Success, Data: "echo op"}},
		{"sdc:volumes", protocol.Reply{Code: protocol.Success, Data: "[]"}},
		{"sdc:vendor-data", protocol.Reply{Code: protocol.NotFound}},
		{"sdc:customer_metadata.user-data", protocol.Reply{Code: protocol.NotFound}},
		{"sdc:internal_metadata.hidden", protocol.Reply{Code: protocol.NotFound}},
		{"user-data", protocol.Reply{Code: protocol.Success, Data: "hello"}},
		{"cloud-init:user-data", protocol.Reply{Code: protocol.Success, Data: "#cloud-config\nhostname: web01\n"}},
		{"root_pw", protocol.Reply{Code: protocol.Success, Data: "secret"}},
		{"customer_pw", protocol.Reply{Code: protocol.NotFound}}, // _pw keys come from internal_metadata only
		{"docker:cmd", protocol.Reply{Code: protocol.Success, Data: `["sh"]`}},
		{"hidden", protocol.Reply{Code: protocol.NotFound}},
		{"operator-script", protocol.Reply{Code: protocol.NotFound}},
		{"missing", protocol.Reply{Code: protocol.NotFound}},
		{"", protocol.Reply{Code: protocol.NotFound}},
	} {
		if got := Get(v, tc.key, h); got != tc.want {
			t.Errorf("GET %q = %+v, want %+v", tc.key, got, tc.want)
		}
	}
	for _, obj := range []string{"sdc:tags", "sdc:nics.0", "sdc:internal_metadata_namespaces"} {
		if got := Get(v, obj, h); got.Code != protocol.Failure {
			t.Errorf("GET %q = %+v, want FAILURE (an object)", obj, got)
		}
	}
	// Empty, an object is still not a value.
	if got := Get(&vm.VM{UUID: testUUID, Tags: map[string]any{}}, "sdc:tags", h); got.Code != protocol.Failure {
		t.Errorf("GET sdc:tags (empty) = %+v, want FAILURE", got)
	}
	// The VM's own values win over the host's.
	v.ServerUUID = "11111111-2222-3333-4444-555555555555"
	if got := Get(v, "sdc:server_uuid", h); got.Data != v.ServerUUID {
		t.Errorf("sdc:server_uuid = %q", got.Data)
	}
}

func TestKeysList(t *testing.T) {
	got := Keys(testVM(testUUID))
	want := "cloud-init:user-data\ndots\nroot_authorized_keys\nuser-data\nuser-script\ndocker:cmd\nroot_pw"
	if got.Code != protocol.Success || got.Data != want {
		t.Errorf("KEYS = %+v\nwant %q", got, want)
	}
}

func TestWriteRules(t *testing.T) {
	v := testVM(testUUID)
	for _, tc := range []struct {
		key, want string // want: payload, or the error
		readOnly  bool
	}{
		{key: "foo", want: `{"set_customer_metadata":{"foo":"bar"}}`},
		{key: "user-script", want: `{"set_customer_metadata":{"user-script":"bar"}}`},
		{key: "com.example:key", want: `{"set_customer_metadata":{"com.example:key":"bar"}}`},
		{key: "admin_pw", want: `{"set_internal_metadata":{"admin_pw":"bar"}}`},
		{key: "operator-script", want: `{"set_internal_metadata":{"operator-script":"bar"}}`},
		{key: "sdc:hostname", want: `Cannot update the "sdc" Namespace.`, readOnly: true},
		{key: "sdc:anything", want: `Cannot update the "sdc" Namespace.`, readOnly: true},
		{key: "docker:cmd", want: `Cannot update the "docker" Namespace.`, readOnly: true},
		{key: "", want: "empty metadata key"},
	} {
		p, err := PutPayload(v, tc.key, "bar")
		got := string(p)
		if err != nil {
			got = err.Error()
		}
		if got != tc.want || errors.Is(err, ErrReadOnly) != tc.readOnly {
			t.Errorf("PUT %q: %s (read-only %v), want %s", tc.key, got, errors.Is(err, ErrReadOnly), tc.want)
		}
	}
	for key, want := range map[string]string{
		"foo":             `{"remove_customer_metadata":["foo"]}`,
		"admin_pw":        `{"remove_internal_metadata":["admin_pw"]}`,
		"operator-script": `{"remove_internal_metadata":["operator-script"]}`,
	} {
		if p, _ := DeletePayload(v, key); string(p) != want {
			t.Errorf("DELETE %s payload %s, want %s", key, p, want)
		}
	}
	if _, err := DeletePayload(v, "sdc:uuid"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("DELETE sdc:uuid: %v", err)
	}
}

// A route whose NIC cannot give a gateway is left out, as SmartOS's
// agent does; the others still reach the zone.
func TestRoutesUnresolved(t *testing.T) {
	v := testVM(testUUID)
	v.Nics = append(v.Nics, vm.NIC{MAC: "02:08:20:00:00:02", Interface: "net1", IP: "dhcp"},
		vm.NIC{MAC: "02:08:20:00:00:03", Interface: "net2", IPs: []string{"10.3.0.7/24"}})
	v.Routes = map[string]string{
		"10.9.0.0/16":    "nics[7]",                 // no such NIC
		"10.8.0.0/16":    "nics[1]",                 // DHCP: no static IP
		"10.7.0.0/16":    "macs[02:08:20:00:00:99]", // no such MAC
		"10.6.0.0/16":    "macs[not-a-mac]",         // not a MAC
		"10.5.0.0/16":    "macs[2:8:20:0:0:3]",      // the same MAC, spelt short
		"10.4.0.0/16":    "nics[2]",                 // its first ips entry
		"192.168.0.0/24": "10.0.0.254",              // a plain gateway
	}
	want := `[{"linklocal":true,"dst":"10.4.0.0/16","gateway":"10.3.0.7"},{"linklocal":true,"dst":"10.5.0.0/16","gateway":"10.3.0.7"},{"linklocal":false,"dst":"192.168.0.0/24","gateway":"10.0.0.254"}]`
	if r := Get(v, "sdc:routes", Host{}); r != (protocol.Reply{Code: protocol.Success, Data: want}) {
		t.Errorf("sdc:routes = %+v\nwant %s", r, want)
	}
	v.Routes = nil
	if r := Get(v, "sdc:routes", Host{}); r != (protocol.Reply{Code: protocol.Success, Data: "[]"}) {
		t.Errorf("sdc:routes without routes = %+v", r)
	}
}

// The server's answers to whole lines, as they go on the wire.
func TestHandleLineExact(t *testing.T) {
	src := newFake(testVM(testUUID))
	s := &Server{Source: src}
	ctx := context.Background()
	v2 := func(body string) string { return strings.TrimSuffix(protocol.Frame(body), "\n") }
	failV2 := func(reqid, msg string) string { return protocol.Reply{Code: protocol.Failure, Data: msg}.V2(reqid) }
	b64put := func(k, v string) string {
		return strings.TrimSuffix(protocol.Frame("0000abcd PUT "+protocol.Encode(protocol.Encode(k)+" "+protocol.Encode(v))), "\n")
	}
	for _, tc := range []struct{ line, want string }{
		{"NEGOTIATE V2", "V2_OK\n"},
		{"NEGOTIATE V3", "FAILURE\n"},
		{"", "invalid command\n"},
		{"   ", "invalid command\n"},
		{" GET sdc:hostname", "invalid command\n"},
		{"GET", "invalid command\n"},
		{"GET   ", "invalid command\n"},
		{"NEGOTIATE", "invalid command\n"},
		{"HELLO", "FAILURE\n"},
		{"GET  sdc:hostname\t ", "SUCCESS\nweb01\n.\n"},
		{"GET\tsdc:hostname", "SUCCESS\nweb01\n.\n"},
		{"GET sdc:hostname", "SUCCESS\nweb01\n.\n"},
		{"GET dots", "SUCCESS\n..\n...x\nend\n.\n"},
		{"GET missing", "NOTFOUND\n"},
		{"GET sdc:tags", "FAILURE\n"},
		{"KEYS", "SUCCESS\ncloud-init:user-data\ndots\nroot_authorized_keys\nuser-data\nuser-script\ndocker:cmd\nroot_pw\n.\n"},
		{"PUT Zm9v YmFy", "FAILURE\n"}, // V1 has no PUT
		{"DELETE foo", "FAILURE\n"},
		// "hostname" is a customer_metadata key; the VM's is sdc:hostname.
		{"V2 25 136e7713 1a2b3c4d GET aG9zdG5hbWU=", "V2 17 b68286f0 1a2b3c4d NOTFOUND\n"},
		{"V2 29 360d282f 1a2b3c4d GET c2RjOmhvc3RuYW1l", "V2 25 505ea93e 1a2b3c4d SUCCESS d2ViMDE=\n"},
		{"V2 25 136e7714 1a2b3c4d GET aG9zdG5hbWU=", protocol.Frame(protocol.Body("1a2b3c4d", protocol.Failure, "body checksum did not match"))},
		{"V2 26 136e7713 1a2b3c4d GET aG9zdG5hbWU=", protocol.Frame(protocol.Body("1a2b3c4d", protocol.Failure, "body length mismatch"))},
		{"V2 garbage", "invalid command\n"},
		{strings.TrimSuffix(protocol.Frame("1a2b3c4d GET "+protocol.Encode("missing")), "\n"), "V2 17 b68286f0 1a2b3c4d NOTFOUND\n"},
		{strings.TrimSuffix(protocol.Frame("1a2b3c4d FROB"), "\n"), protocol.Frame(protocol.Body("1a2b3c4d", protocol.Failure, "Unknown command FROB"))},
		{b64put("sdc:hostname", "evil"), "V2 65 3f29e4f4 0000abcd FAILURE Q2Fubm90IHVwZGF0ZSB0aGUgInNkYyIgTmFtZXNwYWNlLg==\n"},
		{b64put("docker:cmd", "evil"), protocol.Frame(protocol.Body("0000abcd", protocol.Failure, `Cannot update the "docker" Namespace.`))},
		{b64put("foo", "bar"), protocol.Frame("0000abcd SUCCESS")},
		{v2("0000abcd PUT " + protocol.Encode("Zm9v")), failV2("0000abcd", "Invalid PUT Request")},
		{v2("0000abcd PUT " + protocol.Encode("Zm9v YmFy YmF6")), failV2("0000abcd", "Invalid PUT Request")},
		{v2("0000abcd PUT " + protocol.Encode("IA== YmFy")), failV2("0000abcd", "Invalid PUT Request")}, // key " "
		{v2("0000abcd PUT " + protocol.Encode("Zm9v !!!!")), failV2("0000abcd", "Invalid PUT Request")},
		{v2("0000abcd GET"), failV2("0000abcd", "Invalid GET Request")},
		{v2("0000abcd GET " + protocol.Encode(" \t")), failV2("0000abcd", "Invalid GET Request")},
		{v2("0000abcd DELETE"), failV2("0000abcd", "Invalid DELETE Request")},
		{v2("0000abcd NEGOTIATE " + protocol.Encode("V2")), failV2("0000abcd", "Unknown command NEGOTIATE")},
		{v2("0000abcd GET " + protocol.Encode(" sdc:hostname\n")), protocol.Reply{Code: protocol.Success, Data: "web01"}.V2("0000abcd")},
		{"GET foo", "SUCCESS\nbar\n.\n"},
		// An empty value is refused, as by SmartOS: the argument is one
		// base64 field and a space, which it trims away.
		{b64put("foo", ""), failV2("0000abcd", "Invalid PUT Request")},
		// The key is trimmed.
		{b64put(" foo\n", "baz"), protocol.Frame("0000abcd SUCCESS")},
		{"GET foo", "SUCCESS\nbaz\n.\n"},
		{strings.TrimSuffix(protocol.Frame("0000abce DELETE "+protocol.Encode("foo")), "\n"), protocol.Frame("0000abce SUCCESS")},
		{"GET foo", "NOTFOUND\n"},
	} {
		if got := s.HandleLine(ctx, testUUID, tc.line); got != tc.want {
			t.Errorf("%q → %q, want %q", tc.line, got, tc.want)
		}
	}
	if got := s.HandleLine(ctx, otherUUID, "GET sdc:uuid"); got != "FAILURE\n" {
		t.Errorf("GET for a VM that is gone = %q", got)
	}
}
