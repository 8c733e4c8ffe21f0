package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"hull/internal/network"
	"hull/internal/network/dhcpguard"
	"hull/internal/network/nettest"
	"hull/internal/vm"
)

// newNetNode is a node with one etherstub of a name no other test uses.
func newNetNode(t *testing.T) (*Node, string) {
	stub := fmt.Sprintf("hstub%04x", rand.IntN(0xffff))
	n := newNodeWithConfig(t, "etherstub="+stub+"\n")
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(stub); err == nil {
			netlink.LinkDel(l)
		}
	})
	return n, stub
}

func nicZone(t *testing.T, n *Node, stub, ip string) (uuid, mac string) {
	t.Helper()
	uuid = create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","nics":[{"nic_tag":"`+stub+`","ips":["`+ip+`/24"],"primary":true}]}`)
	v, err := n.Get(uuid)
	if err != nil {
		t.Fatal(err)
	}
	return uuid, v.Nics[0].MAC
}

// TestZonesTalkAndCannotSpoof: two zones on an etherstub reach each
// other; a forged source IP and a forged MAC are dropped at the bridge
// (the filter's counters say so) until an update allows them, on the
// running zone.
func TestZonesTalkAndCannotSpoof(t *testing.T) {
	n, stub := newNetNode(t)
	a, macA := nicZone(t, n, stub, "10.88.0.2")
	_, _ = nicZone(t, n, stub, "10.88.0.3")
	if out := mustExec(t, n, a, "ip -o link show net0; ip -o addr show net0"); !strings.Contains(out, macA) || !strings.Contains(out, "10.88.0.2/24") {
		t.Fatalf("zone's net0: %s", out)
	}
	mustExec(t, n, a, "ping -c1 -W3 10.88.0.3")

	// A forged source address.
	mustExec(t, n, a, "ip addr add 10.88.0.9/24 dev net0")
	before, _ := network.Dropped(a)
	if out, err := zexec(t, n, a, "ping -c1 -W2 -I 10.88.0.9 10.88.0.3"); err == nil {
		t.Fatalf("ping from a forged address went through: %s", out)
	}
	if after, _ := network.Dropped(a); after <= before {
		t.Fatalf("filter counted no drops (%d → %d)", before, after)
	}
	ctx := context.Background()
	if _, err := n.Update(ctx, a, []byte(`{"update_nics":[{"mac":"`+macA+`","allowed_ips":["10.88.0.9"]}]}`)); err != nil {
		t.Fatal(err)
	}
	mustExec(t, n, a, "ping -c1 -W3 -I 10.88.0.9 10.88.0.3")

	// A forged MAC.
	mustExec(t, n, a, "ip link set net0 address 02:00:00:00:00:99")
	if out, err := zexec(t, n, a, "ping -c1 -W2 10.88.0.3"); err == nil {
		t.Fatalf("ping with a forged MAC went through: %s", out)
	}
	if _, err := n.Update(ctx, a, []byte(`{"update_nics":[{"mac":"`+macA+`","allow_mac_spoofing":true}]}`)); err != nil {
		t.Fatal(err)
	}
	mustExec(t, n, a, "ping -c1 -W3 10.88.0.3")
}

// TestUnknownNicTagRefused: a NIC on a tag the node does not have is
// refused with SmartOS's message before anything is made.
func TestUnknownNicTagRefused(t *testing.T) {
	n, _ := newNetNode(t)
	_, err := n.Create(context.Background(), []byte(`{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","nics":[{"nic_tag":"nosuchtag","ips":["10.1.1.1/24"]}]}`))
	if err == nil || err.Error() != `Invalid nic tag "nosuchtag"` {
		t.Fatalf("got %v", err)
	}
	if vms, _ := n.List(); len(vms) != 0 {
		t.Fatalf("%d VMs left", len(vms))
	}
}

// TestKillDuringPlumbing kills vmadm create while it plumbs a zone with
// NICs; the next open leaves no VM, veth or filter chain behind.
func TestKillDuringPlumbing(t *testing.T) {
	n, stub := newNetNode(t)
	for i, fp := range []string{"start/after-run", "start/mid-plumb", "create/after-start"} {
		t.Run(strings.ReplaceAll(fp, "/", "-"), func(t *testing.T) {
			uuid := fmt.Sprintf("8a1f2e3d-0%03d-4000-8000-0000000000aa", i)
			payload := `{"uuid":"` + uuid + `","brand":"joyent-minimal","image_uuid":"` + BusyboxUUID + `","nics":[{"nic_tag":"` + stub + `","ips":["10.89.0.2/24"]}]}`
			out, err := hull(t, n, []string{"HULL_FAILPOINT=" + fp}, payload, "vmadm", "create")
			if err == nil {
				t.Fatalf("vmadm create survived its failpoint: %s", out)
			}
			m := reopen(t, n)
			if _, err := m.Get(uuid); err == nil {
				t.Fatalf("VM exists after a crash at %s", fp)
			}
			checkNoLeaks(t, m, uuid)
		})
	}
}

// TestKillDuringUnplumbing kills vmadm stop and vmadm delete of a zone
// with a capped NIC after its links are gone but before its filter and
// ifb are; the next open removes them, and the VM is stopped or gone.
func TestKillDuringUnplumbing(t *testing.T) {
	n, stub := newNetNode(t)
	for i, verb := range []string{"stop", "delete"} {
		t.Run(verb, func(t *testing.T) {
			uuid := fmt.Sprintf("8a1f2e3d-1%03d-4000-8000-0000000000aa", i)
			create(t, n, `{"uuid":"`+uuid+`","brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","nics":[{"nic_tag":"`+stub+`","ips":["10.89.1.1`+strconv.Itoa(i+2)+`/24"],"maxbw":"10M"}]}`)
			out, err := hull(t, n, []string{"HULL_FAILPOINT=unplumb/after-links"}, "", "vmadm", verb, uuid)
			if err == nil {
				t.Fatalf("vmadm %s survived its failpoint: %s", verb, out)
			}
			if len(zoneLinks(uuid)) == 0 {
				t.Fatal("nothing left before the next open: the test proves nothing")
			}
			m := reopen(t, n)
			if l := zoneLinks(uuid); len(l) != 0 {
				t.Fatalf("left after the next open: %v", l)
			}
			if verb == "delete" {
				checkNoLeaks(t, m, uuid)
			} else if s := state(t, m, uuid); s != "stopped" {
				t.Fatalf("state %s after an interrupted stop", s)
			}
		})
	}
}

// TestZoneNameService: the zone's NIC has its mtu; its /etc/hosts names
// its hostname at the primary NIC's address; with maintain_resolvers an
// update of resolvers rewrites the running zone's nameservers, without it
// they stay.
func TestZoneNameService(t *testing.T) {
	n, stub := newNetNode(t)
	a := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","hostname":"web","resolvers":["192.0.2.53"],"nics":[{"nic_tag":"`+stub+`","ips":["10.236.0.2/24"],"primary":true,"mtu":1400}]}`)
	if out := mustExec(t, n, a, "cat /sys/class/net/net0/mtu"); out != "1400" {
		t.Fatalf("net0's mtu: %s", out)
	}
	if out := mustExec(t, n, a, "cat /etc/hosts"); !strings.Contains(out, "10.236.0.2\tweb") {
		t.Fatalf("/etc/hosts: %s", out)
	}
	ctx := context.Background()
	if _, err := n.Update(ctx, a, []byte(`{"resolvers":["192.0.2.54"]}`)); err != nil {
		t.Fatal(err)
	}
	if out := mustExec(t, n, a, "cat /etc/resolv.conf"); !strings.Contains(out, "nameserver 192.0.2.53") {
		t.Fatalf("resolv.conf changed without maintain_resolvers: %s", out)
	}
	if _, err := n.Update(ctx, a, []byte(`{"maintain_resolvers":true,"resolvers":["192.0.2.55","192.0.2.56"]}`)); err != nil {
		t.Fatal(err)
	}
	if out := mustExec(t, n, a, "cat /etc/resolv.conf"); out != "nameserver 192.0.2.55\nnameserver 192.0.2.56" {
		t.Fatalf("resolv.conf with maintain_resolvers: %q", out)
	}
}

// TestZonesCannotForgeARPOrDHCP: a real zone's gratuitous ARP for its
// neighbour's address, and the offers of a DHCP server it runs, are
// dropped at the bridge — a raw socket on the neighbour's port sees none —
// until allow_ip_spoofing and allow_dhcp_spoofing are set on the running
// zone.
func TestZonesCannotForgeARPOrDHCP(t *testing.T) {
	n, stub := newNetNode(t)
	a, macA := nicZone(t, n, stub, "10.237.0.2")
	b, _ := nicZone(t, n, stub, "10.237.0.3")
	hwA, _ := net.ParseMAC(macA)
	port := nettest.Sniff(t, network.HostPrefix(b)+"0")
	allow := func(prop string) {
		t.Helper()
		if _, err := n.Update(context.Background(), a, []byte(`{"update_nics":[{"mac":"`+macA+`","`+prop+`":true}]}`)); err != nil {
			t.Fatal(err)
		}
	}

	// A gratuitous ARP: sender a's MAC, sender address b's.
	mustExec(t, n, a, "ip addr add 10.237.0.3/32 dev net0")
	garp := func() bool {
		port.Drain()
		zexec(t, n, a, "arping -U -c 2 -w 1 -I net0 -s 10.237.0.3 10.237.0.3")
		return port.Saw(300*time.Millisecond, func(f []byte) bool {
			return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == 0x0806 &&
				bytes.Equal(f[22:28], hwA) && bytes.Equal(f[28:32], net.ParseIP("10.237.0.3").To4())
		})
	}
	if garp() {
		t.Fatal("a gratuitous ARP for the neighbour's address reached it")
	}
	allow("allow_ip_spoofing")
	if !garp() {
		t.Fatal("the gratuitous ARP is still dropped after allow_ip_spoofing")
	}

	// A DHCP server in a answers b's client.
	mustExec(t, n, a, "ip addr del 10.237.0.3/32 dev net0; printf 'interface net0\\nstart 10.237.0.100\\nend 10.237.0.110\\nlease_file /tmp/leases\\npidfile /tmp/udhcpd.pid\\n' > /tmp/udhcpd.conf; touch /tmp/leases; udhcpd /tmp/udhcpd.conf")
	offer := func() bool {
		port.Drain()
		zexec(t, n, b, "udhcpc -i net0 -n -q -t 2 -T 1 -s /bin/true")
		return port.Saw(300*time.Millisecond, func(f []byte) bool {
			return len(f) >= 42 && bytes.Equal(f[6:12], hwA) && binary.BigEndian.Uint16(f[12:]) == 0x0800 &&
				f[23] == 17 && binary.BigEndian.Uint16(f[34:]) == 67
		})
	}
	if offer() {
		t.Fatal("a DHCP offer from the zone reached its neighbour")
	}
	allow("allow_dhcp_spoofing")
	if !offer() {
		t.Fatal("the DHCP offer is still dropped after allow_dhcp_spoofing")
	}
}

// TestBlockedOutgoingPorts: a NIC's blocked_outgoing_ports stops the
// zone's TCP connections to those ports, and only those; an update on the
// running zone lifts it.
func TestBlockedOutgoingPorts(t *testing.T) {
	n, stub := newNetNode(t)
	a := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","nics":[{"nic_tag":"`+stub+`","ips":["10.89.0.2/24"],"primary":true,"blocked_outgoing_ports":[25]}]}`)
	b, _ := nicZone(t, n, stub, "10.89.0.3")
	mustExec(t, n, b, "mkdir -p /tmp/www && httpd -p 25 -h /tmp/www && httpd -p 26 -h /tmp/www")
	connect := func(port int) error {
		_, err := zexec(t, n, a, fmt.Sprintf("nc -w 2 10.89.0.3 %d </dev/null", port))
		return err
	}
	if err := connect(26); err != nil {
		t.Fatalf("port 26, not blocked: %v", err)
	}
	if err := connect(25); err == nil {
		t.Fatal("a connection to blocked port 25 went through")
	}
	v, err := n.Get(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Update(context.Background(), a, []byte(`{"update_nics":[{"mac":"`+v.Nics[0].MAC+`","blocked_outgoing_ports":[]}]}`)); err != nil {
		t.Fatal(err)
	}
	if err := connect(25); err != nil {
		t.Errorf("port 25 after the block was lifted: %v", err)
	}
}

// TestZonesCannotSnoop: unicast for an address the bridge does not know
// reaches no other zone (SmartOS's filtered promiscuous mode), while the
// zones still reach each other, their own MACs held by the bridge for
// good; a NIC allowed to spoof its MAC gets such frames, as an update
// says.
func TestZonesCannotSnoop(t *testing.T) {
	n, stub := newNetNode(t)
	a, _ := nicZone(t, n, stub, "10.90.0.2")
	b, macB := nicZone(t, n, stub, "10.90.0.3")
	mustExec(t, n, a, "ping -c1 -W3 10.90.0.3")
	// The bridge holds each zone's MAC on its port as a static entry.
	v, _ := n.Get(b)
	host, err := netlink.LinkByName(network.ChainName(mustPlan(t, v)[0]))
	if err != nil {
		t.Fatal(err)
	}
	fdb, err := netlink.NeighList(host.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		t.Fatal(err)
	}
	static := false
	for _, e := range fdb {
		if e.HardwareAddr.String() == macB && e.State&netlink.NUD_NOARP != 0 {
			static = true
		}
	}
	if !static {
		t.Errorf("no static bridge entry for %s on its port: %+v", macB, fdb)
	}
	received := func() int {
		out := mustExec(t, n, b, "cat /sys/class/net/net0/statistics/rx_packets")
		c, _ := strconv.Atoi(out)
		return c
	}
	// Zone a sends 30 frames to a MAC nobody has.
	mustExec(t, n, a, "arp -s 10.90.0.99 02:00:00:00:00:99")
	send := func() { zexec(t, n, a, "ping -c30 -i0.01 -W1 10.90.0.99") }
	before := received()
	send()
	if got := received() - before; got >= 30 {
		t.Errorf("zone b received %d frames for an unknown MAC", got)
	}
	if _, err := n.Update(context.Background(), b, []byte(`{"update_nics":[{"mac":"`+macB+`","allow_mac_spoofing":true}]}`)); err != nil {
		t.Fatal(err)
	}
	before = received()
	send()
	if got := received() - before; got < 30 {
		t.Errorf("zone b, allowed to spoof its MAC, received %d of 30 frames for an unknown MAC", got)
	}
	mustExec(t, n, a, "ping -c1 -W3 10.90.0.3")
}

func mustPlan(t *testing.T, v *vm.VM) []network.VNIC {
	t.Helper()
	x, err := network.Plan(v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestDHCPGuardFollowsNIC: a NIC's allowed_dhcp_cids puts the DHCP guard
// on its host end at boot, a cap set later leaves it in place, and
// update_nics lifts it (allow_dhcp_spoofing) and puts it back.
func TestDHCPGuardFollowsNIC(t *testing.T) {
	n, stub := newNetNode(t)
	a := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","nics":[{"nic_tag":"`+stub+`","ips":["10.91.0.2/24"],"primary":true,"allowed_dhcp_cids":["0x0a0b"]}]}`)
	v, _ := n.Get(a)
	host := network.ChainName(mustPlan(t, v)[0])
	if !dhcpguard.Guarded(host) {
		t.Fatal("no DHCP guard at boot")
	}
	update := func(nic string) {
		t.Helper()
		if _, err := n.Update(context.Background(), a, []byte(`{"update_nics":[{"mac":"`+v.Nics[0].MAC+`",`+nic+`}]}`)); err != nil {
			t.Fatal(err)
		}
	}
	update(`"maxbw":"50"`)
	if !dhcpguard.Guarded(host) {
		t.Error("a bandwidth cap took the DHCP guard away")
	}
	update(`"allow_dhcp_spoofing":true`)
	if dhcpguard.Guarded(host) {
		t.Error("DHCP guard kept with allow_dhcp_spoofing")
	}
	update(`"allow_dhcp_spoofing":false,"maxbw":"0"`)
	if !dhcpguard.Guarded(host) {
		t.Error("no DHCP guard once spoofing is not allowed again")
	}
	if err := n.Delete(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	checkNoLeaks(t, n, a)
}
