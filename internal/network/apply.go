package network

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"hull/internal/config"
	"hull/internal/network/dhcpguard"
	"hull/internal/network/dump"
)

// Tags resolves nic tags to the links that provide them, from the node
// config: "<tag>_nic=<mac>" names a physical NIC, "etherstub=a,b" lists
// virtual switches without an uplink.
type Tags struct {
	Uplinks    map[string]string // tag → MAC of its physical link
	Etherstubs map[string]bool
}

// TagsFrom reads the nic tags of a node config.
func TagsFrom(c *config.Config) Tags {
	t := Tags{Uplinks: map[string]string{}, Etherstubs: map[string]bool{}}
	for _, k := range c.WithSuffix("_nic") {
		mac, _ := c.Get(k)
		mac = strings.ToLower(mac)
		if m, ok := NormalMAC(mac); ok {
			mac = m // as SmartOS writes it, leading zeros optional
		}
		t.Uplinks[strings.TrimSuffix(k, "_nic")] = mac
	}
	for _, s := range strings.Split(c.Value("etherstub", ""), ",") {
		if s = strings.TrimSpace(s); s != "" {
			t.Etherstubs[s] = true
		}
	}
	return t
}

// Has tells whether tag names a nic tag or etherstub of this node, or a
// bridge that already exists (made by hand or by dladm).
func (t Tags) Has(tag string) bool {
	if _, ok := t.Uplinks[tag]; ok || t.Etherstubs[tag] {
		return true
	}
	l, err := netlink.LinkByName(BridgeName(tag))
	return err == nil && l.Type() == "bridge"
}

// uplinksChecked remembers the tags whose uplink this process has looked
// for: once is enough, and looking lists every link of the host.
var uplinksChecked sync.Map

// EnsureBridge makes the bridge of a nic tag and brings it up. A tag's
// physical link joins the bridge when it carries no addresses of the
// host's own; a link the host uses is left alone rather than cut off. A
// bridge made earlier without its uplink (a managed network's, before
// any NIC) gets it here.
func (t Tags) EnsureBridge(tag string) error {
	name := BridgeName(tag)
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
		if !t.Has(tag) {
			return fmt.Errorf("undefined nic tag %q (not in the node config's <tag>_nic or etherstub)", tag)
		}
		if err := ensureBridge(name); err != nil {
			return err
		}
		if l, err = netlink.LinkByName(name); err != nil {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
		uplinksChecked.Delete(tag)
	}
	if mac := t.Uplinks[tag]; mac != "" {
		if _, done := uplinksChecked.LoadOrStore(tag, true); !done {
			if err := enslaveUplink(l, mac); err != nil {
				uplinksChecked.Delete(tag)
				return err
			}
		}
	}
	return netlink.LinkSetUp(l)
}

// uplinkPort is the tag's physical link when it is a port of bridge br.
func (t Tags) uplinkPort(tag string, br netlink.Link) netlink.Link {
	mac := t.Uplinks[tag]
	if mac == "" {
		return nil
	}
	links, _ := dump.Consistent(netlink.LinkList)
	for _, l := range links {
		if l.Attrs().HardwareAddr.String() == mac && l.Attrs().MasterIndex == br.Attrs().Index && l.Type() != "veth" {
			return l
		}
	}
	return nil
}

func enslaveUplink(br netlink.Link, mac string) error {
	links, err := dump.Consistent(netlink.LinkList)
	if err != nil {
		return err
	}
	for _, l := range links {
		if l.Attrs().HardwareAddr.String() != mac || l.Type() == "bridge" || l.Type() == "veth" {
			continue
		}
		if l.Attrs().MasterIndex == br.Attrs().Index {
			return nil // there already
		}
		addrs, _ := dump.Consistent(func() ([]netlink.Addr, error) { return netlink.AddrList(l, netlink.FAMILY_V4) })
		if len(addrs) > 0 || l.Attrs().MasterIndex != 0 {
			return nil // the host's own link: VNICs stay local to the bridge
		}
		if err := netlink.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("uplink %s into %s: %w", l.Attrs().Name, br.Attrs().Name, err)
		}
		return netlink.LinkSetUp(l)
	}
	return nil
}

// Plumb makes the VNICs of the zone whose init is pid: a veth pair each,
// the host end on its bridge, the other moved into the zone's network
// namespace, named and addressed there, with the default route on the
// primary NIC.
func Plumb(pid int, vnics []VNIC, tags Tags) error {
	ns, h, done, err := inZone(pid)
	if err != nil {
		return err
	}
	defer done()
	for _, x := range vnics {
		port, err := tags.EnsurePort(x.Tag, x.VLAN)
		if err != nil {
			return err
		}
		if err := plumbOne(h, ns, x, port); err != nil {
			return fmt.Errorf("%s: %w", x.Zone, err)
		}
	}
	return nil
}

func plumbOne(h *netlink.Handle, ns netns.NsHandle, x VNIC, port Port) error {
	if l, err := netlink.LinkByName(x.Host); err == nil {
		netlink.LinkDel(l)
	}
	br, err := netlink.LinkByName(port.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", port.Bridge, err)
	}
	mtu := x.MTU
	if mtu == 0 {
		mtu = br.Attrs().MTU
	}
	// The zone's end is made inside the zone's namespace under its final
	// name: moving a link between namespaces waits for an RCU grace
	// period, most of what plumbing cost (18 ms → 1 ms per NIC).
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: x.Host, MTU: mtu, MasterIndex: br.Attrs().Index, Flags: net.FlagUp},
		PeerName:         x.Zone,
		PeerHardwareAddr: x.MAC,
		PeerNamespace:    netlink.NsFd(int(ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", x.Host, err)
	}
	hl, err := netlink.LinkByName(x.Host)
	if err != nil {
		return err
	}
	if port.VID != 0 {
		// Before the zone's end is up, so no frame crosses into the
		// default VLAN.
		if err := joinVLAN(hl, br, port.VID); err != nil {
			return err
		}
	}
	if err := isolate(hl, br, x, port); err != nil {
		return err
	}
	in, err := h.LinkByName(x.Zone)
	if err != nil {
		return err
	}
	for _, a := range x.Addrs {
		if err := h.AddrAdd(in, &netlink.Addr{IPNet: a}); err != nil {
			return fmt.Errorf("address %s: %w", a, err)
		}
	}
	if err := h.LinkSetUp(in); err != nil {
		return err
	}
	if x.Primary {
		for _, gw := range x.Gateways {
			r := &netlink.Route{LinkIndex: in.Attrs().Index, Gw: gw}
			if gw.To4() == nil {
				r.Family = netlink.FAMILY_V6
			}
			if err := h.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("default route via %s: %w", gw, err)
			}
		}
	}
	return nil
}

// Unplumb removes the VM's host-side links (their zone ends go with
// them). Idempotent: it finds them by name, so it also cleans up after a
// crash in the middle of Plumb.
func Unplumb(uuid string) error {
	links, err := dump.Consistent(netlink.LinkList)
	if err != nil {
		return err
	}
	host, temp := HostPrefix(uuid), "y"+hostTag(uuid)+"n"
	var errs []error
	for _, l := range links {
		name := l.Attrs().Name
		if strings.HasPrefix(name, host) || strings.HasPrefix(name, temp) {
			// A veth goes with its peer, and the zone's end with the
			// zone's namespace: gone by now is fine.
			if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("delete %s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// HostLinks lists the VM's host-side links (for leak checks).
func HostLinks(uuid string) []string {
	links, _ := dump.Consistent(netlink.LinkList)
	var out []string
	for _, l := range links {
		if n := l.Attrs().Name; strings.HasPrefix(n, HostPrefix(uuid)) || strings.HasPrefix(n, "y"+hostTag(uuid)+"n") {
			out = append(out, n)
		}
	}
	return out
}

// DeleteLink removes one host link by name (gone already is fine).
func DeleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return err
	}
	return nil
}

// Ready marks each VNIC, inside the zone, with its host port's name (the
// link's alias): the last step of plumbing, which the zone's init waits
// for in /sys/class/net/<nic>/ifalias.
func Ready(pid int, vnics []VNIC) error {
	_, h, done, err := inZone(pid)
	if err != nil {
		return err
	}
	defer done()
	for _, x := range vnics {
		waitUp(h, x)
		l, err := h.LinkByName(x.Zone)
		if err != nil {
			return err
		}
		if err := h.LinkSetAlias(l, x.Host); err != nil {
			return fmt.Errorf("%s: %w", x.Zone, err)
		}
	}
	return nil
}

// A link carries frames only once the kernel's link watcher has seen its
// carrier come on: until then its queue drops everything and its bridge
// port is disabled. The watcher runs asynchronously, behind the rtnl
// lock, so on a busy host a zone's first packets (its ARP requests) were
// lost. Usually it takes well under a millisecond; upWait bounds the
// wait, and a link still down after it is left as it is, not a failed
// boot.
const upWait = 5 * time.Second

// waitUp waits until the zone's end of a VNIC is operationally up and
// its host end is an enabled bridge port.
func waitUp(h *netlink.Handle, x VNIC) {
	for deadline := time.Now().Add(upWait); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		if l, err := h.LinkByName(x.Zone); err == nil && l.Attrs().OperState != netlink.OperUp {
			continue
		}
		if portEnabled(x.Host) {
			return
		}
	}
}

// portEnabled tells whether the bridge has enabled its port name (any
// state but disabled: a bridge running STP moves it on to forwarding in
// its own time). A link that is no bridge port, or gone, counts as
// enabled: there is nothing to wait for.
func portEnabled(name string) bool {
	b, err := os.ReadFile("/sys/class/net/" + name + "/brport/state")
	return err != nil || strings.TrimSpace(string(b)) != "0"
}

// inZone opens the network namespace of the zone whose init is pid and a
// netlink handle in it; done closes both.
func inZone(pid int) (netns.NsHandle, *netlink.Handle, func(), error) {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return ns, nil, nil, fmt.Errorf("zone network namespace: %w", err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return ns, nil, nil, fmt.Errorf("netlink in zone: %w", err)
	}
	return ns, h, func() { h.Close(); ns.Close() }, nil
}

// GuardDHCP holds each VNIC to its allowed DHCP client identifiers (see
// dhcpguard), or lifts the guard where it has none or may spoof DHCP. It
// runs after the bandwidth caps are set (bw): their redirect must be in
// its place behind the guard.
func GuardDHCP(vnics []VNIC) error {
	var errs []error
	for _, x := range vnics {
		cids := x.DHCPCIDs
		if x.SpoofDHCP {
			cids = nil
		}
		if err := dhcpguard.Apply(x.Host, x.MAC, cids); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
