package dhcp

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"

	"hull/internal/network/managed"
	"hull/internal/network/nettest"
	"hull/internal/testenv"
	"hull/internal/vm"
)

func testNet() managed.Network {
	n := managed.Network{Name: "d", NicTag: "stub", Subnet: "10.50.0.0/24", InternetNAT: true, Resolvers: []string{"10.50.0.53"}, MTU: 1400}
	if err := managed.Normalize(&n, nil); err != nil {
		panic(err)
	}
	return n
}

func TestReply(t *testing.T) {
	n := testNet()
	lease := netip.MustParseAddr("10.50.0.7")
	mac := nettest.MAC("02:00:00:00:00:07")
	sid := net.ParseIP("10.50.0.1")
	disc, _ := dhcpv4.NewDiscovery(mac)
	offer, err := Reply(n, lease, sid, disc)
	if err != nil || offer == nil {
		t.Fatal(err)
	}
	if offer.MessageType() != dhcpv4.MessageTypeOffer || !offer.YourIPAddr.Equal(net.ParseIP("10.50.0.7")) ||
		!offer.Router()[0].Equal(net.ParseIP("10.50.0.1")) || !offer.DNS()[0].Equal(net.ParseIP("10.50.0.53")) ||
		offer.SubnetMask().String() != "ffffff00" || !offer.ServerIdentifier().Equal(net.ParseIP("10.50.0.1")) ||
		offer.IPAddressLeaseTime(0) != LeaseTime {
		t.Errorf("offer: %s", offer.Summary())
	}
	req, _ := dhcpv4.NewRequestFromOffer(offer)
	if ack, _ := Reply(n, lease, sid, req); ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Errorf("request for the lease: %s", ack.MessageType())
	}
	bad, _ := dhcpv4.NewRequestFromOffer(offer, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.50.0.8"))))
	if nak, _ := Reply(n, lease, sid, bad); nak.MessageType() != dhcpv4.MessageTypeNak || !nak.YourIPAddr.IsUnspecified() {
		t.Errorf("request for another address: %s", nak.Summary())
	}
	other, _ := dhcpv4.NewRequestFromOffer(offer, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.50.0.99"))))
	if r, _ := Reply(n, lease, sid, other); r != nil {
		t.Error("answered a request meant for another server")
	}
	rel, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease))
	if r, _ := Reply(n, lease, sid, rel); r != nil {
		t.Error("answered a release")
	}
	// A network whose gateway is another router: the server answers from
	// its own address and names the router.
	far := net.ParseIP("192.0.2.2")
	offer, _ = Reply(n, lease, far, disc)
	if !offer.ServerIdentifier().Equal(far) || !offer.Router()[0].Equal(net.ParseIP("10.50.0.1")) {
		t.Errorf("offer from another address: %s", offer.Summary())
	}
	req, _ = dhcpv4.NewRequestFromOffer(offer)
	if ack, _ := Reply(n, lease, far, req); ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Errorf("request to the server's own address: %v", ack)
	}
	n.Gateway = ""
	if offer, _ = Reply(n, lease, far, disc); len(offer.Router()) != 0 {
		t.Errorf("router option on a network without a gateway: %s", offer.Summary())
	}
}

// TestServeLease: zones' DHCP clients on two managed networks that share
// a bridge — one whose gateway is the host (NAT), one whose gateway is
// another router — each get the address assigned to their MAC, with
// their network's gateway as router; a MAC without an assignment gets
// nothing.
func TestServeLease(t *testing.T) {
	testenv.RequireRoot(t)
	b := make([]byte, 1)
	rand.Read(b)
	s := managed.Open(t.TempDir(), nil)
	nat, err := s.Create(managed.Network{Name: "dhcp", NicTag: "stub", Subnet: fmt.Sprintf("10.213.%d.0/24", b[0]), InternetNAT: true, Resolvers: []string{"192.0.2.53"}})
	if err != nil {
		t.Fatal(err)
	}
	routed, err := s.Create(managed.Network{Name: "routed", NicTag: "stub", Subnet: fmt.Sprintf("10.214.%d.0/24", b[0]), Gateway: fmt.Sprintf("10.214.%d.1", b[0])})
	if err != nil {
		t.Fatal(err)
	}
	bridge := nettest.Name("tdh")
	t.Cleanup(func() {
		managed.Down(nat, bridge)
		if l, err := netlink.LinkByName(bridge); err == nil {
			netlink.LinkDel(l)
		}
	})
	if err := managed.Up(nat, bridge); err != nil {
		t.Fatal(err)
	}
	br, _ := netlink.LinkByName(bridge)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	srv := &Server{Store: s, Bridge: func(managed.Network) string { return bridge }, Rescan: 100 * time.Millisecond}
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	for i, c := range []struct {
		net    managed.Network
		server string // the server identifier the client is given
	}{
		{nat, nat.Gateway},
		{routed, hostAddress(t, routed.Gateway)},
	} {
		mac := fmt.Sprintf("02:00:00:00:03:%02x", i+1)
		v := &vm.VM{UUID: "6b9a0a57-3e64-4b29-9a4f-0c1d9a55a003", Nics: []vm.NIC{{MAC: mac, NetworkUUID: c.net.UUID, IPs: []string{"dhcp"}}}}
		if err := s.Assign(v); err != nil {
			t.Fatal(err)
		}
		z := nettest.NewZone(t, nettest.Name("tdhz"))
		z.Veth(t, br, nettest.Name("tdhh"), "net0", nettest.MAC(mac), "")
		lease, err := request(z, 3)
		if err != nil {
			t.Fatalf("%s: dhcp request: %v", c.net.Name, err)
		}
		ack := lease.ACK
		if ack.YourIPAddr.String() != c.net.Start || ack.Router()[0].String() != c.net.Gateway || ack.ServerIdentifier().String() != c.server {
			t.Errorf("%s: ack %s, want %s router %s from %s", c.net.Name, ack.Summary(), c.net.Start, c.net.Gateway, c.server)
		}
	}
	z := nettest.NewZone(t, nettest.Name("tdhz"))
	z.Veth(t, br, nettest.Name("tdhh"), "net0", nettest.MAC("02:00:00:00:03:09"), "")
	if _, err := request(z, 1); err == nil {
		t.Error("a MAC without an assignment got a lease")
	}
}

// request runs a DHCP client on the zone's net0.
func request(z *nettest.Zone, tries int) (*nclient4.Lease, error) {
	var lease *nclient4.Lease
	err := z.Do(func() error {
		c, err := nclient4.New("net0", nclient4.WithTimeout(time.Second), nclient4.WithRetry(tries))
		if err != nil {
			return err
		}
		defer c.Close()
		lease, err = c.Request(context.Background())
		return err
	})
	return lease, err
}

// hostAddress is the host's source address toward ip.
func hostAddress(t *testing.T, ip string) string {
	t.Helper()
	routes, err := netlink.RouteGet(net.ParseIP(ip))
	if err != nil || len(routes) == 0 || routes[0].Src == nil {
		t.Fatalf("no route to %s from the host: %v", ip, err)
	}
	return routes[0].Src.String()
}
