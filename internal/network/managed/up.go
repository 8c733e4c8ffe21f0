package managed

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"hull/internal/network"
)

// HostHoldsGateway tells whether the host itself is the network's
// gateway: it is for NAT networks, whose traffic leaves through the
// host's own uplink.
func (n Network) HostHoldsGateway() bool { return n.InternetNAT && n.Gateway != "" }

// NATTable is the nftables table (ip family) of a network's NAT.
func NATTable(n Network) string {
	return "hull_nat_" + strings.ReplaceAll(n.UUID, "-", "")[:12]
}

// natExprs is the one NAT rule: traffic from the subnet to anywhere
// outside it leaves with the host's address.
func natExprs(p netip.Prefix) []expr.Any {
	net4 := p.Masked().Addr().As4()
	mask := net.CIDRMask(p.Bits(), 32)
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: net4[:]},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: net4[:]},
		&expr.Counter{},
		&expr.Masq{},
	}
}

// Up makes the host side of a network whose gateway is the host exist:
// its bridge when missing (an etherstub: a switch with no uplink), the
// gateway address on the bridge, IPv4 forwarding and the NAT rule. Idempotent; the NAT table is
// replaced in one transaction.
func Up(n Network, bridge string) error {
	if !n.HostHoldsGateway() {
		// Nothing of the host's: the nic tag's bridge is made when a
		// NIC is plumbed, with its uplink.
		return nil
	}
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		if n.VlanID != 0 {
			br, err = network.EnsureVLANLink(n.NicTag, n.VlanID)
		} else {
			err = netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridge}})
			if errors.Is(err, unix.EEXIST) {
				err = nil
			}
			if err == nil {
				br, err = netlink.LinkByName(bridge)
			}
		}
		if err != nil {
			return fmt.Errorf("network %s: link %s: %w", n.Name, bridge, err)
		}
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("network %s: bridge %s up: %w", n.Name, bridge, err)
	}
	gw := netip.MustParseAddr(n.Gateway)
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: gw.AsSlice(), Mask: net.CIDRMask(n.Prefix().Bits(), 32)}}
	if err := netlink.AddrAdd(br, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("network %s: gateway %s on %s: %w", n.Name, n.Gateway, bridge, err)
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("network %s: enable forwarding: %w", n.Name, err)
	}
	c := &nftables.Conn{}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: NATTable(n)}
	// The rule carries the subnet it was made for: when it is there
	// already, nothing is sent, for replacing a table's base chain and
	// rule waits for an RCU grace period (Up runs at every create and
	// boot of a zone on the network).
	mark := []byte(n.Prefix().String())
	if rules, err := c.GetRules(t, &nftables.Chain{Name: "postrouting", Table: t}); err == nil && len(rules) == 1 && bytes.Equal(rules[0].UserData, mark) {
		return nil
	}
	c.AddTable(t)
	c.FlushTable(t)
	ch := c.AddChain(&nftables.Chain{
		Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: natExprs(n.Prefix()), UserData: mark})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("network %s: nat: %w", n.Name, err)
	}
	return nil
}

// Down removes what Up added for the network (the bridge stays: VNICs of
// other networks may use it). Nothing to remove is fine.
func Down(n Network, bridge string) error {
	var errs []error
	c := &nftables.Conn{}
	if _, err := c.ListTableOfFamily(NATTable(n), nftables.TableFamilyIPv4); err == nil {
		c.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: NATTable(n)})
		if err := c.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("network %s: delete nat: %w", n.Name, err))
		}
	}
	if br, err := netlink.LinkByName(bridge); err == nil && n.Gateway != "" {
		gw := netip.MustParseAddr(n.Gateway)
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: gw.AsSlice(), Mask: net.CIDRMask(n.Prefix().Bits(), 32)}}
		if err := netlink.AddrDel(br, addr); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("network %s: remove gateway: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Bridge is the host's link on the network: the nic tag's bridge, or on
// a VLAN the link network.VLANLinkName names (the VLAN's own bridge, or
// an 802.1q link on a VLAN-filtering bridge). The gateway of a NAT
// network goes on it, and the DHCP server listens there.
func (n Network) Bridge() string {
	if n.VlanID != 0 {
		return network.VLANLinkName(n.NicTag, n.VlanID)
	}
	return network.BridgeName(n.NicTag)
}
