package managed

import (
	"net/netip"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	base := func() Network {
		return Network{Name: "web", NicTag: "external", Subnet: "10.1.2.0/24", Gateway: "10.1.2.1"}
	}
	n := base()
	if err := Normalize(&n, nil); err != nil {
		t.Fatal(err)
	}
	if n.UUID == "" || n.Netmask != "255.255.255.0" || n.Start != "10.1.2.2" || n.End != "10.1.2.254" {
		t.Errorf("defaults: %+v", n)
	}
	nat := Network{Name: "nat", NicTag: "stub0", Subnet: "10.9.0.7/29", InternetNAT: true}
	if err := Normalize(&nat, nil); err != nil || nat.Subnet != "10.9.0.0/29" || nat.Gateway != "10.9.0.1" || nat.Start != "10.9.0.2" || nat.End != "10.9.0.6" {
		t.Errorf("nat defaults: %+v %v", nat, err)
	}
	for _, c := range []struct {
		name string
		edit func(*Network)
		want string
	}{
		{"bad subnet", func(n *Network) { n.Subnet = "10.1.2.0" }, "subnet: must be an IPv4 CIDR"},
		{"v6 subnet", func(n *Network) { n.Subnet = "fd00::/64" }, "subnet: must be an IPv4 CIDR"},
		{"gateway outside", func(n *Network) { n.Gateway = "10.1.3.1" }, "gateway: must be a host address"},
		{"gateway broadcast", func(n *Network) { n.Gateway = "10.1.2.255" }, "gateway: must be a host address"},
		{"start outside", func(n *Network) { n.Start = "10.1.3.5" }, "provision_start_ip"},
		{"end before start", func(n *Network) { n.Start, n.End = "10.1.2.50", "10.1.2.40" }, "must not be before"},
		{"bad name", func(n *Network) { n.Name = "a b" }, "name:"},
		{"bad tag", func(n *Network) { n.NicTag = "" }, "nic_tag:"},
		{"bad vlan", func(n *Network) { n.VlanID = 4095 }, "vlan_id:"},
		{"bad resolver", func(n *Network) { n.Resolvers = []string{"dns"} }, "resolvers:"},
		{"bad mtu", func(n *Network) { n.MTU = 100 }, "mtu:"},
	} {
		n := base()
		c.edit(&n)
		err := Normalize(&n, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	other := base()
	Normalize(&other, nil)
	dup := base()
	dup.Name = "web2"
	dup.Subnet = "10.1.0.0/16"
	if err := Normalize(&dup, []Network{other}); err == nil || !strings.Contains(err.Error(), "overlaps") {
		t.Errorf("overlap: %v", err)
	}
	dup.NicTag = "other"
	if err := Normalize(&dup, []Network{other}); err != nil {
		t.Errorf("same subnet on another tag: %v", err)
	}
}

func TestAllocate(t *testing.T) {
	n := Network{Name: "x", Subnet: "10.0.0.0/29", Gateway: "10.0.0.2", Start: "10.0.0.1", End: "10.0.0.4"}
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	for _, c := range []struct {
		used []netip.Addr
		want string
	}{
		{nil, "10.0.0.1"},
		{[]netip.Addr{a("10.0.0.1")}, "10.0.0.3"}, // .2 is the gateway
		{[]netip.Addr{a("10.0.0.1"), a("10.0.0.3")}, "10.0.0.4"},
		{[]netip.Addr{a("10.0.0.1"), a("10.0.0.3"), a("10.0.0.4")}, ""},
	} {
		got, err := Allocate(n, c.used)
		if c.want == "" {
			if err == nil {
				t.Errorf("full range gave %v", got)
			}
			continue
		}
		if err != nil || got.String() != c.want {
			t.Errorf("Allocate(%v) = %v, %v; want %s", c.used, got, err, c.want)
		}
	}
}

func TestDefault(t *testing.T) {
	d := Default([]string{"8.8.8.8"})
	probe := d
	probe.UUID, probe.Builtin = "", false
	if err := Normalize(&probe, nil); err != nil {
		t.Fatalf("default network does not validate: %v", err)
	}
	if probe.Start != d.Start || probe.Gateway != d.Gateway || !d.HostHoldsGateway() {
		t.Errorf("default network: %+v", d)
	}
}
