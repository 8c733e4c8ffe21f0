// Package network wires zones to virtual switches the way SmartOS's
// Crossbow does: every NIC of a VM is a VNIC — here a veth pair whose host
// end is a port of its nic tag's or etherstub's bridge — that cannot spoof
// its MAC, IP addresses or DHCP replies unless the VM object allows it.
// What to build (the plan) and which frames to drop (the filter) are
// rendered from the VM object by pure functions; apply.go and nft.go make
// the kernel match them through netlink.
package network

import (
	"fmt"
	"net"
	"strings"

	"hull/internal/network/dhcpguard"
	"hull/internal/vm"
)

// VNIC is one NIC as plumbed: names, addresses and what it may send.
type VNIC struct {
	Index    int
	Host     string // host end of the veth pair, a port of Bridge
	Zone     string // its name inside the zone (net0 / eth0)
	Temp     string // the zone end's name on the host, before it moves
	Tag      string // the nic tag or etherstub
	VLAN     int    // vlan_id, 0 for none: see vlan.go for where it joins
	MAC      net.HardwareAddr
	MTU      int
	Addrs    []*net.IPNet // static addresses (ips / ip+netmask)
	DHCP     bool         // ips has "dhcp": the zone configures itself
	Addrconf bool         // ips has "addrconf"
	Gateways []net.IP
	Primary  bool
	// Allowed source addresses: the NIC's own plus allowed_ips.
	Allowed        []*net.IPNet
	SpoofIP        bool
	SpoofMAC       bool
	SpoofDHCP      bool
	Restricted     bool // allow_restricted_traffic
	OwnedAddresses bool // the NIC's addresses are known (not dhcp)
	// BlockedPorts are the TCP ports it may not connect to
	// (blocked_outgoing_ports).
	BlockedPorts []uint16
	// SharedMAC: its MAC is a VRRP router's, which moves to whichever
	// router is the master, on this host or another.
	SharedMAC bool
	// DHCPCIDs are the DHCP client identifiers it may use besides its
	// MAC's (allowed_dhcp_cids; none: any), held by dhcpguard.
	DHCPCIDs [][]byte
}

// hostTag is the part of names on the host that identifies the VM: ten
// hex digits of its uuid, short enough for 15-character link names.
func hostTag(uuid string) string {
	return strings.ReplaceAll(uuid, "-", "")[:10]
}

// HostPrefix is how every host-side link of the VM's NICs begins; clean-up
// after a crash finds them by it.
func HostPrefix(uuid string) string { return "z" + hostTag(uuid) + "n" }

// BridgeName is the Linux bridge of a nic tag or etherstub.
func BridgeName(tag string) string {
	if len(tag) > 15 {
		tag = tag[:15]
	}
	return tag
}

// Plan renders the VM's nics into VNICs.
func Plan(v *vm.VM) ([]VNIC, error) {
	var out []VNIC
	for i, n := range v.Nics {
		mac, err := net.ParseMAC(n.MAC)
		if err != nil {
			return nil, fmt.Errorf("nic %d: bad mac %q", i, n.MAC)
		}
		if n.NicTag == "" {
			return nil, fmt.Errorf("nic %d: missing nic_tag", i)
		}
		x := VNIC{
			Index:      i,
			Host:       fmt.Sprintf("%s%d", HostPrefix(v.UUID), i),
			Temp:       fmt.Sprintf("y%sn%d", hostTag(v.UUID), i),
			Zone:       n.Interface,
			Tag:        n.NicTag,
			MAC:        mac,
			MTU:        n.MTU,
			Primary:    n.Primary,
			SpoofIP:    n.AllowIPSpoofing,
			SpoofMAC:   n.AllowMACSpoofing,
			SpoofDHCP:  n.AllowDHCPSpoofing,
			Restricted: n.AllowRestrictedTraffic,
		}
		if n.VlanID != nil {
			x.VLAN = *n.VlanID
		}
		x.SharedMAC = n.VRRPVRID != nil
		for _, p := range n.BlockedOutgoingPorts {
			x.BlockedPorts = append(x.BlockedPorts, uint16(p))
		}
		for _, c := range n.AllowedDHCPCIDs {
			b, err := dhcpguard.ParseCID(c)
			if err != nil {
				return nil, fmt.Errorf("nic %d: %w", i, err)
			}
			x.DHCPCIDs = append(x.DHCPCIDs, b)
		}
		if n.DHCPServer {
			// A DHCP server answers from addresses of its own choosing.
			x.SpoofDHCP, x.SpoofIP = true, true
		}
		if x.Zone == "" {
			x.Zone = fmt.Sprintf("net%d", i)
		}
		ips := n.IPs
		if len(ips) == 0 && n.IP != "" {
			ip := n.IP
			if n.Netmask != "" && ip != "dhcp" && ip != "addrconf" {
				m := net.IPMask(net.ParseIP(n.Netmask).To4())
				ones, _ := m.Size()
				ip = fmt.Sprintf("%s/%d", ip, ones)
			}
			ips = []string{ip}
		}
		for _, s := range ips {
			switch s {
			case "dhcp":
				x.DHCP = true
				continue
			case "addrconf":
				x.Addrconf = true
				continue
			}
			ip, ipn, err := net.ParseCIDR(s)
			if err != nil {
				return nil, fmt.Errorf("nic %d: bad ip %q", i, s)
			}
			ipn.IP = ip
			x.Addrs = append(x.Addrs, ipn)
		}
		gws := n.Gateways
		if len(gws) == 0 && n.Gateway != "" {
			gws = []string{n.Gateway}
		}
		for _, g := range gws {
			if ip := net.ParseIP(g); ip != nil {
				x.Gateways = append(x.Gateways, ip)
			}
		}
		x.OwnedAddresses = !x.DHCP
		for _, a := range x.Addrs {
			x.Allowed = append(x.Allowed, hostNet(a.IP))
		}
		// A VRRP router advertises from its primary IP (another NIC's),
		// which SmartOS adds to the NIC's allowed-ips.
		if ip := net.ParseIP(n.VRRPPrimaryIP); ip != nil {
			x.Allowed = append(x.Allowed, hostNet(ip))
		}
		for _, s := range n.AllowedIPs {
			if _, ipn, err := net.ParseCIDR(s); err == nil {
				x.Allowed = append(x.Allowed, ipn)
			} else if ip := net.ParseIP(s); ip != nil {
				x.Allowed = append(x.Allowed, hostNet(ip))
			}
		}
		out = append(out, x)
	}
	if len(out) > 0 && !hasPrimary(out) {
		out[0].Primary = true
	}
	return out, nil
}

func hasPrimary(ns []VNIC) bool {
	for _, n := range ns {
		if n.Primary {
			return true
		}
	}
	return false
}

func hostNet(ip net.IP) *net.IPNet {
	if v4 := ip.To4(); v4 != nil {
		return &net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)}
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(128, 128)}
}
