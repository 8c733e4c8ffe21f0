package node

import (
	"errors"
	"strings"
	"testing"

	"hull/internal/network"
	"hull/internal/vm"
)

func TestNICConflicts(t *testing.T) {
	vlan, vrid := 5, 7
	others := []*vm.VM{{UUID: "a", Nics: []vm.NIC{
		{MAC: "02:00:00:00:00:01", NicTag: "admin", IPs: []string{"10.0.0.5/24"}},
		{MAC: "02:00:00:00:00:02", NicTag: "admin", VlanID: &vlan, IPs: []string{"10.0.0.6/24", "dhcp"}},
		{MAC: "00:00:5e:00:01:07", NicTag: "admin", VRRPVRID: &vrid},
	}}}
	for _, c := range []struct {
		nic  vm.NIC
		want string // the conflict's detail, "" for none
	}{
		{vm.NIC{MAC: "02:00:00:00:00:09", NicTag: "admin", IPs: []string{"10.0.0.7/24"}}, ""},
		{vm.NIC{MAC: "02:00:00:00:00:01", NicTag: "admin"}, "a already has MAC 02:00:00:00:00:01"},
		{vm.NIC{MAC: "02:00:00:00:00:09", NicTag: "admin", IPs: []string{"10.0.0.5/16"}}, "a already has IP 10.0.0.5 on nic tag admin"},
		{vm.NIC{MAC: "02:00:00:00:00:09", NicTag: "external", IPs: []string{"10.0.0.5/24"}}, ""},
		{vm.NIC{MAC: "02:00:00:00:00:09", NicTag: "admin", IPs: []string{"10.0.0.6/24"}}, ""},
		{vm.NIC{MAC: "02:00:00:00:00:09", NicTag: "admin", VlanID: &vlan, IPs: []string{"10.0.0.6/24"}}, "a already has IP 10.0.0.6 on nic tag admin"},
		{vm.NIC{MAC: "02:00:00:00:00:09", NicTag: "admin", IPs: []string{"dhcp"}}, ""},
		{vm.NIC{MAC: "02:00:00:00:00:09", NicTag: "external", VRRPVRID: &vrid}, "a already has VRID 7"},
	} {
		err := nicConflicts(&vm.VM{UUID: "b", Nics: []vm.NIC{c.nic}}, others)
		var ce *ConflictError
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: unexpected %v", c.nic, err)
		case c.want != "" && (!errors.As(err, &ce) || ce.Detail != c.want || err.Error() != ConflictMessage):
			t.Errorf("%+v: err = %v (%+v), want %q", c.nic, err, ce, c.want)
		}
	}
	// A VM is not in conflict with itself (update).
	if err := nicConflicts(others[0], others); err != nil {
		t.Errorf("self: %v", err)
	}
}

func TestMTUBelowTag(t *testing.T) {
	tags := network.Tags{Uplinks: map[string]string{"external": "02:00:00:00:00:aa"}, Etherstubs: map[string]bool{"stub0": true}}
	nics := []vm.NIC{
		{MAC: "02:00:00:00:00:01", NicTag: "external", MTU: 1400},
		{MAC: "02:00:00:00:00:02", NicTag: "external", MTU: 1200},
		{MAC: "02:00:00:00:00:03", NicTag: "stub0", MTU: 576},
		{MAC: "02:00:00:00:00:04", NicTag: "external"},
	}
	got := strings.Join(mtuBelowTag(nics, tags), "\n")
	if want := `nic 1 (02:00:00:00:00:02): MTU is below the supported MTU (1500) of nic tag "external"`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := mtuBelowTag(nics[2:], tags); len(got) != 0 {
		t.Errorf("etherstub MTU refused: %v", got)
	}
}
