package network

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// A SmartOS VNIC sees only the unicast frames for its own MAC (its
// promiscuous mode is filtered). A learning bridge would also flood a
// port with unicast for addresses it does not know — another zone's,
// whose entry aged out while it was idle — so a zone could read its
// neighbours' traffic. Each VNIC port therefore has its MAC as a static
// entry of the bridge (never aged out) and gets no unknown unicast;
// broadcast and multicast still reach it. A NIC allowed to spoof its MAC
// may answer for any address, and gets unknown unicast still; a VRRP
// NIC's MAC is learnt where its master is, as a switch learns it, and
// floods reach it too.

// isolate gives a new VNIC port its static entry and its flooding.
func isolate(host, br netlink.Link, x VNIC, port Port) error {
	if x.SharedMAC {
		return setFlood(host, x)
	}
	fdb := &netlink.Neigh{
		LinkIndex: host.Attrs().Index, Family: unix.AF_BRIDGE,
		State: netlink.NUD_NOARP, Flags: netlink.NTF_MASTER, HardwareAddr: x.MAC,
	}
	if b, ok := br.(*netlink.Bridge); ok && VLANModeOf(br) == VLANFiltering {
		// A VLAN-filtering bridge looks entries up by VLAN: the port's,
		// or the bridge's default one for an untagged NIC.
		fdb.Vlan = port.VID
		if fdb.Vlan == 0 {
			fdb.Vlan = int(*b.VlanDefaultPVID)
		}
	}
	if err := netlink.NeighSet(fdb); err != nil {
		return fmt.Errorf("bridge entry of %s on %s: %w", x.MAC, x.Host, err)
	}
	return setFlood(host, x)
}

// SetFlood gives the VM's VNIC ports the flooding their NICs' MAC
// spoofing allows (see isolate), as an update changes it.
func SetFlood(vnics []VNIC) error {
	for _, x := range vnics {
		l, err := netlink.LinkByName(x.Host)
		if err != nil {
			return fmt.Errorf("%s: %w", x.Host, err)
		}
		if err := setFlood(l, x); err != nil {
			return err
		}
	}
	return nil
}

func setFlood(host netlink.Link, x VNIC) error {
	if err := netlink.LinkSetFlood(host, x.SpoofMAC || x.SharedMAC); err != nil {
		return fmt.Errorf("unknown unicast to %s: %w", x.Host, err)
	}
	return nil
}
