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
	disc, _ := dhcpv4.NewDiscovery(mac)
	offer, err := Reply(n, lease, disc)
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
	if ack, _ := Reply(n, lease, req); ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Errorf("request for the lease: %s", ack.MessageType())
	}
	bad, _ := dhcpv4.NewRequestFromOffer(offer, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.50.0.8"))))
	if nak, _ := Reply(n, lease, bad); nak.MessageType() != dhcpv4.MessageTypeNak || !nak.YourIPAddr.IsUnspecified() {
		t.Errorf("request for another address: %s", nak.Summary())
	}
	other, _ := dhcpv4.NewRequestFromOffer(offer, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.50.0.99"))))
	if r, _ := Reply(n, lease, other); r != nil {
		t.Error("answered a request meant for another server")
	}
	rel, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease))
	if r, _ := Reply(n, lease, rel); r != nil {
		t.Error("answered a release")
	}
}

// TestServeLease: a zone's DHCP client on a managed network gets the
// address assigned to its MAC; a MAC without one gets nothing.
func TestServeLease(t *testing.T) {
	testenv.RequireRoot(t)
	b := make([]byte, 1)
	rand.Read(b)
	s := managed.Open(t.TempDir(), nil)
	n, err := s.Create(managed.Network{Name: "dhcp", NicTag: "stub", Subnet: fmt.Sprintf("10.213.%d.0/24", b[0]), InternetNAT: true, Resolvers: []string{"192.0.2.53"}})
	if err != nil {
		t.Fatal(err)
	}
	bridge := nettest.Name("tdh")
	t.Cleanup(func() {
		managed.Down(n, bridge)
		if l, err := netlink.LinkByName(bridge); err == nil {
			netlink.LinkDel(l)
		}
	})
	if err := managed.Up(n, bridge); err != nil {
		t.Fatal(err)
	}
	br, _ := netlink.LinkByName(bridge)
	mac, stranger := "02:00:00:00:03:01", "02:00:00:00:03:02"
	v := &vm.VM{UUID: "6b9a0a57-3e64-4b29-9a4f-0c1d9a55a003", Nics: []vm.NIC{{MAC: mac, NetworkUUID: n.UUID, IPs: []string{"dhcp"}}}}
	if err := s.Assign(v); err != nil {
		t.Fatal(err)
	}
	want := n.Start
	z := nettest.NewZone(t, nettest.Name("tdhz"))
	z.Veth(t, br, nettest.Name("tdhh"), "net0", nettest.MAC(mac), "")
	z2 := nettest.NewZone(t, nettest.Name("tdhz"))
	z2.Veth(t, br, nettest.Name("tdhh"), "net0", nettest.MAC(stranger), "")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	srv := &Server{Store: s, Bridge: func(managed.Network) string { return bridge }, Rescan: 100 * time.Millisecond}
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(300 * time.Millisecond)

	var lease *nclient4.Lease
	err = z.Do(func() error {
		c, err := nclient4.New("net0", nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(3))
		if err != nil {
			return err
		}
		defer c.Close()
		lease, err = c.Request(context.Background())
		return err
	})
	if err != nil {
		t.Fatalf("dhcp request: %v", err)
	}
	ack := lease.ACK
	if ack.YourIPAddr.String() != want || ack.Router()[0].String() != n.Gateway || ack.DNS()[0].String() != "192.0.2.53" {
		t.Errorf("ack: %s", ack.Summary())
	}
	err = z2.Do(func() error {
		c, err := nclient4.New("net0", nclient4.WithTimeout(500*time.Millisecond), nclient4.WithRetry(1))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Request(context.Background())
		return err
	})
	if err == nil {
		t.Error("a MAC without an assignment got a lease")
	}
}
