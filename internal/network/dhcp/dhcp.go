// Package dhcp is hulld's DHCP server for managed networks: on the bridge
// of every network whose gateway is the host, it answers the NICs that
// hold an address assignment on that network (ips ["dhcp"] with a
// network_uuid) with that address, the gateway and the resolvers. MACs
// without an assignment get no answer, as with Triton's dhcpd.
package dhcp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"

	"hull/internal/network/managed"
)

// LeaseTime is what clients are told; they renew at half of it.
const LeaseTime = time.Hour

// Reply renders the answer to a client's message on network n, whose
// assigned address is lease. It returns nil for messages that get no
// answer (release, decline, inform from strangers).
func Reply(n managed.Network, lease netip.Addr, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
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
		if sid := req.ServerIdentifier(); sid != nil && !sid.Equal(net.ParseIP(n.Gateway)) {
			return nil, nil // the client chose another server
		}
		if !want.Equal(lease.AsSlice()) {
			typ = dhcpv4.MessageTypeNak
		}
	default:
		return nil, nil
	}
	gw := net.ParseIP(n.Gateway).To4()
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithServerIP(gw),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(gw)),
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
			dhcpv4.WithRouter(gw),
			dhcpv4.WithLeaseTime(uint32(LeaseTime/time.Second)),
		)
		if len(dns) > 0 {
			mods = append(mods, dhcpv4.WithDNS(dns...))
		}
		if n.MTU != 0 {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{byte(n.MTU >> 8), byte(n.MTU)})))
		}
	}
	return dhcpv4.NewReplyFromRequest(req, mods...)
}

// Server runs one listener per managed network whose gateway the host
// holds, following the store as networks come and go.
type Server struct {
	Store *managed.Store
	// Bridge names the bridge a network's NICs are on.
	Bridge func(managed.Network) string
	Log    *slog.Logger
	// Rescan is how often the store is read again (default 2 s).
	Rescan time.Duration

	mu    sync.Mutex
	serve map[string]*listener // network uuid →
}

type listener struct {
	bridge string
	srv    *server4.Server
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

// sync starts listeners for new networks and stops those of networks
// that are gone or whose bridge changed.
func (s *Server) sync() {
	nets, err := s.Store.List()
	if err != nil {
		s.Log.Warn("dhcp: networks", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]managed.Network{}
	for _, n := range nets {
		if n.HostHoldsGateway() {
			want[n.UUID] = n
		}
	}
	for id, l := range s.serve {
		if n, ok := want[id]; !ok || s.Bridge(n) != l.bridge {
			l.srv.Close()
			delete(s.serve, id)
		}
	}
	for id, n := range want {
		if _, ok := s.serve[id]; ok {
			continue
		}
		br := s.Bridge(n)
		if _, err := net.InterfaceByName(br); err != nil {
			continue // not up yet: the next scan tries again
		}
		srv, err := server4.NewServer(br, nil, s.handler(n.UUID))
		if err != nil {
			s.Log.Warn("dhcp: listen", "network", n.Name, "bridge", br, "err", err)
			continue
		}
		s.serve[id] = &listener{bridge: br, srv: srv}
		go srv.Serve()
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, l := range s.serve {
		l.srv.Close()
		delete(s.serve, id)
	}
}

func (s *Server) handler(network string) server4.Handler {
	return func(conn net.PacketConn, peer net.Addr, req *dhcpv4.DHCPv4) {
		if req.OpCode != dhcpv4.OpcodeBootRequest {
			return
		}
		n, err := s.Store.Get(network)
		if err != nil {
			return
		}
		leases, err := s.Store.Leases(network)
		if err != nil {
			s.Log.Warn("dhcp: leases", "network", n.Name, "err", err)
			return
		}
		lease, ok := leases[req.ClientHWAddr.String()]
		if !ok {
			return
		}
		resp, err := Reply(n, lease, req)
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
