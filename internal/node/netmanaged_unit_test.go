package node

import (
	"strings"
	"testing"

	"hull/internal/vm"
)

func TestNICConflicts(t *testing.T) {
	vlan := 5
	others := []*vm.VM{{UUID: "a", Nics: []vm.NIC{
		{MAC: "02:00:00:00:00:01", NicTag: "admin", IPs: []string{"10.0.0.5/24"}},
		{MAC: "02:00:00:00:00:02", NicTag: "admin", VlanID: &vlan, IPs: []string{"10.0.0.6/24", "dhcp"}},
	}}}
	for _, c := range []struct {
		nic  vm.NIC
		want string
	}{
		{vm.NIC{MAC: "02:00:00:00:00:09", NicTag: "admin", IPs: []string{"10.0.0.7/24"}}, ""},
		{vm.NIC{MAC: "02:00:00:00:00:01", NicTag: "admin"}, "MAC address 02:00:00:00:00:01 is already in use by VM a"},
		{vm.NIC{MAC: "02:00:00:00:00:09", NicTag: "admin", IPs: []string{"10.0.0.5/16"}}, `IP address 10.0.0.5 is already in use on nic tag "admin" by VM a`},
		{vm.NIC{MAC: "02:00:00:00:00:09", NicTag: "external", IPs: []string{"10.0.0.5/24"}}, ""},
		{vm.NIC{MAC: "02:00:00:00:00:09", NicTag: "admin", IPs: []string{"10.0.0.6/24"}}, ""},
		{vm.NIC{MAC: "02:00:00:00:00:09", NicTag: "admin", VlanID: &vlan, IPs: []string{"10.0.0.6/24"}}, "already in use"},
		{vm.NIC{MAC: "02:00:00:00:00:09", NicTag: "admin", IPs: []string{"dhcp"}}, ""},
	} {
		err := nicConflicts(&vm.VM{UUID: "b", Nics: []vm.NIC{c.nic}}, others)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: err = %v, want %q", c.nic, err, c.want)
		}
	}
	// A VM is not in conflict with itself (update).
	if err := nicConflicts(others[0], others); err != nil {
		t.Errorf("self: %v", err)
	}
}
