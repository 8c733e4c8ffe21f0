package node

import (
	"errors"
	"fmt"
	"net"
	"slices"

	"hull/internal/network"
	"hull/internal/network/bw"
	"hull/internal/network/dhcp"
	"hull/internal/network/managed"
	"hull/internal/vm"
)

// Managed networks, bandwidth caps and DHCP: the node's side of
// internal/network/managed, bw and dhcp.

// fillNetworkTags gives NICs that name a network_uuid but no nic_tag the
// network's tag, before the payload is validated (create and update).
func (n *Node) fillNetworkTags(payload []byte) ([]byte, error) {
	s, err := managed.ForNode(n.Root)
	if err != nil {
		return nil, err
	}
	return s.FillTags(payload)
}

// assignNetworks gives the VM's NICs on managed networks their addresses
// (lowest free, or a DHCP lease), before the VM is saved. A crash before
// the save leaves assignments without a VM, which PruneNetworks drops.
func (n *Node) assignNetworks(v *vm.VM) error {
	s, err := managed.ForNode(n.Root)
	if err != nil {
		return err
	}
	return s.Assign(v)
}

// releaseNetworks returns the addresses of NICs that are gone (VM deleted,
// remove_nics, or a create undone).
func (n *Node) releaseNetworks(macs []string) error {
	if len(macs) == 0 {
		return nil
	}
	s, err := managed.ForNode(n.Root)
	if err != nil {
		return err
	}
	return s.Release(macs...)
}

// nicMACs lists a VM's NIC MACs (for releaseNetworks).
func nicMACs(v *vm.VM) []string {
	var out []string
	for _, nic := range v.Nics {
		out = append(out, nic.MAC)
	}
	return out
}

// PruneNetworks drops address assignments whose NIC no VM has (hulld at
// start).
func (n *Node) PruneNetworks() error {
	vms, err := n.List()
	if err != nil {
		return err
	}
	var live []string
	for _, v := range vms {
		live = append(live, nicMACs(v)...)
	}
	s, err := managed.ForNode(n.Root)
	if err != nil {
		return err
	}
	return s.Prune(live)
}

// networksUp makes the host side of the managed networks the VM's NICs
// use exist — the default network's etherstub, gateway addresses, NAT —
// so that its nic tags resolve. Idempotent and cheap; run before the
// nic-tag check at create and before plumbing at start.
func (n *Node) networksUp(v *vm.VM) error {
	s, err := managed.ForNode(n.Root)
	if err != nil {
		return err
	}
	var done []string
	for _, nic := range v.Nics {
		key := nic.NetworkUUID
		if key == "" && nic.NicTag == managed.DefaultStub {
			key = managed.DefaultUUID
		}
		if key == "" || slices.Contains(done, key) {
			continue
		}
		net, err := s.Get(key)
		if err != nil {
			return fmt.Errorf("Invalid network_uuid %q: %w", key, err)
		}
		if err := managed.Up(net, net.Bridge()); err != nil {
			return err
		}
		done = append(done, key)
	}
	return nil
}

// AllNetworksUp makes the host side of every managed network exist:
// hulld at start, so that zones re-plumbed after a node reboot find their
// bridges, gateways and NAT.
func (n *Node) AllNetworksUp() error {
	s, err := managed.ForNode(n.Root)
	if err != nil {
		return err
	}
	nets, err := s.List()
	if err != nil {
		return err
	}
	var errs []error
	for _, net := range nets {
		if net.Builtin {
			continue // made when a VM first uses it
		}
		if err := managed.Up(net, net.Bridge()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// managedLeases gives DHCP NICs on managed networks the address the
// network set aside for their MAC: plumbing configures it on the NIC
// (with the network's gateway as the primary NIC's default route), so
// the zone has it whether or not it runs a DHCP client — one that does is
// answered with the same address — and the filter lets the NIC send from
// that address only. Call on network.Plan's result before plumbing.
func (n *Node) managedLeases(v *vm.VM, vnics []network.VNIC) {
	s, err := managed.ForNode(n.Root)
	if err != nil {
		return
	}
	for i := range vnics {
		x := &vnics[i]
		nic := v.Nics[x.Index]
		if !x.DHCP || nic.NetworkUUID == "" || nic.DHCPServer || nic.AllowIPSpoofing {
			continue
		}
		nw, err := s.Get(nic.NetworkUUID)
		if err != nil {
			continue
		}
		leases, err := s.Leases(nic.NetworkUUID)
		if err != nil {
			continue
		}
		a, ok := leases[nic.MAC]
		if !ok {
			continue
		}
		x.Addrs = append(x.Addrs, &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(nw.Prefix().Bits(), 32)})
		x.Allowed = append(x.Allowed, &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)})
		x.OwnedAddresses = true
		if gw := net.ParseIP(nw.Gateway); gw != nil && len(x.Gateways) == 0 {
			x.Gateways = []net.IP{gw}
		}
	}
}

// applyIngress sets what stands on the ingress of the VMs' host ends:
// the bandwidth caps, then the DHCP guards, which go in front of the
// caps' redirect.
func applyIngress(v *vm.VM, vnics []network.VNIC) error {
	if err := applyBandwidth(v, vnics); err != nil {
		return err
	}
	return network.GuardDHCP(vnics)
}

// applyBandwidth sets or lifts each VNIC's maxbw cap (both directions) on
// its host end. Live: update_nics with maxbw on a running zone calls it.
func applyBandwidth(v *vm.VM, vnics []network.VNIC) error {
	var errs []error
	for _, x := range vnics {
		bps, err := bw.Parse(v.Nics[x.Index].MaxBW)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if bps == 0 {
			err = bw.Remove(x.Host)
		} else {
			err = bw.Apply(bw.For(x.Host, bps))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", x.Zone, err))
		}
	}
	return errors.Join(errs...)
}

// removeBandwidth deletes the VM's ifbs (the qdiscs go with the host
// links): part of unplumbing, idempotent, also after a crash.
func removeBandwidth(uuid string) error {
	return bw.RemovePrefix(network.HostPrefix(uuid))
}

// bandwidthLinks lists the VM's ifbs, for leak checks.
func bandwidthLinks(uuid string) []string {
	return bw.Links(network.HostPrefix(uuid))
}

// DHCPServer is the DHCP server of the node's managed networks; hulld
// runs it in a goroutine: srv, _ := n.DHCPServer(); go srv.Run(ctx).
func (n *Node) DHCPServer() (*dhcp.Server, error) {
	s, err := managed.ForNode(n.Root)
	if err != nil {
		return nil, err
	}
	return &dhcp.Server{Store: s, Bridge: managed.Network.Bridge}, nil
}
