package network

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"hull/internal/vm"
)

func plan1(t *testing.T, nic vm.NIC) VNIC {
	t.Helper()
	vs, err := Plan(&vm.VM{UUID: "12345678-9abc-4def-8123-456789abcdef", Nics: []vm.NIC{nic}})
	if err != nil {
		t.Fatal(err)
	}
	return vs[0]
}

func TestPlan(t *testing.T) {
	x := plan1(t, vm.NIC{MAC: "02:08:20:aa:bb:cc", NicTag: "stub0", IP: "10.0.0.5", Netmask: "255.255.255.0", Gateway: "10.0.0.1", AllowedIPs: []string{"10.0.1.0/24"}})
	if x.Host != "z123456789an0" || x.Zone != "net0" || x.Tag != "stub0" || x.VLAN != 0 || !x.Primary {
		t.Errorf("names: %+v", x)
	}
	if len(x.Addrs) != 1 || x.Addrs[0].String() != "10.0.0.5/24" || len(x.Gateways) != 1 {
		t.Errorf("addresses: %v %v", x.Addrs, x.Gateways)
	}
	if len(x.Allowed) != 2 || x.Allowed[0].String() != "10.0.0.5/32" || x.Allowed[1].String() != "10.0.1.0/24" {
		t.Errorf("allowed: %v", x.Allowed)
	}
	vlan := 7
	if y := plan1(t, vm.NIC{MAC: "02:08:20:aa:bb:cc", NicTag: "external", VlanID: &vlan, IPs: []string{"dhcp"}}); y.Tag != "external" || y.VLAN != 7 || !y.DHCP || y.OwnedAddresses {
		t.Errorf("vlan/dhcp: %+v", y)
	}
	// A VRRP NIC's MAC is its router's, shared with the other routers.
	if x.SharedMAC {
		t.Errorf("a NIC of its own MAC planned as shared: %+v", x)
	}
	if y := plan1(t, vm.NIC{MAC: "00:00:5e:00:01:07", NicTag: "stub0", VRRPVRID: &vlan, VRRPPrimaryIP: "10.0.0.5", IPs: []string{"10.0.0.9/24"}, AllowedIPs: []string{"10.0.2.1"}}); !y.SharedMAC {
		t.Errorf("vrrp: %+v", y)
	} else if fmt.Sprint(y.Allowed) != "[10.0.0.9/32 10.0.0.5/32 10.0.2.1/32]" {
		// Its adverts come from the primary IP: allowed, as SmartOS's
		// allowed-ips has it (static IPs, vrrp_primary_ip, allowed_ips).
		t.Errorf("vrrp allowed: %v", y.Allowed)
	}
	if _, err := Plan(&vm.VM{UUID: "12345678-9abc-4def-8123-456789abcdef", Nics: []vm.NIC{{MAC: "02:08:20:aa:bb:cc"}}}); err == nil {
		t.Error("a NIC without nic_tag was planned")
	}
}

// verdicts flattens a chain to "matches → verdict" lines for comparison.
func verdicts(c Chain) []string {
	var out []string
	for _, r := range c.Rules {
		var ms []string
		for _, m := range r.Match {
			s := map[Field]string{EtherSrc: "ether-src", EtherType: "ether-type", IPProto: "ip-proto", IPSrc: "ip-src", IP6Next: "ip6-next", IP6Src: "ip6-src", L4Sport: "sport", L4Dport: "dport", ARPSha: "arp-sha", ARPSpa: "arp-spa", DHCPHlen: "dhcp-hlen", DHCPChaddr: "dhcp-chaddr"}[m.Field]
			if m.Not {
				s += "!"
			}
			ms = append(ms, s)
		}
		out = append(out, strings.Join(ms, ",")+"→"+r.Verdict)
	}
	return out
}

func TestFilter(t *testing.T) {
	base := vm.NIC{MAC: "02:08:20:aa:bb:cc", NicTag: "stub0", IPs: []string{"10.0.0.5/24"}}
	tests := []struct {
		name  string
		tweak func(*vm.NIC)
		chain int // 0 ip4, 1 arp, 2 ip6, 3 main
		want  []string
	}{
		{"main, all protections", func(*vm.NIC) {}, 3, []string{"ether-src!→drop", "ether-type→jump z123456789an0-ip4", "ether-type→jump z123456789an0-arp", "ether-type→jump z123456789an0-ip6", "→drop"}},
		{"main, mac and restricted allowed", func(n *vm.NIC) { n.AllowMACSpoofing, n.AllowRestrictedTraffic = true, true }, 3, []string{"ether-type→jump z123456789an0-ip4", "ether-type→jump z123456789an0-arp", "ether-type→jump z123456789an0-ip6"}},
		{"ip4, own address only", func(*vm.NIC) {}, 0, []string{"ip-proto,sport→drop", "ip-proto,dport,dhcp-hlen,dhcp-chaddr!→drop", "ip-src,ip-proto,dport→accept", "ip-src→accept", "→drop"}},
		{"ip4, ip spoofing allowed", func(n *vm.NIC) { n.AllowIPSpoofing = true }, 0, []string{"ip-proto,sport→drop", "ip-proto,dport,dhcp-hlen,dhcp-chaddr!→drop", "→accept"}},
		{"ip4, dhcp server", func(n *vm.NIC) { n.DHCPServer = true }, 0, []string{"→accept"}},
		{"ip4, dhcp spoofing allowed", func(n *vm.NIC) { n.AllowDHCPSpoofing = true }, 0, []string{"ip-src,ip-proto,dport→accept", "ip-src→accept", "→drop"}},
		{"ip4, blocked outgoing ports", func(n *vm.NIC) { n.AllowIPSpoofing, n.BlockedOutgoingPorts = true, []int{25, 587} }, 0, []string{"ip-proto,sport→drop", "ip-proto,dport,dhcp-hlen,dhcp-chaddr!→drop", "ip-proto,dport→drop", "ip-proto,dport→drop", "→accept"}},
		{"ip6, blocked outgoing ports", func(n *vm.NIC) { n.BlockedOutgoingPorts = []int{25} }, 2, []string{"ip6-next,sport→drop", "ip6-next,dport→drop", "ip6-src→accept", "ip6-src→accept", "→drop"}},
		{"arp", func(*vm.NIC) {}, 1, []string{"arp-sha!→drop", "arp-spa→accept", "arp-spa→accept", "→drop"}},
	}
	for _, tt := range tests {
		n := base
		tt.tweak(&n)
		got := verdicts(Filter(plan1(t, n))[tt.chain])
		if strings.Join(got, " | ") != strings.Join(tt.want, " | ") {
			t.Errorf("%s:\n got  %v\n want %v", tt.name, got, tt.want)
		}
	}
	// Every rendered rule must be expressible.
	x := plan1(t, vm.NIC{MAC: "02:08:20:aa:bb:cc", NicTag: "s", IPs: []string{"10.0.0.5/24", "fd00::5/64"}, AllowedIPs: []string{"10.9.0.0/16"}, BlockedOutgoingPorts: []int{25}})
	for _, c := range Filter(x) {
		for _, r := range c.Rules {
			if _, err := exprs(r); err != nil {
				t.Errorf("%s: %v", c.Name, err)
			}
		}
	}
	if m := in(IPSrc, &net.IPNet{IP: net.ParseIP("10.9.3.4"), Mask: net.CIDRMask(16, 32)}); net.IP(m.Value).String() != "10.9.0.0" {
		t.Errorf("masked value %v", m.Value)
	}
}

func TestPortFor(t *testing.T) {
	for _, c := range []struct {
		tag  string
		vid  int
		mode VLANMode
		want Port
	}{
		{"external", 0, VLANBridges, Port{Bridge: "external"}},
		{"external", 0, VLANFiltering, Port{Bridge: "external"}},
		{"external", 7, VLANBridges, Port{Bridge: "external.7"}},
		{"external", 7, VLANFiltering, Port{Bridge: "external", VID: 7}},
		{"averyverylongtag", 4094, VLANBridges, Port{Bridge: "averyveryl.4094"}},
		{"averyverylongtag", 4094, VLANFiltering, Port{Bridge: "averyverylongta", VID: 4094}},
	} {
		if got := PortFor(c.tag, c.vid, c.mode); got != c.want {
			t.Errorf("PortFor(%q, %d, %s) = %+v, want %+v", c.tag, c.vid, c.mode, got, c.want)
		}
	}
}
