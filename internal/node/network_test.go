package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"hull/internal/network"
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

// TestZoneNameService: the zone's /etc/hosts names its hostname at the
// primary NIC's address; with maintain_resolvers an update of resolvers
// rewrites the running zone's nameservers, without it they stay.
func TestZoneNameService(t *testing.T) {
	n, stub := newNetNode(t)
	a := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`","hostname":"web","resolvers":["192.0.2.53"],"nics":[{"nic_tag":"`+stub+`","ips":["10.236.0.2/24"],"primary":true}]}`)
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
