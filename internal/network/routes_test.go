package network

import (
	"strings"
	"testing"

	"hull/internal/vm"
)

func TestRoutes(t *testing.T) {
	v := &vm.VM{UUID: "6b9a0a57-3e64-4b29-9a4f-0c1d9a55a0f1", Nics: []vm.NIC{
		{MAC: "02:00:00:00:00:01", NicTag: "admin", Interface: "net0", IPs: []string{"10.0.0.2/24"}, Primary: true},
		{MAC: "02:00:00:00:00:02", NicTag: "admin", Interface: "net1", IPs: []string{"10.1.0.2/24"}},
	}}
	vnics, err := Plan(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		routes map[string]string
		want   string
		err    bool
	}{
		{nil, "", false},
		{map[string]string{"192.168.0.0/16": "10.0.0.1", "172.16.1.1": "10.1.0.1"}, "172.16.1.1/32 via 10.1.0.1, 192.168.0.0/16 via 10.0.0.1", false},
		{map[string]string{"10.5.0.0/24": "nics[1]"}, "10.5.0.0/24 dev net1", false},
		{map[string]string{"10.6.0.0/24": "macs[2:0:0:0:0:1]"}, "10.6.0.0/24 dev net0", false},
		{map[string]string{"10.7.0.0/24": "nics[5]"}, "", true},
		{map[string]string{"10.7.0.0/24": "macs[02:00:00:00:00:09]"}, "", true},
	} {
		v.Routes = c.routes
		got, err := Routes(v, vnics)
		var s []string
		for _, r := range got {
			s = append(s, r.String())
		}
		if (err != nil) != c.err || strings.Join(s, ", ") != c.want {
			t.Errorf("%v: %q, %v; want %q", c.routes, strings.Join(s, ", "), err, c.want)
		}
	}
}
