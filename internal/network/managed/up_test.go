package managed

import (
	"crypto/rand"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"hull/internal/network/nettest"
	"hull/internal/testenv"
)

// listenIn listens on addr inside a zone (nil: on the host) and reports
// the source address of the first connection.
func listenIn(t *testing.T, z *nettest.Zone, addr string) <-chan string {
	t.Helper()
	var ln net.Listener
	listen := func() (err error) { ln, err = net.Listen("tcp4", addr); return }
	var err error
	if z != nil {
		err = z.Do(listen)
	} else {
		err = listen()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	from := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		from <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		c.Close()
	}()
	return from
}

func dialFrom(z *nettest.Zone, addr string) error {
	return z.Do(func() error {
		c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// TestNATReachesHostAndBeyond: a zone on a NAT network reaches the host
// at its gateway, and a network outside, which sees the host's address.
func TestNATReachesHostAndBeyond(t *testing.T) {
	testenv.RequireRoot(t)
	b := make([]byte, 1)
	rand.Read(b)
	inner, outer := fmt.Sprintf("10.211.%d", b[0]), fmt.Sprintf("10.212.%d", b[0])
	n := Network{Name: "nattest", NicTag: "x", Subnet: inner + ".0/24", InternetNAT: true}
	if err := Normalize(&n, nil); err != nil {
		t.Fatal(err)
	}
	bridge := nettest.Name("tnat")
	t.Cleanup(func() {
		Down(n, bridge)
		if l, err := netlink.LinkByName(bridge); err == nil {
			netlink.LinkDel(l)
		}
	})
	if err := Up(n, bridge); err != nil {
		t.Fatal(err)
	}
	if err := Up(n, bridge); err != nil {
		t.Fatalf("Up again: %v", err)
	}
	br, _ := netlink.LinkByName(bridge)
	addr, _ := Allocate(n, nil)
	z := nettest.NewZone(t, nettest.Name("tnatz"))
	z.Veth(t, br, nettest.Name("tnath"), "net0", nettest.MAC("02:00:00:00:02:01"), n.CIDR(addr))
	if err := z.Do(func() error {
		return netlink.RouteAdd(&netlink.Route{Gw: net.ParseIP(n.Gateway)})
	}); err != nil {
		t.Fatal(err)
	}
	// The outside: a namespace on its own link, with no route back to
	// the zone's subnet.
	out := nettest.NewZone(t, nettest.Name("tnato"))
	outBr := nettest.Bridge(t, nettest.Name("tnatb"))
	if err := netlink.AddrAdd(outBr, mustAddr(outer+".1/24")); err != nil {
		t.Fatal(err)
	}
	out.Veth(t, outBr, nettest.Name("tnath"), "eth0", nettest.MAC("02:00:00:00:02:02"), outer+".2/24")

	hl := listenIn(t, nil, n.Gateway+":7311")
	if err := dialFrom(z, n.Gateway+":7311"); err != nil {
		t.Fatalf("zone to host: %v", err)
	}
	if got := <-hl; got != addr.String() {
		t.Errorf("host saw %s, want the zone's %s", got, addr)
	}
	ol := listenIn(t, out, outer+".2:7312")
	if err := dialFrom(z, outer+".2:7312"); err != nil {
		t.Fatalf("zone to outside: %v", err)
	}
	if got := <-ol; got != outer+".1" {
		t.Errorf("outside saw %s, want the host's %s.1 (masqueraded)", got, outer)
	}
	if err := Down(n, bridge); err != nil {
		t.Fatal(err)
	}
	c := &nftables.Conn{}
	if _, err := c.ListTableOfFamily(NATTable(n), nftables.TableFamilyIPv4); err == nil {
		t.Error("nat table left after Down")
	}
	if err := Down(n, bridge); err != nil {
		t.Errorf("Down again: %v", err)
	}
}

func mustAddr(s string) *netlink.Addr {
	a, err := netlink.ParseAddr(s)
	if err != nil {
		panic(err)
	}
	return a
}
