package node

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"hull/internal/config"
	"hull/internal/network"
	"hull/internal/vm"
)

// plumb wires the zone's NICs (its init is pid, just started, and waits
// for them: see startd.waitNetwork) and installs their anti-spoofing filter.
// Done here rather than in a runtime hook: a hook is a process start,
// several times what the plumbing itself costs.
func (n *Node) plumb(v *vm.VM, pid int) error {
	if len(v.Nics) == 0 {
		return nil
	}
	st := startSteps("plumb")
	vnics, err := network.Plan(v)
	if err != nil {
		return err
	}
	tags, err := n.nicTags()
	if err != nil {
		return err
	}
	n.managedLeases(v, vnics)
	st.mark("plan")
	if err := network.Plumb(pid, vnics, tags); err != nil {
		return fmt.Errorf("plumb %s: %w", v.UUID, err)
	}
	st.mark("links")
	if len(v.Routes) > 0 { // a new zone has none to remove
		if err := syncRoutes(v, vnics, pid); err != nil {
			return err
		}
	}
	failpoint("start/mid-plumb")
	if err := network.ApplyFilter(v.UUID, vnics); err != nil {
		return err
	}
	st.mark("filter")
	if err := applyIngress(v, vnics); err != nil {
		return err
	}
	st.mark("bandwidth")
	err = network.Ready(pid, vnics)
	st.mark("ready")
	return err
}

func (n *Node) nicTags() (network.Tags, error) {
	c, err := config.Load(n.Root)
	if err != nil {
		return network.Tags{}, err
	}
	return network.TagsFrom(c), nil
}

// checkNicTags refuses NICs on tags this node does not have, as a zone
// boot would ("undefined VNIC"), before anything is made, and MTUs below
// 1500 on a physical nic tag: SmartOS's checks, with its messages (one
// line per tag or NIC).
func (n *Node) checkNicTags(v *vm.VM) error {
	if len(v.Nics) == 0 {
		return nil
	}
	tags, err := n.nicTags()
	if err != nil {
		return err
	}
	var bad []string
	for _, nic := range v.Nics {
		if !tags.Has(nic.NicTag) && !slices.Contains(bad, nic.NicTag) {
			bad = append(bad, nic.NicTag)
		}
	}
	var lines []string
	for _, tag := range bad {
		lines = append(lines, fmt.Sprintf("Invalid nic tag %q", tag))
	}
	if len(lines) == 0 {
		lines = mtuBelowTag(v.Nics, tags)
	}
	if len(lines) > 0 {
		return errors.New(strings.Join(lines, "\n"))
	}
	return nil
}

// mtuBelowTag reports, per physical nic tag, the NIC with the lowest MTU
// when that is below 1500: those NICs' frames would not fit the tag's
// link.
func mtuBelowTag(nics []vm.NIC, tags network.Tags) []string {
	low := map[string]int{} // tag → index of its NIC with the lowest mtu
	var order []string
	for i, nic := range nics {
		if nic.MTU == 0 {
			continue
		}
		j, ok := low[nic.NicTag]
		if !ok {
			order = append(order, nic.NicTag)
		}
		if !ok || nic.MTU < nics[j].MTU {
			low[nic.NicTag] = i
		}
	}
	var out []string
	for _, tag := range order {
		i := low[tag]
		if _, physical := tags.Uplinks[tag]; physical && nics[i].MTU < 1500 {
			out = append(out, fmt.Sprintf("nic %d (%s): MTU is below the supported MTU (1500) of nic tag %q", i, nics[i].MAC, tag))
		}
	}
	return out
}

// unplumb removes what plumbing made for the VM: its links and filter.
func unplumb(uuid string) error {
	err := network.Unplumb(uuid)
	failpoint("unplumb/after-links")
	if ferr := network.RemoveFilter(uuid); ferr != nil && err == nil {
		err = ferr
	}
	if berr := removeBandwidth(uuid); berr != nil && err == nil {
		err = berr
	}
	return err
}

// replumb brings a running zone's NICs in line with its VM object: new
// NICs are plumbed, removed ones unplumbed, and the filter rewritten
// (allow_* and allowed_ips change at once, without a reboot).
func (n *Node) replumb(v *vm.VM, pid int) error {
	vnics, err := network.Plan(v)
	if err != nil {
		return err
	}
	tags, err := n.nicTags()
	if err != nil {
		return err
	}
	n.managedLeases(v, vnics)
	have := network.HostLinks(v.UUID)
	var add []network.VNIC
	var keep []string
	for _, x := range vnics {
		keep = append(keep, x.Host)
		if !slices.Contains(have, x.Host) {
			add = append(add, x)
		}
	}
	for _, h := range have {
		if !slices.Contains(keep, h) {
			if err := network.DeleteLink(h); err != nil {
				return err
			}
		}
	}
	if len(add) > 0 {
		if err := network.Plumb(pid, add, tags); err != nil {
			return err
		}
	}
	if err := syncRoutes(v, vnics, pid); err != nil {
		return err
	}
	if err := network.ApplyFilter(v.UUID, vnics); err != nil {
		return err
	}
	if err := network.SetFlood(vnics); err != nil {
		return err
	}
	if err := applyIngress(v, vnics); err != nil {
		return err
	}
	if len(add) > 0 {
		// As at boot: the update returns once the new NICs carry frames.
		return network.Ready(pid, add)
	}
	return nil
}

// zoneLinks lists the VM's host links and filter chains, for leak
// checks.
func zoneLinks(uuid string) []string {
	return append(append(network.HostLinks(uuid), network.ChainsOf(uuid)...), bandwidthLinks(uuid)...)
}

// syncRoutes makes the zone's static routes its VM's routes property:
// at boot, and live on update (set_routes and remove_routes, and NICs a
// link route names coming or going).
func syncRoutes(v *vm.VM, vnics []network.VNIC, pid int) error {
	routes, err := network.Routes(v, vnics)
	if err != nil {
		return err
	}
	return network.SyncRoutes(pid, routes)
}
