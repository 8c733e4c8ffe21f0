package network

import (
	"encoding/binary"
	"net"
)

// The anti-spoofing filter, rendered as data: chains of rules, each a
// conjunction of matches and a verdict. nft.go turns them into nftables
// expressions in the bridge family; tests read them as they are.

// Field is a part of a frame a match reads.
type Field int

const (
	EtherSrc   Field = iota // ether saddr
	EtherType               // ether type (untagged)
	IPProto                 // ip protocol
	IPSrc                   // ip saddr
	IP6Next                 // ip6 nexthdr
	IP6Src                  // ip6 saddr
	L4Sport                 // udp/tcp source port
	L4Dport                 // udp/tcp destination port
	ARPSha                  // arp sender hardware address
	ARPSpa                  // arp sender protocol address
	DHCPHlen                // a DHCPv4 message's hardware address length
	DHCPChaddr              // a DHCPv4 message's client hardware address (6 bytes)
)

// Match compares a field, masked when Mask is set, with Value.
type Match struct {
	Field Field
	Value []byte
	Mask  []byte
	Not   bool
}

// Rule is matches and a verdict: "accept", "drop" or "jump <chain>".
type Rule struct {
	Match   []Match
	Verdict string
}

// Chain is a named list of rules.
type Chain struct {
	Name  string
	Rules []Rule
}

const (
	etherIP   = 0x0800
	etherARP  = 0x0806
	etherIPv6 = 0x86dd
	protoUDP  = 17
	protoTCP  = 6
)

func u16(v uint16) []byte { b := make([]byte, 2); binary.BigEndian.PutUint16(b, v); return b }

func is(f Field, v []byte) Match    { return Match{Field: f, Value: v} }
func isNot(f Field, v []byte) Match { return Match{Field: f, Value: v, Not: true} }
func in(f Field, n *net.IPNet) Match {
	ip := n.IP.Mask(n.Mask)
	if f == IPSrc || f == ARPSpa {
		ip = ip.To4()
	}
	return Match{Field: f, Value: ip, Mask: net.IP(n.Mask)}
}

// ChainName is the chain holding a VNIC's rules (and, suffixed, its
// per-protocol chains).
func ChainName(x VNIC) string { return x.Host }

// Filter renders what a VNIC may send. Frames that enter the bridge from
// the VNIC's host end jump to its main chain.
func Filter(x VNIC) []Chain {
	main := Chain{Name: ChainName(x)}
	ip4 := Chain{Name: x.Host + "-ip4"}
	arp := Chain{Name: x.Host + "-arp"}
	ip6 := Chain{Name: x.Host + "-ip6"}
	owned := x.OwnedAddresses && !x.SpoofIP

	if !x.SpoofMAC {
		main.Rules = append(main.Rules, Rule{[]Match{isNot(EtherSrc, x.MAC)}, "drop"})
	}
	main.Rules = append(main.Rules,
		Rule{[]Match{is(EtherType, u16(etherIP))}, "jump " + ip4.Name},
		Rule{[]Match{is(EtherType, u16(etherARP))}, "jump " + arp.Name},
		Rule{[]Match{is(EtherType, u16(etherIPv6))}, "jump " + ip6.Name},
	)
	if !x.Restricted {
		// Neither IPv4, ARP nor IPv6.
		main.Rules = append(main.Rules, Rule{nil, "drop"})
	}

	if !x.SpoofDHCP {
		ip4.Rules = append(ip4.Rules, Rule{[]Match{is(IPProto, []byte{protoUDP}), is(L4Sport, u16(67))}, "drop"})
		// As SmartOS's dhcp-nospoof: a client asks only for its own
		// hardware address (leases for others would exhaust a pool).
		ip4.Rules = append(ip4.Rules, Rule{[]Match{is(IPProto, []byte{protoUDP}), is(L4Dport, u16(67)),
			is(DHCPHlen, []byte{6}), isNot(DHCPChaddr, x.MAC)}, "drop"})
		ip6.Rules = append(ip6.Rules, Rule{[]Match{is(IP6Next, []byte{protoUDP}), is(L4Sport, u16(547))}, "drop"})
	}
	// As SmartOS's flow with maxbw=0: TCP to a blocked remote port, from
	// any source address, goes nowhere.
	for _, p := range x.BlockedPorts {
		ip4.Rules = append(ip4.Rules, Rule{[]Match{is(IPProto, []byte{protoTCP}), is(L4Dport, u16(p))}, "drop"})
		ip6.Rules = append(ip6.Rules, Rule{[]Match{is(IP6Next, []byte{protoTCP}), is(L4Dport, u16(p))}, "drop"})
	}
	if !x.SpoofMAC {
		arp.Rules = append(arp.Rules, Rule{[]Match{isNot(ARPSha, x.MAC)}, "drop"})
	}
	if !owned {
		ip4.Rules = append(ip4.Rules, Rule{nil, "accept"})
		arp.Rules = append(arp.Rules, Rule{nil, "accept"})
		ip6.Rules = append(ip6.Rules, Rule{nil, "accept"})
		return []Chain{ip4, arp, ip6, main}
	}
	// A DHCP client's discover, and ARP probes, come from 0.0.0.0.
	ip4.Rules = append(ip4.Rules, Rule{[]Match{is(IPSrc, net.IPv4zero.To4()), is(IPProto, []byte{protoUDP}), is(L4Dport, u16(67))}, "accept"})
	arp.Rules = append(arp.Rules, Rule{[]Match{is(ARPSpa, net.IPv4zero.To4())}, "accept"})
	// IPv6 needs the unspecified and link-local sources for neighbour
	// discovery.
	ip6.Rules = append(ip6.Rules,
		Rule{[]Match{is(IP6Src, net.IPv6unspecified)}, "accept"},
		Rule{[]Match{in(IP6Src, &net.IPNet{IP: net.ParseIP("fe80::"), Mask: net.CIDRMask(10, 128)})}, "accept"},
	)
	if x.Addrconf {
		ip6.Rules = append(ip6.Rules, Rule{nil, "accept"})
	}
	for _, a := range x.Allowed {
		if a.IP.To4() != nil {
			ip4.Rules = append(ip4.Rules, Rule{[]Match{in(IPSrc, a)}, "accept"})
			arp.Rules = append(arp.Rules, Rule{[]Match{in(ARPSpa, a)}, "accept"})
		} else {
			ip6.Rules = append(ip6.Rules, Rule{[]Match{in(IP6Src, a)}, "accept"})
		}
	}
	ip4.Rules = append(ip4.Rules, Rule{nil, "drop"})
	arp.Rules = append(arp.Rules, Rule{nil, "drop"})
	ip6.Rules = append(ip6.Rules, Rule{nil, "drop"})
	return []Chain{ip4, arp, ip6, main}
}
