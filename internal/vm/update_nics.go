package vm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
)

// updateNICs applies update_nics, remove_nics and add_nics (in SmartOS's
// order) to next, with SmartOS's checks. cur is the VM before the update.
func updateNICs(next, cur *VM, p *object) error {
	adds, _ := p.vals["add_nics"].([]any)
	updates, _ := p.vals["update_nics"].([]any)
	removes, _ := asList(p.vals["remove_nics"])
	if len(adds) == 0 && len(updates) == 0 && len(removes) == 0 {
		return nil
	}
	var c nicCheck
	updatedIPs := map[string]bool{}
	for _, el := range updates {
		o := el.(*object)
		if mac, ok := o.vals["mac"].(string); ok && o.has("ips") {
			updatedIPs[normalMAC(mac)] = true
		}
	}
	for _, n := range cur.Nics {
		c.macs = append(c.macs, n.MAC)
		if n.VRRPVRID != nil {
			c.vrids = append(c.vrids, strconv.Itoa(*n.VRRPVRID))
		}
		if updatedIPs[n.MAC] {
			continue
		}
		for _, ip := range n.IPs {
			if !isAutoconf(ip) {
				c.ips = append(c.ips, ip)
			}
		}
	}
	for _, el := range adds {
		if err := c.check(el.(*object), true); err != nil {
			return err
		}
	}
	for _, el := range updates {
		if err := c.check(el.(*object), false); err != nil {
			return err
		}
	}

	newPrimary := ""
	for _, el := range updates {
		o := el.(*object)
		mac, ok := o.vals["mac"].(string)
		if !ok {
			return errors.New("NIC object needs a .mac property to update")
		}
		mac = normalMAC(mac)
		i := slices.IndexFunc(next.Nics, func(n NIC) bool { return n.MAC == mac })
		if i < 0 {
			return errors.New("There is no existing NIC with that mac address")
		}
		if err := updateNIC(&next.Nics[i], o); err != nil {
			return err
		}
		if next.Nics[i].Primary {
			newPrimary = mac
		}
	}
	removedPrimary := false
	for _, mac := range removes {
		mac = normalMAC(mac)
		i := slices.IndexFunc(next.Nics, func(n NIC) bool { return n.MAC == mac })
		if i < 0 {
			// SmartOS warns and skips unknown MACs.
			continue
		}
		removedPrimary = removedPrimary || next.Nics[i].Primary
		next.Nics = slices.Delete(next.Nics, i, i+1)
	}
	for _, el := range adds {
		n, err := newNIC(next.UUID, next.Brand, el.(*object), next.Nics)
		if err != nil {
			return err
		}
		if n.Primary {
			newPrimary = n.MAC
		}
		next.Nics = append(next.Nics, n)
	}
	if newPrimary != "" {
		// One primary: the new one takes the flag from the others.
		for i := range next.Nics {
			next.Nics[i].Primary = next.Nics[i].MAC == newPrimary
		}
	} else if removedPrimary {
		choosePrimary(next.Nics)
	}
	if next.Nics == nil {
		next.Nics = []NIC{}
	}
	return finalNICChecks(next.Nics, c.primaries)
}

// updateNIC changes the updatable properties of n from an update_nics
// entry; mac is the identity and interface is fixed at creation.
func updateNIC(n *NIC, o *object) error {
	m := entryMap("nics", o)
	delete(m, "mac")
	delete(m, "interface")
	if p, ok := m["primary"]; ok && p == false {
		delete(m, "primary")
	}
	_, hasIPs := m["ips"]
	ip, hasIP := m["ip"].(string)
	mask, hasMask := m["netmask"].(string)
	delete(m, "ip")
	delete(m, "netmask")
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("update nic %s: %w", n.MAC, err)
	}
	if err := json.Unmarshal(b, n); err != nil {
		return fmt.Errorf("update nic %s: %w", n.MAC, err)
	}
	if !hasIPs && (hasIP || hasMask) {
		// The deprecated single-address forms change the one IPv4.
		if hasMask && !validNetmask(mask) {
			return fmt.Errorf("Specified netmask value is invalid: %s", mask)
		}
		switch {
		case hasIP && isAutoconf(ip):
			n.IPs = []string{ip}
		default:
			curIP, curMask, ok := singleIPv4(n)
			if !hasIP {
				if !ok {
					return errors.New("Need a single existing IPv4 address to update .ip or .netmask")
				}
				ip = curIP
			}
			if !hasMask {
				if curMask == "" {
					return errors.New("Updating IP address of NIC, but there is currently no specified netmask")
				}
				mask = curMask
			}
			n.IPs = []string{ip + "/" + strconv.Itoa(maskBits(mask))}
		}
	}
	if g, ok := m["gateway"].(string); ok {
		if _, has := m["gateways"]; !has {
			n.Gateways = []string{g}
		}
	}
	representIPv4(n)
	return nil
}

// singleIPv4 returns the NIC's only IPv4 address and its netmask.
func singleIPv4(n *NIC) (ip, mask string, ok bool) {
	if len(n.IPs) != 1 {
		return "", "", false
	}
	p, err := netip.ParsePrefix(n.IPs[0])
	if err != nil || !p.Addr().Is4() {
		return "", "", false
	}
	return p.Addr().String(), n.Netmask, true
}
