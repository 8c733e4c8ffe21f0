// Package wire checks the anti-spoofing filter on the wire: a zone (a
// network namespace plumbed as the node plumbs zones) sends forged frames
// through a raw socket, and a raw-socket listener in its neighbour sees
// whether they arrive — before and after the matching allow_* update.
package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"hull/internal/network"
	"hull/internal/network/bw"
	"hull/internal/network/nettest"
	"hull/internal/testenv"
	"hull/internal/vm"
)

// zone is a plumbed namespace with a raw socket on its net0.
type zone struct {
	*nettest.Zone
	vm  *vm.VM
	pid int
	fd  int
	idx int
	mac net.HardwareAddr
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func newZone(t *testing.T, stub, cidr string) *zone {
	t.Helper()
	return newVLANZone(t, stub, cidr, 0)
}

// newVLANZone is newZone with its NIC on VLAN vid of the tag.
func newVLANZone(t *testing.T, stub, cidr string, vid int) *zone {
	t.Helper()
	v := &vm.VM{UUID: uuid.NewString(), Brand: "joyent-minimal", Nics: []vm.NIC{{NicTag: stub, IPs: []string{cidr}, Interface: "net0", Primary: true, VlanID: &vid}}}
	v.Nics[0].MAC = vm.GenerateMAC(v.UUID, nil)
	z := &zone{Zone: nettest.NewZone(t, nettest.Name("wz")), vm: v}
	c := z.Command("sleep", "600")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	time.Sleep(50 * time.Millisecond)
	z.pid = c.Process.Pid
	t.Cleanup(func() { network.Unplumb(v.UUID); network.RemoveFilter(v.UUID) })
	tags := network.Tags{Uplinks: map[string]string{}, Etherstubs: map[string]bool{stub: true}}
	vnics, err := network.Plan(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := network.Plumb(c.Process.Pid, vnics, tags); err != nil {
		t.Fatal(err)
	}
	z.apply(t)
	// As a boot does: frames go out only once the links are up.
	if err := network.Ready(c.Process.Pid, vnics); err != nil {
		t.Fatal(err)
	}
	err = z.Do(func() error {
		l, err := netlink.LinkByName("net0")
		if err != nil {
			return err
		}
		z.idx, z.mac = l.Attrs().Index, l.Attrs().HardwareAddr
		z.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		if err := unix.Bind(z.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: z.idx}); err != nil {
			return err
		}
		return unix.SetsockoptTimeval(z.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50000})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(z.fd) })
	return z
}

// apply renders the zone's VM into its filter again (a live update).
func (z *zone) apply(t *testing.T) {
	t.Helper()
	vnics, err := network.Plan(z.vm)
	if err != nil {
		t.Fatal(err)
	}
	if err := network.ApplyFilter(z.vm.UUID, vnics); err != nil {
		t.Fatal(err)
	}
	if err := network.GuardDHCP(vnics); err != nil {
		t.Fatal(err)
	}
}

func (z *zone) send(t *testing.T, frame []byte) {
	t.Helper()
	if err := unix.Sendto(z.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: z.idx, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}); err != nil {
		t.Fatal(err)
	}
}

// drain forgets what the socket has received so far.
func (z *zone) drain() {
	buf := make([]byte, 65536)
	for {
		if n, _, err := unix.Recvfrom(z.fd, buf, unix.MSG_DONTWAIT); err != nil || n < 0 {
			return
		}
	}
}

// saw tells whether a frame containing marker arrives within 300 ms.
func (z *zone) saw(marker []byte) bool {
	buf := make([]byte, 65536)
	end := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(end) {
		n, _, err := unix.Recvfrom(z.fd, buf, 0)
		if err == nil && n > 0 && bytes.Contains(buf[:n], marker) {
			return true
		}
	}
	return false
}

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func ether(dst, src net.HardwareAddr, typ uint16, payload []byte) []byte {
	b := append(append(append([]byte{}, dst...), src...), byte(typ>>8), byte(typ))
	return append(b, payload...)
}

func udp4(src, dst net.IP, sport, dport uint16, payload []byte) []byte {
	u := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	u = append(u, payload...)
	h := make([]byte, 20)
	h[0], h[8], h[9] = 0x45, 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(u)))
	copy(h[12:], src.To4())
	copy(h[16:], dst.To4())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
	return append(h, u...)
}

// dhcpDiscover is a DHCPv4 discover from chaddr with the options opts.
func dhcpDiscover(chaddr net.HardwareAddr, opts []byte) []byte {
	b := make([]byte, 240)
	b[0], b[1], b[2] = 1, 1, 6 // BOOTREQUEST, ethernet, 6-byte address
	copy(b[28:], chaddr)
	copy(b[236:], []byte{99, 130, 83, 99})
	b = append(b, 53, 1, 1) // DHCPDISCOVER
	return append(append(b, opts...), 255)
}

// arpReply is a gratuitous ARP: sender (sha, spa) announced to all.
func arpReply(sha net.HardwareAddr, spa net.IP) []byte {
	b := []byte{0, 1, 8, 0, 6, 4, 0, 2}
	b = append(append(b, sha...), spa.To4()...)
	return append(append(b, broadcast...), spa.To4()...)
}

func TestForgedFramesDroppedThenAllowed(t *testing.T) {
	testenv.RequireRoot(t)
	stub := nettest.Name("ws")
	removeLinks(t, stub)
	a := newZone(t, stub, "10.230.0.2/24")
	b := newZone(t, stub, "10.230.0.3/24")
	ipA, ipB := net.ParseIP("10.230.0.2"), net.ParseIP("10.230.0.3")
	forged := net.ParseIP("10.230.0.99")
	fakeMAC := net.HardwareAddr{0x02, 0xde, 0xad, 0xbe, 0xef, 0x01}
	nic := &a.vm.Nics[0]

	cases := []struct {
		name  string
		frame func(marker []byte) []byte
		allow func(bool)
	}{
		{"honest frame", func(m []byte) []byte {
			return ether(broadcast, a.mac, 0x0800, udp4(ipA, ipB, 5000, 5001, m))
		}, nil},
		{"forged source IP", func(m []byte) []byte {
			return ether(broadcast, a.mac, 0x0800, udp4(forged, ipB, 5000, 5001, m))
		}, func(on bool) { nic.AllowIPSpoofing = on }},
		{"allowed_ips", func(m []byte) []byte {
			return ether(broadcast, a.mac, 0x0800, udp4(forged, ipB, 5000, 5001, m))
		}, func(on bool) {
			nic.AllowedIPs = nil
			if on {
				nic.AllowedIPs = []string{"10.230.0.96/30"}
			}
		}},
		{"forged MAC", func(m []byte) []byte {
			return ether(broadcast, fakeMAC, 0x0800, udp4(ipA, ipB, 5000, 5001, m))
		}, func(on bool) { nic.AllowMACSpoofing = on }},
		{"gratuitous ARP for another's address", func(m []byte) []byte {
			return ether(broadcast, a.mac, 0x0806, arpReply(a.mac, ipB))
		}, func(on bool) { nic.AllowIPSpoofing = on }},
		{"DHCP offer", func(m []byte) []byte {
			return ether(broadcast, a.mac, 0x0800, udp4(ipA, net.IPv4bcast, 67, 68, m))
		}, func(on bool) { nic.AllowDHCPSpoofing = on }},
		{"honest DHCP discover", func(m []byte) []byte {
			return ether(broadcast, a.mac, 0x0800, udp4(net.IPv4zero, net.IPv4bcast, 68, 67, dhcpDiscover(a.mac, opt(224, m))))
		}, nil},
		{"DHCP discover for another's hardware address", func(m []byte) []byte {
			return ether(broadcast, a.mac, 0x0800, udp4(net.IPv4zero, net.IPv4bcast, 68, 67, dhcpDiscover(fakeMAC, opt(224, m))))
		}, func(on bool) { nic.AllowDHCPSpoofing = on }},
		{"restricted ethertype", func(m []byte) []byte {
			return ether(broadcast, a.mac, 0x88b5, m)
		}, func(on bool) { nic.AllowRestrictedTraffic = on }},
	}
	for i, c := range cases {
		marker := []byte("hull-wire-marker-" + string(rune('a'+i)))
		frame := c.frame(marker)
		if c.name == "gratuitous ARP for another's address" {
			marker = append(append([]byte{}, a.mac...), ipB.To4()...)
		}
		b.drain()
		a.send(t, frame)
		got := b.saw(marker)
		if c.allow == nil {
			if !got {
				t.Fatalf("%s: not delivered", c.name)
			}
			continue
		}
		if got {
			t.Errorf("%s: delivered, want dropped", c.name)
		}
		c.allow(true)
		a.apply(t)
		b.drain()
		a.send(t, frame)
		if !b.saw(marker) {
			t.Errorf("%s: still dropped after the allow update", c.name)
		}
		c.allow(false)
		a.apply(t)
	}
}

// TestDHCPClientIDs: with allowed_dhcp_cids, a zone's DHCP requests
// carry its MAC's client id or a listed one, or go nowhere; without the
// list, any. With a bandwidth cap too, the guard still sees every frame
// (it runs before the cap's redirect) and what it passes goes on.
func TestDHCPClientIDs(t *testing.T) {
	testenv.RequireRoot(t)
	stub := nettest.Name("wc")
	removeLinks(t, stub)
	a := newZone(t, stub, "10.231.0.2/24")
	b := newZone(t, stub, "10.231.0.3/24")
	discover := func(cid []byte, m []byte) []byte {
		opts := append([]byte{61, byte(len(cid))}, cid...)
		return ether(broadcast, a.mac, 0x0800, udp4(net.IPv4zero, net.IPv4bcast, 68, 67, dhcpDiscover(a.mac, append(opts, m...))))
	}
	ownCID := append([]byte{1}, a.mac...)
	listed, unlisted := []byte{0x0a, 0x0b}, []byte{0x0a, 0x0c}
	host := network.HostPrefix(a.vm.UUID) + "0"
	for _, capped := range []bool{false, true} {
		if capped {
			if err := bw.Apply(bw.For(host, 50e6)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { bw.Remove(host) })
		}
		a.vm.Nics[0].AllowedDHCPCIDs = []string{"0x0A0B"}
		a.apply(t)
		for i, c := range []struct {
			name string
			cid  []byte
			want bool
		}{
			{"listed client id", listed, true},
			{"the MAC's client id", ownCID, true},
			{"unlisted client id", unlisted, false},
		} {
			marker := fmt.Appendf(nil, "hull-cid-%v-%d", capped, i)
			b.drain()
			a.send(t, discover(c.cid, opt(224, marker)))
			if got := b.saw(marker); got != c.want {
				t.Errorf("capped %v, %s: delivered %v, want %v", capped, c.name, got, c.want)
			}
		}
		a.vm.Nics[0].AllowedDHCPCIDs = nil
		a.apply(t)
		marker := fmt.Appendf(nil, "hull-cid-%v-any", capped)
		b.drain()
		a.send(t, discover(unlisted, opt(224, marker)))
		if !b.saw(marker) {
			t.Errorf("capped %v: an unlisted client id dropped without allowed_dhcp_cids", capped)
		}
	}
}

func opt(code byte, data []byte) []byte { return append([]byte{code, byte(len(data))}, data...) }

// TestEtherstubsIsolated: a zone on one etherstub does not reach a zone
// on another.
func TestEtherstubsIsolated(t *testing.T) {
	testenv.RequireRoot(t)
	s1, s2 := nettest.Name("ws"), nettest.Name("ws")
	removeLinks(t, s1, s2)
	a := newZone(t, s1, "10.231.0.2/24")
	b := newZone(t, s1, "10.231.0.3/24")
	c := newZone(t, s2, "10.231.0.4/24")
	if got := reach(t, a, "10.231.0.2", b, c); !got[0] || got[1] {
		t.Fatalf("reached: same etherstub %v, other etherstub %v", got[0], got[1])
	}
}

// TestVLANsApart: on one nic tag, a zone's frames reach the zones on its
// own VLAN only — not another VLAN's, nor the untagged ones — whichever
// way this kernel wires VLANs.
func TestVLANsApart(t *testing.T) {
	testenv.RequireRoot(t)
	stub := nettest.Name("ws")
	removeLinks(t, network.BridgeName(stub), network.VLANLinkName(stub, 10), network.VLANLinkName(stub, 20))
	a := newVLANZone(t, stub, "10.235.0.2/24", 10)
	b := newVLANZone(t, stub, "10.235.0.3/24", 10)
	c := newVLANZone(t, stub, "10.235.0.4/24", 20)
	d := newZone(t, stub, "10.235.0.5/24")
	br, err := netlink.LinkByName(network.BridgeName(stub))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("VLANs here: %s", network.VLANModeOf(br))
	if got := reach(t, a, "10.235.0.2", b, c, d); !got[0] || got[1] || got[2] {
		t.Fatalf("reached: same VLAN %v, other VLAN %v, untagged %v", got[0], got[1], got[2])
	}
}

// reach broadcasts a UDP frame from zone from, whose address is ip, and
// tells for each of to whether it arrived.
func reach(t *testing.T, from *zone, ip string, to ...*zone) []bool {
	t.Helper()
	marker := []byte("hull-wire-reach")
	frame := ether(broadcast, from.mac, 0x0800, udp4(net.ParseIP(ip), net.IPv4bcast, 5000, 5001, marker))
	for _, z := range to {
		z.drain()
	}
	from.send(t, frame)
	got := make([]bool, len(to))
	for i, z := range to {
		got[i] = z.saw(marker)
	}
	return got
}

// removeLinks deletes the named links (bridges) when the test ends.
func removeLinks(t *testing.T, names ...string) {
	t.Cleanup(func() {
		for _, name := range names {
			if l, err := netlink.LinkByName(name); err == nil {
				netlink.LinkDel(l)
			}
		}
	})
}

// TestStaticRoutes: a VM's routes, through a gateway and on a NIC's link,
// are in the zone's routing table after plumbing, and applying them again
// changes nothing; a route dropped from the VM goes, one the zone added
// itself stays.
func TestStaticRoutes(t *testing.T) {
	testenv.RequireRoot(t)
	stub := nettest.Name("ws")
	removeLinks(t, stub)
	z := newZone(t, stub, "10.232.0.2/24")
	sync := func(routes map[string]string) {
		t.Helper()
		z.vm.Routes = routes
		vnics, _ := network.Plan(z.vm)
		rs, err := network.Routes(z.vm, vnics)
		if err != nil {
			t.Fatal(err)
		}
		if err := network.SyncRoutes(z.pid, rs); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		sync(map[string]string{"192.168.50.0/24": "10.232.0.1", "10.99.0.0/16": "nics[0]"})
	}
	if got := zoneRoutes(t, z); got != "10.99.0.0/16 <nil>, 192.168.50.0/24 10.232.0.1" {
		t.Fatalf("routes in the zone: %s", got)
	}
	err := z.Do(func() error {
		_, dst, _ := net.ParseCIDR("172.30.0.0/16")
		return netlink.RouteAdd(&netlink.Route{Dst: dst, Gw: net.ParseIP("10.232.0.1")})
	})
	if err != nil {
		t.Fatal(err)
	}
	sync(map[string]string{"10.99.0.0/16": "nics[0]"})
	if got := zoneRoutes(t, z); got != "10.99.0.0/16 <nil>, 172.30.0.0/16 10.232.0.1" {
		t.Fatalf("routes in the zone after one is dropped: %s", got)
	}
}

// zoneRoutes lists the zone's IPv4 routes but the kernel's own (the
// subnets of its addresses), sorted: "dst gateway, ...".
func zoneRoutes(t *testing.T, z *zone) string {
	t.Helper()
	var got []string
	err := z.Do(func() error {
		rs, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		for _, r := range rs {
			if r.Dst != nil && r.Protocol != unix.RTPROT_KERNEL {
				got = append(got, r.Dst.String()+" "+r.Gw.String())
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	return strings.Join(got, ", ")
}
