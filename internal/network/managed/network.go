// Package managed keeps the node's managed networks, in the manner of
// Triton's NAPI on one node: a named subnet on a nic tag or etherstub with
// a gateway, a provision range, resolvers and optional NAT. A NIC that
// names a network_uuid gets the lowest free address of its range (or a
// DHCP lease from hulld's server). Validation and allocation are pure;
// the store persists networks and address assignments under the node's
// root, and up.go makes the host side (bridge address, NAT) exist.
package managed

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// Network is a managed network as `hull network get` prints it. Field
// names are NAPI's.
type Network struct {
	UUID        string   `json:"uuid"`
	Name        string   `json:"name"`
	NicTag      string   `json:"nic_tag"`
	VlanID      int      `json:"vlan_id"`
	Subnet      string   `json:"subnet"`
	Netmask     string   `json:"netmask"`
	Gateway     string   `json:"gateway,omitempty"`
	Start       string   `json:"provision_start_ip"`
	End         string   `json:"provision_end_ip"`
	Resolvers   []string `json:"resolvers"`
	MTU         int      `json:"mtu,omitempty"`
	InternetNAT bool     `json:"internet_nat"`
	Description string   `json:"description,omitempty"`
	// Builtin marks the embedded default network (not stored, not
	// deletable).
	Builtin bool `json:"builtin,omitempty"`
}

// DefaultUUID and friends describe the embedded default network: an
// etherstub with NAT, so a zone gets an address and reaches the host and
// beyond with no node configuration at all.
const (
	DefaultUUID   = "3f4c2d1e-6a5b-4c8d-9e0f-1a2b3c4d5e6f"
	DefaultName   = "default"
	DefaultStub   = "hullstub0"
	defaultSubnet = "10.199.0.0/24"
)

// Default returns the embedded default network; resolvers are the node's
// (dns_resolvers).
func Default(resolvers []string) Network {
	return Network{
		UUID: DefaultUUID, Name: DefaultName, NicTag: DefaultStub,
		Subnet: defaultSubnet, Netmask: "255.255.255.0", Gateway: "10.199.0.1",
		Start: "10.199.0.10", End: "10.199.0.250", Resolvers: append([]string{}, resolvers...),
		InternetNAT: true, Builtin: true,
		Description: "built-in etherstub network with NAT",
	}
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)
var tagRE = regexp.MustCompile(`^[a-zA-Z0-9_]{1,31}$`)

// Prefix is the network's subnet.
func (n Network) Prefix() netip.Prefix { return netip.MustParsePrefix(n.Subnet) }

// Normalize checks a network as given to `hull network create` and fills
// what is derived (uuid, netmask, a default range and gateway). It
// changes nothing outside n; others are the networks that exist.
func Normalize(n *Network, others []Network) error {
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	if n.UUID == "" {
		n.UUID = uuid.NewString()
	} else if _, err := uuid.Parse(n.UUID); err != nil {
		bad("uuid: invalid UUID %q", n.UUID)
	}
	if !nameRE.MatchString(n.Name) {
		bad("name: must be 1-64 letters, digits, '_', '.' or '-'")
	}
	if !tagRE.MatchString(n.NicTag) {
		bad("nic_tag: must be a nic tag or etherstub name")
	}
	if n.VlanID < 0 || n.VlanID > 4094 || n.VlanID == 1 {
		bad("vlan_id: must be 0 or 2-4094")
	}
	if n.MTU != 0 && (n.MTU < 576 || n.MTU > 9000) {
		bad("mtu: must be between 576 and 9000")
	}
	p, err := netip.ParsePrefix(n.Subnet)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 || p.Bits() < 8 {
		bad("subnet: must be an IPv4 CIDR between /8 and /30")
		return fail(errs)
	}
	p = p.Masked()
	n.Subnet = p.String()
	n.Netmask = maskString(p.Bits())
	first, last := hostRange(p)
	if n.Gateway != "" {
		if g, err := netip.ParseAddr(n.Gateway); err != nil || !g.Is4() || !p.Contains(g) || g == p.Addr() || g == broadcast(p) {
			bad("gateway: must be a host address in %s", p)
		}
	} else if n.InternetNAT {
		n.Gateway = first.String()
	}
	if n.Start == "" {
		n.Start = first.String()
		if n.Gateway == n.Start {
			n.Start = first.Next().String()
		}
	}
	if n.End == "" {
		n.End = last.String()
	}
	s, err1 := netip.ParseAddr(n.Start)
	e, err2 := netip.ParseAddr(n.End)
	switch {
	case err1 != nil || !p.Contains(s) || s.Less(first) || last.Less(s):
		bad("provision_start_ip: must be a host address in %s", p)
	case err2 != nil || !p.Contains(e) || e.Less(first) || last.Less(e):
		bad("provision_end_ip: must be a host address in %s", p)
	case e.Less(s):
		bad("provision_end_ip: must not be before provision_start_ip")
	}
	for _, r := range n.Resolvers {
		if _, err := netip.ParseAddr(r); err != nil {
			bad("resolvers: invalid IP %q", r)
		}
	}
	if n.Resolvers == nil {
		n.Resolvers = []string{}
	}
	if n.InternetNAT && n.Gateway == "" {
		bad("internet_nat: needs a gateway")
	}
	for _, o := range others {
		switch {
		case o.UUID == n.UUID:
			bad("uuid: network %s already exists", n.UUID)
		case o.Name == n.Name:
			bad("name: a network named %q already exists", n.Name)
		case o.NicTag == n.NicTag && o.VlanID == n.VlanID && o.Prefix().Overlaps(p):
			bad("subnet: overlaps network %q (%s) on the same nic tag", o.Name, o.Subnet)
		}
	}
	return fail(errs)
}

func fail(errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid network: %s", strings.Join(errs, "; "))
}

func maskString(bits int) string {
	m := uint32(0xffffffff) << (32 - bits)
	return fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// hostRange is the first and last host address of a subnet.
func hostRange(p netip.Prefix) (netip.Addr, netip.Addr) {
	return p.Masked().Addr().Next(), broadcast(p).Prev()
}

// Allocate returns the lowest address of the network's provision range
// that is neither the gateway nor in used.
func Allocate(n Network, used []netip.Addr) (netip.Addr, error) {
	s, _ := netip.ParseAddr(n.Start)
	e, _ := netip.ParseAddr(n.End)
	g, _ := netip.ParseAddr(n.Gateway)
	for a := s; a.IsValid() && !e.Less(a); a = a.Next() {
		if a != g && !slices.Contains(used, a) {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("network %q (%s): no free address in %s-%s", n.Name, n.UUID, n.Start, n.End)
}

// CIDR is addr with the network's prefix length, as a NIC's ips holds it.
func (n Network) CIDR(a netip.Addr) string {
	return netip.PrefixFrom(a, n.Prefix().Bits()).String()
}

// MarshalIndent renders a network the way `get` prints it.
func (n Network) MarshalIndent() []byte {
	b, _ := json.MarshalIndent(n, "", "  ")
	return b
}
