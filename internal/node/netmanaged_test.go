package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"hull/internal/network"
	"hull/internal/network/bw"
	"hull/internal/network/managed"
	"hull/internal/network/netadm"
	"hull/internal/zone"
)

// newManagedNet is a node with a NAT network of its own on an etherstub
// no other test uses.
func newManagedNet(t *testing.T) (*Node, managed.Network) {
	n, stub := newNetNode(t)
	s, err := managed.ForNode(n.Root)
	if err != nil {
		t.Fatal(err)
	}
	net, err := s.Create(managed.Network{Name: "lab", NicTag: stub, Subnet: fmt.Sprintf("10.215.%d.0/24", rand.IntN(250)), InternetNAT: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { managed.Down(net, net.Bridge()) })
	return n, net
}

// TestManagedNetworkZones: a NIC naming only a network_uuid gets the
// lowest free address and the gateway, reaches the host through it; a
// NIC with ips ["dhcp"] has its assigned address from boot on, and the
// zone's DHCP client is answered by the node's DHCP server with the same;
// addresses return to the network on delete.
func TestManagedNetworkZones(t *testing.T) {
	n, net := newManagedNet(t)
	a := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","nics":[{"network_uuid":"`+net.UUID+`","primary":true}]}`)
	v, _ := n.Get(a)
	want := net.CIDR(mustAlloc(t, net, 0))
	if nic := v.Nics[0]; nic.NicTag != net.NicTag || strings.Join(nic.IPs, ",") != want || strings.Join(nic.Gateways, ",") != net.Gateway {
		t.Fatalf("NIC = %+v, want ips %s gateway %s", nic, want, net.Gateway)
	}
	mustExec(t, n, a, "ping -c1 -W3 "+net.Gateway)

	srv, err := n.DHCPServer()
	if err != nil {
		t.Fatal(err)
	}
	srv.Rescan = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	b := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","nics":[{"network_uuid":"`+net.UUID+`","ips":["dhcp"],"primary":true}]}`)
	lease := mustAlloc(t, net, 1).String()
	if out := mustExec(t, n, b, "ip -4 -o addr show net0; ip route show default"); !strings.Contains(out, lease+"/24") || !strings.Contains(out, "default via "+net.Gateway) {
		t.Fatalf("zone's net0 lacks its lease %s or default route: %s", lease, out)
	}
	out := mustExec(t, n, b, "udhcpc -i net0 -n -q -t 5 -s /bin/true 2>&1")
	if !strings.Contains(out, lease) {
		t.Fatalf("udhcpc did not get %s: %s", lease, out)
	}
	// A network on the same etherstub whose gateway is another router
	// (here none at all): the DHCP server answers there too.
	s, _ := managed.ForNode(n.Root)
	routed, err := s.Create(managed.Network{Name: "routed", NicTag: net.NicTag, Subnet: "10.214.77.0/24", Gateway: "10.214.77.1"})
	if err != nil {
		t.Fatal(err)
	}
	c := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","nics":[{"network_uuid":"`+routed.UUID+`","ips":["dhcp"],"primary":true}]}`)
	out = mustExec(t, n, c, "udhcpc -i net0 -n -q -t 5 -s /bin/true 2>&1")
	if !strings.Contains(out, "10.214.77.2") {
		t.Fatalf("udhcpc on a routed network did not get 10.214.77.2: %s", out)
	}
	if err := n.Delete(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Leases(net.UUID); len(l) != 1 {
		t.Errorf("assignments after delete: %v", l)
	}
}

func mustAlloc(t *testing.T, net managed.Network, skip int) netip.Addr {
	t.Helper()
	got, err := managed.Allocate(net, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range skip {
		got = got.Next()
	}
	return got
}

// TestIPConflictRefused: a second VM with a static address another VM
// holds on the same nic tag is refused with SmartOS's message, and
// nothing is made.
func TestIPConflictRefused(t *testing.T) {
	n, stub := newNetNode(t)
	create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","autoboot":false,"nics":[{"nic_tag":"`+stub+`","ips":["10.216.9.2/24"]}]}`)
	_, err := n.Create(context.Background(), []byte(`{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","nics":[{"nic_tag":"`+stub+`","ips":["10.216.9.2/24"]}]}`))
	var ce *ConflictError
	if !errors.As(err, &ce) || err.Error() != ConflictMessage || !strings.Contains(ce.Detail, "already has IP 10.216.9.2") {
		t.Fatalf("got %v", err)
	}
	if vms, _ := n.List(); len(vms) != 1 {
		t.Fatalf("%d VMs", len(vms))
	}
}

// TestConcurrentCreatesOneWins races two vmadm create processes for one
// address, then for one MAC: each time exactly one VM is made, and the
// other vmadm exits 1 with SmartOS's message.
func TestConcurrentCreatesOneWins(t *testing.T) {
	n, stub := newNetNode(t)
	for round, nic := range []string{
		`{"nic_tag":"` + stub + `","ips":["10.218.0.2/24"]}`,
		`{"nic_tag":"` + stub + `","ips":["10.218.0.3/24"]}`,
		`{"nic_tag":"` + stub + `","mac":"02:18:00:00:00:02"}`,
		`{"nic_tag":"` + stub + `","mac":"02:18:00:00:00:03"}`,
	} {
		payload := `{"brand":"joyent-minimal","image_uuid":"` + BusyboxUUID + `","autoboot":false,"nics":[` + nic + `]}`
		type result struct {
			out string
			err error
		}
		res := make(chan result, 2)
		start := make(chan struct{})
		for range 2 {
			go func() {
				<-start
				out, err := hull(t, n, nil, payload, "vmadm", "create")
				res <- result{out, err}
			}()
		}
		close(start)
		won := 0
		for range 2 {
			r := <-res
			var ee *exec.ExitError
			switch {
			case r.err == nil:
				won++
			case errors.As(r.err, &ee) && ee.ExitCode() == 1 && strings.Contains(r.out, ConflictMessage):
			default:
				t.Fatalf("round %d: %v: %s", round, r.err, r.out)
			}
		}
		if vms, _ := n.List(); won != 1 || len(vms) != round+1 {
			t.Fatalf("round %d: %d creates won, %d VMs", round, won, len(vms))
		}
	}
	if ents, _ := os.ReadDir(n.reservationDir()); len(ents) != 0 {
		t.Errorf("reservations left: %v", ents)
	}
}

// TestMaxBW: a NIC's maxbw caps its VNIC both ways, changes live, shows
// in dladm show-vnic, and goes with the zone.
func TestMaxBW(t *testing.T) {
	n, stub := newNetNode(t)
	a := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","nics":[{"nic_tag":"`+stub+`","ips":["10.216.0.2/24"],"maxbw":"50M"}]}`)
	v, _ := n.Get(a)
	host := network.HostPrefix(a) + "0"
	if got, _ := bw.Current(host); got != 50e6 {
		t.Fatalf("cap = %d, want 50M", got)
	}
	if _, err := n.Update(context.Background(), a, []byte(`{"update_nics":[{"mac":"`+v.Nics[0].MAC+`","maxbw":"20M"}]}`)); err != nil {
		t.Fatal(err)
	}
	if got, _ := bw.Current(host); got != 20e6 {
		t.Fatalf("cap after update = %d, want 20M", got)
	}
	var out bytes.Buffer
	env := netadm.Env{Root: n.Root, VMs: n.List, Stdout: &out, Stderr: &out}
	if rc := netadm.Dladm(env, []string{"show-vnic", "-p", "-o", "link,speed,zone", "-z", a}); rc != 0 || strings.TrimSpace(out.String()) != "net0:20:"+a {
		t.Fatalf("dladm show-vnic: %d %q", rc, out.String())
	}
	if _, err := n.Update(context.Background(), a, []byte(`{"update_nics":[{"mac":"`+v.Nics[0].MAC+`","maxbw":"0"}]}`)); err != nil {
		t.Fatal(err)
	}
	if got, _ := bw.Current(host); got != 0 {
		t.Fatalf("cap after lifting = %d", got)
	}
	if _, err := n.Create(context.Background(), []byte(`{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","nics":[{"nic_tag":"`+stub+`","maxbw":"fast"}]}`)); err == nil || !strings.Contains(err.Error(), "nics.*.maxbw") {
		t.Fatalf("bad maxbw: %v", err)
	}
	if err := n.Stop(context.Background(), a, true, time.Second); err != nil {
		t.Fatal(err)
	}
	if l := bw.Links(network.HostPrefix(a)); len(l) != 0 {
		t.Fatalf("ifbs left after stop: %v", l)
	}
}

// TestKillWithMaxBW kills vmadm create after a capped zone is plumbed;
// the next open leaves no veth, chain or ifb.
func TestKillWithMaxBW(t *testing.T) {
	n, stub := newNetNode(t)
	uuid := "8a1f2e3d-0999-4000-8000-0000000000bb"
	payload := `{"uuid":"` + uuid + `","brand":"joyent-minimal","image_uuid":"` + BusyboxUUID + `","nics":[{"nic_tag":"` + stub + `","ips":["10.217.0.2/24"],"maxbw":"10M"}]}`
	if out, err := hull(t, n, []string{"HULL_FAILPOINT=create/after-start"}, payload, "vmadm", "create"); err == nil {
		t.Fatalf("vmadm create survived its failpoint: %s", out)
	}
	if len(bw.Links(network.HostPrefix(uuid))) == 0 {
		t.Fatal("no ifb made before the crash: the test proves nothing")
	}
	m := reopen(t, n)
	checkNoLeaks(t, m, uuid)
	for _, l := range []string{bw.IFBName(network.HostPrefix(uuid) + "0")} {
		if _, err := netlink.LinkByName(l); err == nil {
			t.Errorf("%s left", l)
		}
	}
}

// TestZoneRoutes: a VM's static routes are in its zone; set_routes adds
// one and remove_routes removes one on the running zone, and a route the
// zone's administrator added stays.
func TestZoneRoutes(t *testing.T) {
	n, stub := newNetNode(t)
	a := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","routes":{"10.99.0.0/16":"nics[0]","192.168.77.0/24":"10.233.0.1"},"nics":[{"nic_tag":"`+stub+`","ips":["10.233.0.2/24"],"primary":true}]}`)
	out := mustExec(t, n, a, "ip route")
	if !strings.Contains(out, "10.99.0.0/16 dev net0") || !strings.Contains(out, "192.168.77.0/24 via 10.233.0.1") {
		t.Fatalf("routes in zone: %s", out)
	}
	mustExec(t, n, a, "ip route add 10.123.0.0/16 via 10.233.0.1")
	ctx := context.Background()
	if _, err := n.Update(ctx, a, []byte(`{"set_routes":{"172.20.0.0/16":"10.233.0.1","10.99.0.0/16":"10.233.0.254"}}`)); err != nil {
		t.Fatal(err)
	}
	if out := mustExec(t, n, a, "ip route"); !strings.Contains(out, "172.20.0.0/16 via 10.233.0.1") || !strings.Contains(out, "10.99.0.0/16 via 10.233.0.254") {
		t.Fatalf("routes after set_routes: %s", out)
	}
	if _, err := n.Update(ctx, a, []byte(`{"remove_routes":["192.168.77.0/24","10.99.0.0/16"]}`)); err != nil {
		t.Fatal(err)
	}
	out = mustExec(t, n, a, "ip route")
	if strings.Contains(out, "192.168.77.0/24") || strings.Contains(out, "10.99.0.0/16") {
		t.Fatalf("removed routes still in the zone: %s", out)
	}
	if !strings.Contains(out, "172.20.0.0/16 via 10.233.0.1") || !strings.Contains(out, "10.123.0.0/16 via 10.233.0.1") {
		t.Fatalf("routes after remove_routes: %s", out)
	}
}

// TestZone32NICs: a zone with 32 NICs boots with all of them, each
// addressed, and is deleted without leaks.
func TestZone32NICs(t *testing.T) {
	n, stub := newNetNode(t)
	var nics []string
	for i := range 32 {
		nics = append(nics, fmt.Sprintf(`{"nic_tag":"%s","ips":["10.234.%d.2/24"]}`, stub, i))
	}
	a := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","nics":[`+strings.Join(nics, ",")+`]}`)
	out := mustExec(t, n, a, "ip -o -4 addr show | grep -c ': net'")
	if strings.TrimSpace(out) != "32" {
		t.Fatalf("%s addressed NICs, want 32", strings.TrimSpace(out))
	}
	mustExec(t, n, a, "ip -o -4 addr show net31 | grep -q 10.234.31.2")
}

// TestReplumbAfterNodeReboot: after what a node reboot leaves — the zone
// dead, its etherstub's bridge, filter and its network's NAT gone — what
// hulld does at start brings the zone back with its NIC, its filter and
// its network, and it reaches the host again.
func TestReplumbAfterNodeReboot(t *testing.T) {
	n, net := newManagedNet(t)
	a := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","nics":[{"network_uuid":"`+net.UUID+`","primary":true}]}`)
	mustExec(t, n, a, "ping -c1 -W3 "+net.Gateway)
	ctx := context.Background()
	if err := n.Runtime.Kill(ctx, zone.ContainerID(a), syscall.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	for i := 0; len(network.HostLinks(a)) > 0; i++ {
		if i == 100 {
			t.Fatal("the zone's links outlived it")
		}
		time.Sleep(50 * time.Millisecond)
	}
	network.RemoveFilter(a)
	managed.Down(net, net.Bridge())
	if l, err := netlink.LinkByName(net.Bridge()); err == nil {
		netlink.LinkDel(l)
	}

	m := reopen(t, n)
	if err := m.AllNetworksUp(); err != nil {
		t.Fatal(err)
	}
	m.Autoboot(ctx, testLogger(t))
	if s := state(t, m, a); s != "running" {
		t.Fatalf("zone %s after the reboot", s)
	}
	mustExec(t, m, a, "ping -c1 -W3 "+net.Gateway)
	if len(network.ChainsOf(a)) == 0 {
		t.Fatal("no filter after the reboot")
	}
}
