// Package dhcp is hulld's DHCP server for managed networks: on the bridge
// of every managed network, it answers the NICs that hold an address
// assignment on that network (ips ["dhcp"] with a network_uuid) with that
// address, the network's gateway and the resolvers. MACs without an
// assignment get no answer, as with Triton's dhcpd, so the server can
// share a nic tag's wire with the site's own DHCP server.
//
// It answers from an address of the host: the one it holds on the bridge
// inside the network's subnet (a NAT network's gateway) or, on a network
// whose gateway is some other router, the host's own source address
// toward that gateway. Clients there renew by unicast to an address they
// may not reach on the bridge; the server answers them when they fall
// back to broadcasting (rebinding, at 7/8 of the lease).
package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"

	"hull/internal/network/dump"
	"hull/internal/network/managed"
)

// LeaseTime is what clients are told; they renew at half of it.
const LeaseTime = time.Hour

// Reply renders the answer, from the server at serverID, to a client's
// message on network n, whose assigned address is lease. It returns nil
// for messages that get no answer (release, decline, inform, and requests
// for another server's offer).
func Reply(n managed.Network, lease netip.Addr, serverID net.IP, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	var typ dhcpv4.MessageType
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		typ = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest:
		typ = dhcpv4.MessageTypeAck
		want := req.RequestedIPAddress()
		if want == nil || want.IsUnspecified() {
			want = req.ClientIPAddr
		}
		if sid := req.ServerIdentifier(); sid != nil && !sid.Equal(serverID) {
			return nil, nil // the client chose another server
		}
		if !want.Equal(lease.AsSlice()) {
			typ = dhcpv4.MessageTypeNak
		}
	default:
		return nil, nil
	}
	sid := serverID.To4()
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithServerIP(sid),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(sid)),
	}
	if typ != dhcpv4.MessageTypeNak {
		var dns []net.IP
		for _, r := range n.Resolvers {
			if ip := net.ParseIP(r).To4(); ip != nil {
				dns = append(dns, ip)
			}
		}
		mods = append(mods,
			dhcpv4.WithYourIP(lease.AsSlice()),
			dhcpv4.WithNetmask(net.CIDRMask(n.Prefix().Bits(), 32)),
			dhcpv4.WithLeaseTime(uint32(LeaseTime/time.Second)),
		)
		if gw := net.ParseIP(n.Gateway).To4(); gw != nil {
			mods = append(mods, dhcpv4.WithRouter(gw))
		}
		if len(dns) > 0 {
			mods = append(mods, dhcpv4.WithDNS(dns...))
		}
		if n.MTU != 0 {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{byte(n.MTU >> 8), byte(n.MTU)})))
		}
	}
	return dhcpv4.NewReplyFromRequest(req, mods...)
}

// ServerID is the host address the server answers network n from on the
// link ifname: an address of the link inside the network's subnet, else
// the source address the host uses toward the network's gateway (or its
// subnet), else any global address of the host.
func ServerID(n managed.Network, ifname string) (net.IP, error) {
	p := n.Prefix()
	if l, err := netlink.LinkByName(ifname); err == nil {
		addrs, _ := dump.Consistent(func() ([]netlink.Addr, error) { return netlink.AddrList(l, netlink.FAMILY_V4) })
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && p.Contains(ip) {
				return a.IP.To4(), nil
			}
		}
	}
	toward := net.IP(p.Addr().Next().AsSlice())
	if gw := net.ParseIP(n.Gateway); gw != nil {
		toward = gw
	}
	routes, _ := netlink.RouteGet(toward)
	for _, r := range routes {
		if src := r.Src.To4(); src != nil && !src.IsLoopback() {
			return src, nil
		}
	}
	// No route there: any address of the host's own.
	addrs, _ := dump.Consistent(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_V4) })
	for _, a := range addrs {
		if a.Scope == int(netlink.SCOPE_UNIVERSE) && !a.IP.IsLoopback() {
			return a.IP.To4(), nil
		}
	}
	return nil, fmt.Errorf("network %s: no address of the host to answer DHCP from on %s", n.Name, ifname)
}

// Server runs one listener per link that managed networks' NICs are on
// (a bridge, shared by every network on it), following the store as
// networks and links come and go.
type Server struct {
	Store *managed.Store
	// Bridge names the link a network's NICs are on.
	Bridge func(managed.Network) string
	Log    *slog.Logger
	// Rescan is how often the store is read again (default 2 s).
	Rescan time.Duration

	mu    sync.Mutex
	serve map[string]*listener // link name →
}

type listener struct {
	index int // the link's: a link made again under its name gets a new listener
	srv   *server4.Server
}

// Run serves until ctx ends. hulld starts it in a goroutine.
func (s *Server) Run(ctx context.Context) error {
	if s.Log == nil {
		s.Log = slog.Default()
	}
	every := s.Rescan
	if every == 0 {
		every = 2 * time.Second
	}
	s.serve = map[string]*listener{}
	defer s.closeAll()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.sync()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sync starts listeners on the links of new networks and stops those of
// links no network uses any more, or that were made again.
func (s *Server) sync() {
	nets, err := s.Store.List()
	if err != nil {
		s.Log.Warn("dhcp: networks", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]int{} // link → its index, 0 when it is not there
	for _, n := range nets {
		br := s.Bridge(n)
		if _, ok := want[br]; ok {
			continue
		}
		want[br] = 0
		if ifi, err := net.InterfaceByName(br); err == nil {
			want[br] = ifi.Index
		}
	}
	for br, l := range s.serve {
		if want[br] != l.index {
			l.srv.Close()
			delete(s.serve, br)
		}
	}
	for br, index := range want {
		if _, ok := s.serve[br]; ok || index == 0 {
			continue // serving, or not up yet: the next scan tries again
		}
		srv, err := server4.NewServer(br, nil, s.handler(br))
		if err != nil {
			s.Log.Warn("dhcp: listen", "link", br, "err", err)
			continue
		}
		s.serve[br] = &listener{index: index, srv: srv}
		go srv.Serve()
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for br, l := range s.serve {
		l.srv.Close()
		delete(s.serve, br)
	}
}

// errNoLease is a client no network on the link has an address for.
var errNoLease = errors.New("no address assigned")

// find returns the network on link br that holds an address for mac.
func (s *Server) find(br, mac string) (managed.Network, netip.Addr, error) {
	nets, err := s.Store.List()
	if err != nil {
		return managed.Network{}, netip.Addr{}, err
	}
	for _, n := range nets {
		if s.Bridge(n) != br {
			continue
		}
		leases, err := s.Store.Leases(n.UUID)
		if err != nil {
			return n, netip.Addr{}, err
		}
		if a, ok := leases[mac]; ok {
			return n, a, nil
		}
	}
	return managed.Network{}, netip.Addr{}, errNoLease
}

func (s *Server) handler(br string) server4.Handler {
	return func(conn net.PacketConn, peer net.Addr, req *dhcpv4.DHCPv4) {
		if req.OpCode != dhcpv4.OpcodeBootRequest {
			return
		}
		n, lease, err := s.find(br, req.ClientHWAddr.String())
		if err != nil {
			if !errors.Is(err, errNoLease) {
				s.Log.Warn("dhcp: leases", "link", br, "err", err)
			}
			return
		}
		sid, err := ServerID(n, br)
		if err != nil {
			s.Log.Warn("dhcp", "err", err)
			return
		}
		resp, err := Reply(n, lease, sid, req)
		if err != nil || resp == nil {
			if err != nil {
				s.Log.Warn("dhcp: reply", "err", err)
			}
			return
		}
		if _, err := conn.WriteTo(resp.ToBytes(), peer); err != nil {
			s.Log.Warn("dhcp: send", "to", fmt.Sprint(peer), "err", err)
		}
	}
}
