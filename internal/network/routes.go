package network

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"hull/internal/network/dump"
	"hull/internal/vm"
)

// Route is one of a VM's static routes (its routes property) as it is
// installed in the zone: through a gateway, or on a NIC's link when the
// gateway names a NIC (nics[N], macs[MAC]).
type Route struct {
	Dst  *net.IPNet
	Gw   net.IP // nil for a link route
	Link string // the zone's interface, for a link route
}

func (r Route) String() string {
	if r.Gw == nil {
		return r.Dst.String() + " dev " + r.Link
	}
	return r.Dst.String() + " via " + r.Gw.String()
}

var (
	routeNicRE = regexp.MustCompile(`^nics\[(\d+)\]$`)
	routeMacRE = regexp.MustCompile(`^macs\[(.+)\]$`)
)

// Routes renders the VM's routes (checked by vm at create and update),
// sorted by destination, for its plumbed VNICs.
func Routes(v *vm.VM, vnics []VNIC) ([]Route, error) {
	dsts := make([]string, 0, len(v.Routes))
	for d := range v.Routes {
		dsts = append(dsts, d)
	}
	sort.Strings(dsts)
	var out []Route
	for _, d := range dsts {
		gw := v.Routes[d]
		if !strings.Contains(d, "/") {
			d += "/32"
		}
		_, dst, err := net.ParseCIDR(d)
		if err != nil {
			return nil, fmt.Errorf("route %s: bad destination", d)
		}
		if ip := net.ParseIP(gw); ip != nil {
			out = append(out, Route{Dst: dst, Gw: ip})
			continue
		}
		idx := -1
		if m := routeNicRE.FindStringSubmatch(gw); m != nil {
			idx, _ = strconv.Atoi(m[1])
		} else if m := routeMacRE.FindStringSubmatch(gw); m != nil {
			mac, ok := NormalMAC(m[1])
			if !ok {
				return nil, fmt.Errorf("route %s: bad gateway %q", d, gw)
			}
			for i, x := range vnics {
				if x.MAC.String() == mac {
					idx = i
				}
			}
		}
		if idx < 0 || idx >= len(vnics) {
			return nil, fmt.Errorf("route %s: gateway %q is no NIC of the VM", d, gw)
		}
		out = append(out, Route{Dst: dst, Link: vnics[idx].Zone})
	}
	return out, nil
}

// RouteProtocol marks the routes hull installs in a zone (the routing
// protocol field of each route, as "proto" in ip-route(8)): SyncRoutes
// tells them from the kernel's, DHCP's and those the zone's own
// administrator adds, and removes only its own.
const RouteProtocol netlink.RouteProtocol = 104

// SyncRoutes makes the routes hull installed in the zone whose init is
// pid the given ones: each is added or replaced (a route to the same
// destination gives way), and hull's routes to other destinations are
// removed. Idempotent; live on update (set_routes, remove_routes).
func SyncRoutes(pid int, routes []Route) error {
	_, h, done, err := inZone(pid)
	if err != nil {
		return err
	}
	defer done()
	var errs []error
	want := map[string]bool{}
	for _, r := range routes {
		want[r.Dst.String()] = true
		nr := &netlink.Route{Dst: r.Dst, Gw: r.Gw, Protocol: RouteProtocol}
		if r.Gw == nil {
			l, err := h.LinkByName(r.Link)
			if err != nil {
				errs = append(errs, fmt.Errorf("route %s: %w", r, err))
				continue
			}
			nr.LinkIndex, nr.Scope = l.Attrs().Index, netlink.SCOPE_LINK
		}
		if err := h.RouteReplace(nr); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("route %s: %w", r, err))
		}
	}
	have, err := dump.Consistent(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Protocol: RouteProtocol}, netlink.RT_FILTER_PROTOCOL)
	})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("zone routes: %w", err))...)
	}
	for _, r := range have {
		if r.Dst != nil && !want[r.Dst.String()] {
			if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("remove route %s: %w", r.Dst, err))
			}
		}
	}
	return errors.Join(errs...)
}

// NormalMAC reads a MAC as SmartOS writes it, leading zeros optional
// (2:8:20:a:b:c), in Go's form (02:08:20:0a:0b:0c).
func NormalMAC(s string) (string, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return "", false
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 16, 8)
		if err != nil || len(p) == 0 || len(p) > 2 {
			return "", false
		}
		parts[i] = fmt.Sprintf("%02x", n)
	}
	return strings.Join(parts, ":"), true
}
