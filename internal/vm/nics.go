package vm

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// maxNicIPs and friends are SmartOS's limits per NIC.
const (
	maxNicIPs        = 20
	maxNicAllowedIPs = 13
	maxNicAllIPs     = 32
	maxNicCIDs       = 20
)

// entryMap converts a validated nics/filesystems entry into plain JSON
// values of the shapes the NIC and Filesystem structs hold.
func entryMap(coll string, o *object) map[string]any {
	m := make(map[string]any, len(o.keys))
	for _, k := range o.keys {
		v := o.vals[k]
		sp := subPropIndex[coll+".*."+k]
		if sp == nil || v == nil {
			continue
		}
		switch sp.Kind {
		case KindInt:
			if n, unset, ok := asInt(v); ok && !unset {
				m[k] = n
			}
		case KindBool:
			b, _ := asBool(v)
			m[k] = b
		case KindList:
			l, _ := asList(v)
			if k == "blocked_outgoing_ports" {
				ports := make([]int, 0, len(l))
				for _, s := range l {
					p, _ := strconv.Atoi(s)
					ports = append(ports, p)
				}
				m[k] = ports
				continue
			}
			m[k] = l
		default:
			if s, unset, ok := asString(v); ok && !unset {
				m[k] = s
			}
		}
	}
	return m
}

// compactJSON renders an entry as JSON.stringify would, for messages.
func compactJSON(o *object) string {
	b, err := json.Marshal(entryMap("nics", o))
	if err != nil {
		return "{}"
	}
	return string(b)
}

// upgradeNIC turns the deprecated ip/netmask/gateway forms into ips and
// gateways, then derives the representative IPv4 ip/netmask/gateway that
// older images read, as SmartOS stores both.
func upgradeNIC(n *NIC, raw *object) error {
	if n.Netmask != "" && !validNetmask(n.Netmask) {
		return fmt.Errorf("Specified netmask value is invalid: %s", n.Netmask)
	}
	if n.IP != "" && n.IPs == nil {
		switch {
		case isAutoconf(n.IP):
			n.IPs = []string{n.IP}
		case n.Netmask != "":
			n.IPs = []string{n.IP + "/" + strconv.Itoa(maskBits(n.Netmask))}
		default:
			return fmt.Errorf("Missing .netmask option for NIC: %s", compactJSON(raw))
		}
	}
	if n.Gateway != "" && n.Gateways == nil {
		n.Gateways = []string{n.Gateway}
	}
	representIPv4(n)
	return nil
}

// representIPv4 sets ip/netmask/gateway from the first IPv4 entries.
func representIPv4(n *NIC) {
	n.IP, n.Netmask, n.Gateway = "", "", ""
	for _, s := range n.IPs {
		if isAutoconf(s) {
			if n.IP == "" && s == "dhcp" {
				n.IP = s
			}
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			continue
		}
		n.IP = p.Addr().String()
		mask := uint32(0xffffffff) << (32 - p.Bits())
		if p.Bits() == 0 {
			mask = 0
		}
		n.Netmask = fmt.Sprintf("%d.%d.%d.%d", mask>>24, mask>>16&0xff, mask>>8&0xff, mask&0xff)
		break
	}
	for _, g := range n.Gateways {
		if validIPv4(g) {
			n.Gateway = g
			break
		}
	}
}

func validNetmask(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return false
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	return v == 0 || (^v)&(^v+1) == 0 // ones then zeros
}

func maskBits(s string) int {
	b := netip.MustParseAddr(s).As4()
	n := 0
	for _, x := range b {
		for ; x != 0; x <<= 1 {
			n++
		}
	}
	return n
}

// nicCheck carries SmartOS's cross-NIC checks through one payload.
type nicCheck struct {
	macs, ips, vrids []string
	primaries        int
}

// check runs the per-entry checks of SmartOS for an add_nics (add) or
// update_nics entry, in SmartOS's order and with its messages.
func (c *nicCheck) check(o *object, add bool) error {
	m := o.vals
	if v, ok := m["vrrp_vrid"]; ok && v != nil {
		id := fmt.Sprint(v)
		if slices.Contains(c.vrids, id) {
			return fmt.Errorf("Cannot add multiple NICs with the same VRID: %s", id)
		}
		c.vrids = append(c.vrids, id)
	}
	if mac, ok := m["mac"].(string); ok && add {
		mac = normalMAC(mac)
		if slices.Contains(c.macs, mac) {
			return fmt.Errorf("Cannot add multiple NICs with the same MAC: %s", mac)
		}
		c.macs = append(c.macs, mac)
	}
	if v, ok := m["primary"]; ok && v != nil {
		if b, _ := asBool(v); !b {
			if !add {
				return fmt.Errorf("invalid value for NIC's primary flag: %v (must be true)", v)
			}
		} else {
			c.primaries++
		}
	}
	if v, ok := m["gateways"]; ok && v != nil {
		l, _ := asList(v)
		for _, g := range l {
			if !validIPv4(g) {
				return fmt.Errorf("Static gateways must be IPv4 addresses: %s", g)
			}
		}
	}
	if v, ok := m["ips"]; ok && v != nil {
		l, _ := asList(v)
		if len(l) > maxNicIPs {
			return fmt.Errorf("nic.*.ips contains %d addresses, but is limited to %d", len(l), maxNicIPs)
		}
		for _, ip := range l {
			if isAutoconf(ip) {
				continue
			}
			if !validCIDR(ip) {
				return fmt.Errorf("Invalid IP for NIC: %s", compactJSON(o))
			}
			if slices.Contains(c.ips, ip) {
				return fmt.Errorf("Cannot add multiple NICs with the same IP: %s", ip)
			}
			c.ips = append(c.ips, ip)
		}
	}
	tag, _ := m["nic_tag"].(string)
	if add && !addNicTagRE.MatchString(tag) {
		return fmt.Errorf("invalid or missing .nic_tag option for NIC: %s", compactJSON(o))
	}
	if _, ok := m["nic_tag"]; !add && ok && !updNicTagRE.MatchString(tag) {
		return fmt.Errorf("invalid .nic_tag option for NIC: %s", compactJSON(o))
	}
	if v, ok := m["allowed_ips"]; ok && v != nil {
		l, _ := asList(v)
		if err := checkAllowedIPs(l); err != nil {
			return err
		}
	}
	if v, ok := m["allowed_dhcp_cids"]; ok && v != nil {
		l, _ := asList(v)
		if len(l) > maxNicCIDs {
			return fmt.Errorf("nics.*.allowed_dhcp_cids contains %d Client Identifiers, but is limited to %d", len(l), maxNicCIDs)
		}
		if len(strings.Join(l, ",")) >= 1024 {
			return errors.New("nics.*.allowed_dhcp_cids contains too many long Client Identifiers")
		}
	}
	return nil
}

func checkAllowedIPs(l []string) error {
	var bad []string
	for _, s := range l {
		if !validIP(s) && !validCIDR(s) {
			bad = append(bad, s)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("invalid allowed_ips: %s", strings.Join(bad, ", "))
	}
	if len(l) > maxNicAllowedIPs {
		return fmt.Errorf("Maximum of %d allowed_ips per nic", maxNicAllowedIPs)
	}
	return nil
}

// finalNICChecks checks the NIC list as it will be stored.
func finalNICChecks(nics []NIC, primaries int) error {
	onlyVRRP := true
	for _, n := range nics {
		if n.VRRPVRID != nil {
			if n.VRRPPrimaryIP == "" {
				return errors.New("vrrp_vrid set but not vrrp_primary_ip")
			}
		} else {
			onlyVRRP = false
		}
		extra := 0
		if n.VRRPPrimaryIP != "" {
			extra = 1
		}
		if len(n.AllowedIPs)+extra+len(n.IPs) > maxNicAllIPs {
			return errors.New("More than 32 IPs cannot be associated with a NIC")
		}
	}
	if onlyVRRP && len(nics) > 0 {
		return errors.New("VM cannot contain only VRRP nics")
	}
	if primaries > 1 {
		return errors.New("payload specifies more than 1 primary NIC")
	}
	return nil
}

// newNIC builds a NIC from a validated add entry, filling the MAC and
// interface that SmartOS generates. existing are the VM's other NICs.
func newNIC(uuid, brand string, o *object, existing []NIC) (NIC, error) {
	var n NIC
	b, err := json.Marshal(entryMap("nics", o))
	if err != nil {
		return n, fmt.Errorf("nic: %w", err)
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return n, fmt.Errorf("nic: %w", err)
	}
	if err := upgradeNIC(&n, o); err != nil {
		return n, err
	}
	switch {
	case n.VRRPVRID != nil:
		n.MAC = fmt.Sprintf("00:00:5e:00:01:%02x", *n.VRRPVRID)
	case n.MAC == "":
		n.MAC = GenerateMAC(uuid, existing)
	default:
		n.MAC = normalMAC(n.MAC)
	}
	if n.Interface == "" {
		n.Interface = nextInterface(brand, existing)
	}
	return n, nil
}

// GenerateMAC returns a locally administered MAC in SmartOS's style (the
// first octet ends in 2) derived from the VM uuid, so a given VM gets the
// same addresses every time, skipping any the VM already uses.
func GenerateMAC(uuid string, existing []NIC) string {
	for i := 0; ; i++ {
		h := sha256.Sum256([]byte(uuid + "/nic/" + strconv.Itoa(i)))
		first := (h[0]%15+1)<<4 | 0x2
		mac := fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", first, h[1], h[2], h[3], h[4], h[5])
		if !slices.ContainsFunc(existing, func(n NIC) bool { return n.MAC == mac }) {
			return mac
		}
	}
}

// nextInterface is the lowest free netN (ethN for lx).
func nextInterface(brand string, existing []NIC) string {
	prefix := brandNames[brand].nics
	if prefix == "" {
		prefix = "net"
	}
	for i := 0; ; i++ {
		name := prefix + strconv.Itoa(i)
		if !slices.ContainsFunc(existing, func(n NIC) bool { return n.Interface == name }) {
			return name
		}
	}
}

// choosePrimary picks a successor when the primary NIC is removed: the
// first NIC with a public IPv4, else the first with a private one.
func choosePrimary(nics []NIC) {
	for _, n := range nics {
		if n.Primary {
			return
		}
	}
	pick := -1
	for i, n := range nics {
		for _, c := range n.IPs {
			p, err := netip.ParsePrefix(c)
			if err != nil {
				continue
			}
			if !isPrivateIP(p.Addr().String()) {
				nics[i].Primary = true
				return
			}
			if pick < 0 {
				pick = i
			}
		}
	}
	if pick >= 0 {
		nics[pick].Primary = true
	}
}
