package dhcpguard

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"hull/internal/network/dump"
)

// Prio is the guard's place on the ingress of a VNIC's host end: first,
// before the bandwidth cap's redirect (which takes the frame away).
const Prio = 1

// filterName marks the guard's classifier.
const filterName = "hull-dhcp-cids"

var ingress = netlink.MakeHandle(0xffff, 0)

// Apply holds the host link (a VNIC's host end, whose ingress is what the
// zone sends) to the DHCP client identifiers cids, for a VNIC of MAC
// mac; with none it removes the guard. It replaces an earlier guard in
// place. The classifier and its map live in the kernel with the link:
// they outlast this process and go with the link.
func Apply(link string, mac net.HardwareAddr, cids [][]byte) error {
	if len(cids) == 0 {
		return Remove(link)
	}
	l, err := netlink.LinkByName(link)
	if err != nil {
		return fmt.Errorf("dhcp guard on %s: %w", link, err)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: KeySize, ValueSize: 1, MaxEntries: uint32(len(cids))})
	if err != nil {
		return fmt.Errorf("dhcp guard on %s: map: %w", link, err)
	}
	defer m.Close()
	for _, c := range cids {
		k, err := Key(c)
		if err != nil {
			return fmt.Errorf("dhcp guard on %s: %w", link, err)
		}
		if err := m.Put(k, uint8(1)); err != nil {
			return fmt.Errorf("dhcp guard on %s: map: %w", link, err)
		}
	}
	insns, err := Program(mac, m.FD())
	if err != nil {
		return err
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SchedCLS, Instructions: insns, License: "Dual MIT/GPL"})
	if err != nil {
		return fmt.Errorf("dhcp guard on %s: load: %w", link, err)
	}
	defer p.Close()
	q := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: ingress, Parent: netlink.HANDLE_INGRESS}}
	if err := netlink.QdiscAdd(q); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("dhcp guard: ingress on %s: %w", link, err)
	}
	f := &netlink.BpfFilter{
		FilterAttrs:  netlink.FilterAttrs{LinkIndex: l.Attrs().Index, Parent: ingress, Handle: 1, Priority: Prio, Protocol: unix.ETH_P_ALL},
		Fd:           p.FD(),
		Name:         filterName,
		DirectAction: true,
	}
	if err := netlink.FilterReplace(f); err != nil {
		return fmt.Errorf("dhcp guard on %s: %w", link, err)
	}
	return nil
}

// Remove takes the guard off the link (none, or no link, is fine).
func Remove(link string) error {
	for _, f := range guards(link) {
		if err := netlink.FilterDel(f); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("dhcp guard off %s: %w", link, err)
		}
	}
	return nil
}

// Guarded reports whether the link has a guard.
func Guarded(link string) bool { return len(guards(link)) > 0 }

// guards are the link's guard classifiers (one, or none).
func guards(link string) []netlink.Filter {
	l, err := netlink.LinkByName(link)
	if err != nil {
		return nil
	}
	fs, _ := dump.Consistent(func() ([]netlink.Filter, error) { return netlink.FilterList(l, ingress) })
	var out []netlink.Filter
	for _, f := range fs {
		if b, ok := f.(*netlink.BpfFilter); ok && b.Priority == Prio {
			out = append(out, f)
		}
	}
	return out
}
