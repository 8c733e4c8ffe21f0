package vm

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
)

var (
	routeNicRE = newLazyRE(`^nics\[(\d+)\]$`)
	routeMacRE = newLazyRE(`^macs\[(.+)\]$`)
)

// checkRoutes checks static routes against the NICs they will use:
// destinations are IPv4 addresses or CIDRs; gateways are IPv4 addresses
// or link-local references nics[N] / macs[MAC] to a NIC with a static IP.
func checkRoutes(routes map[string]string, nics []NIC) error {
	for _, dst := range slices.Sorted(maps.Keys(routes)) {
		gw := routes[dst]
		if !validIPv4(dst) && !validCIDRv4(dst) {
			return fmt.Errorf("Invalid route destination: %q (must be IP address or CIDR)", dst)
		}
		if validIPv4(gw) {
			continue
		}
		isNic, ok := localRoute(gw, nics)
		if ok {
			continue
		}
		if isNic {
			return fmt.Errorf("Route gateway: %q refers to non-existent or DHCP nic", gw)
		}
		return fmt.Errorf("Invalid route gateway: %q (must be IP address, MAC address, or nic)", gw)
	}
	return nil
}

func validCIDRv4(s string) bool {
	p, err := netip.ParsePrefix(s)
	return err == nil && p.Addr().Is4()
}

// localRoute resolves nics[N] or macs[MAC]: isNic reports the syntax
// matched, ok that the NIC exists and has a static address.
func localRoute(gw string, nics []NIC) (isNic, ok bool) {
	idx := -1
	if m := routeMacRE.FindStringSubmatch(gw); m != nil {
		if !validMAC(m[1]) {
			return false, false
		}
		mac := normalMAC(m[1])
		for i, n := range nics {
			if n.MAC == mac {
				idx = i
			}
		}
	} else if m := routeNicRE.FindStringSubmatch(gw); m != nil {
		idx, _ = strconv.Atoi(m[1])
	} else {
		return false, false
	}
	if idx < 0 || idx >= len(nics) {
		return true, false
	}
	for _, ip := range nics[idx].IPs {
		if !isAutoconf(ip) {
			return true, true
		}
	}
	return true, false
}
