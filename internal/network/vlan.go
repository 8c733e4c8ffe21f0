package network

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// A NIC's vlan_id puts it on a VLAN of its nic tag. Where the kernel's
// bridge filters VLANs (CONFIG_BRIDGE_VLAN_FILTERING, which comes with
// 802.1q support), that is real tagging: the tag's bridge filters VLANs,
// each VNIC port is an untagged member of its own VLAN only, and the
// tag's uplink a tagged member of every VLAN in use, so frames leave the
// host with their 802.1q tag. Without it, each VLAN is a bridge of its
// own: VLANs are kept apart on the host, but frames cannot leave it
// tagged.

// VLANMode is how a nic tag's VLANs are wired on this host.
type VLANMode int

const (
	// VLANBridges: each VLAN of a tag is a bridge of its own.
	VLANBridges VLANMode = iota
	// VLANFiltering: the tag's bridge filters VLANs.
	VLANFiltering
)

func (m VLANMode) String() string {
	if m == VLANFiltering {
		return "vlan-filtering bridge"
	}
	return "bridge per VLAN"
}

// VLANModeOf tells how VLANs are wired on bridge br: the kernel reports a
// bridge's default PVID only when its bridges can filter VLANs.
func VLANModeOf(br netlink.Link) VLANMode {
	if b, ok := br.(*netlink.Bridge); ok && b.VlanDefaultPVID != nil {
		return VLANFiltering
	}
	return VLANBridges
}

// Port is where a VNIC's host end joins: a bridge and, on a
// VLAN-filtering bridge, the VLAN of which the port is an untagged
// member (its PVID); 0 for none.
type Port struct {
	Bridge string
	VID    int
}

// PortFor renders where a NIC on tag's VLAN vid (0 for none) joins.
func PortFor(tag string, vid int, mode VLANMode) Port {
	switch {
	case vid == 0:
		return Port{Bridge: BridgeName(tag)}
	case mode == VLANFiltering:
		return Port{Bridge: BridgeName(tag), VID: vid}
	}
	return Port{Bridge: VLANLinkName(tag, vid)}
}

// VLANLinkName is the host's link on a tag's VLAN: the VLAN's own bridge,
// or on a VLAN-filtering bridge the 802.1q link through which the host
// takes part in the VLAN (a managed network's gateway). The tag is cut so
// that the VLAN id always fits a link name.
func VLANLinkName(tag string, vid int) string {
	suffix := "." + strconv.Itoa(vid)
	if len(tag)+len(suffix) > 15 {
		tag = tag[:15-len(suffix)]
	}
	return tag + suffix
}

// EnsurePort makes what a NIC on tag's VLAN vid joins: the tag's bridge
// (with its uplink) and, for a VLAN, VLAN filtering on it with the
// uplink a tagged member of the VLAN, or the VLAN's own bridge.
func (t Tags) EnsurePort(tag string, vid int) (Port, error) {
	if err := t.EnsureBridge(tag); err != nil {
		return Port{}, err
	}
	if vid == 0 {
		return Port{Bridge: BridgeName(tag)}, nil
	}
	br, err := netlink.LinkByName(BridgeName(tag))
	if err != nil {
		return Port{}, fmt.Errorf("bridge %s: %w", BridgeName(tag), err)
	}
	p := PortFor(tag, vid, VLANModeOf(br))
	if p.VID == 0 {
		return p, ensureBridge(p.Bridge)
	}
	if err := filterVLANs(br); err != nil {
		return p, err
	}
	if up := t.uplinkPort(tag, br); up != nil {
		if err := netlink.BridgeVlanAdd(up, uint16(vid), false, false, false, true); err != nil {
			return p, fmt.Errorf("uplink %s: VLAN %d: %w", up.Attrs().Name, vid, err)
		}
	}
	return p, nil
}

// EnsureVLANLink makes the host's link on tag's VLAN vid (see
// VLANLinkName), for a managed network whose gateway the host holds.
// The tag's bridge is made without an uplink when missing, as for an
// etherstub; plumbing a NIC on the tag adds the uplink.
func EnsureVLANLink(tag string, vid int) (netlink.Link, error) {
	if err := ensureBridge(BridgeName(tag)); err != nil {
		return nil, err
	}
	br, err := netlink.LinkByName(BridgeName(tag))
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", BridgeName(tag), err)
	}
	name := VLANLinkName(tag, vid)
	if VLANModeOf(br) == VLANBridges {
		if err := ensureBridge(name); err != nil {
			return nil, err
		}
		return netlink.LinkByName(name)
	}
	if err := filterVLANs(br); err != nil {
		return nil, err
	}
	// The bridge itself (the host) becomes a tagged member of the VLAN,
	// and an 802.1q link on it takes the VLAN's frames.
	if err := netlink.BridgeVlanAdd(br, uint16(vid), false, false, true, false); err != nil {
		return nil, fmt.Errorf("bridge %s: VLAN %d: %w", br.Attrs().Name, vid, err)
	}
	v := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: br.Attrs().Index}, VlanId: vid}
	if err := netlink.LinkAdd(v); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("VLAN link %s: %w", name, err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("VLAN link %s: %w", name, err)
	}
	return l, netlink.LinkSetUp(l)
}

// filterVLANs turns VLAN filtering on for a bridge: ports already on it
// stay untagged members of the default VLAN, so nothing changes for them.
func filterVLANs(br netlink.Link) error {
	if b, ok := br.(*netlink.Bridge); ok && b.VlanFiltering != nil && *b.VlanFiltering {
		return nil
	}
	if err := netlink.BridgeSetVlanFiltering(br, true); err != nil {
		return fmt.Errorf("bridge %s: VLAN filtering: %w", br.Attrs().Name, err)
	}
	return nil
}

// joinVLAN makes a new port of a VLAN-filtering bridge an untagged member
// of VLAN vid and of no other (it joined the default VLAN).
func joinVLAN(port netlink.Link, br netlink.Link, vid int) error {
	def := 0
	if b, ok := br.(*netlink.Bridge); ok && b.VlanDefaultPVID != nil {
		def = int(*b.VlanDefaultPVID)
	}
	if vid == def {
		return nil
	}
	if err := netlink.BridgeVlanAdd(port, uint16(vid), true, true, false, true); err != nil {
		return fmt.Errorf("port %s: VLAN %d: %w", port.Attrs().Name, vid, err)
	}
	if def != 0 {
		if err := netlink.BridgeVlanDel(port, uint16(def), false, false, false, true); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("port %s: leave VLAN %d: %w", port.Attrs().Name, def, err)
		}
	}
	return nil
}

// ensureBridge makes an up bridge with no uplink (an etherstub, or a
// VLAN's own bridge) unless it exists.
func ensureBridge(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		if l, err = netlink.LinkByName(name); err != nil {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
	}
	return netlink.LinkSetUp(l)
}
