package perf

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/vishvananda/netlink"

	"hull/internal/network"
	"hull/internal/testenv"
	"hull/internal/vm"
)

// Test32NICs: one zone with 32 NICs, every one plumbed, addressed and
// filtered; unplumbing leaves nothing.
func Test32NICs(t *testing.T) {
	testenv.RequireRoot(t)
	stub := stubBridge(t)
	var nics []vm.NIC
	for i := range 32 {
		nics = append(nics, vm.NIC{IPs: []string{fmt.Sprintf("10.218.%d.2/24", i)}})
	}
	z, v, _ := plumbed(t, stub, nics)
	err := z.Do(func() error {
		for i := range 32 {
			l, err := netlink.LinkByName("net" + strconv.Itoa(i))
			if err != nil {
				return err
			}
			as, _ := netlink.AddrList(l, netlink.FAMILY_V4)
			if len(as) != 1 || as[0].IP.String() != fmt.Sprintf("10.218.%d.2", i) {
				return fmt.Errorf("net%d addresses %v", i, as)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(network.HostLinks(v.UUID)); got != 32 {
		t.Fatalf("%d host links, want 32", got)
	}
	network.Unplumb(v.UUID)
	network.RemoveFilter(v.UUID)
	if l, c := network.HostLinks(v.UUID), network.ChainsOf(v.UUID); len(l)+len(c) != 0 {
		t.Fatalf("left: %v %v", l, c)
	}
}
