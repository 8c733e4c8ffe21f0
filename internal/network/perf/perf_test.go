// Package perf measures hull's network data path against a hand-made
// peer, and the cost of plumbing. Run once, as root:
//
//	go test -run XXX -bench . -benchtime 1x ./internal/network/perf
package perf

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/vishvananda/netlink"

	"hull/internal/network"
	"hull/internal/network/nettest"
	"hull/internal/testenv"
	"hull/internal/vm"
)

// holder starts a process inside a zone's namespace, standing in for the
// zone's init, and returns its pid.
func holder(t testing.TB, z *nettest.Zone) int {
	t.Helper()
	c := z.Command("sleep", "600")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	// nsenter execs sleep in place: same pid once it has entered.
	time.Sleep(50 * time.Millisecond)
	return c.Process.Pid
}

// plumbed makes a VM with the given NICs on stub and plumbs it into a new
// namespace as the node does: veths, addresses, filter.
func plumbed(t testing.TB, stub string, nics []vm.NIC) (*nettest.Zone, *vm.VM, time.Duration) {
	t.Helper()
	v := &vm.VM{UUID: uuid.NewString(), Brand: "joyent-minimal", Nics: nics}
	for i := range v.Nics {
		v.Nics[i].NicTag = stub
		if v.Nics[i].MAC == "" {
			v.Nics[i].MAC = vm.GenerateMAC(v.UUID, v.Nics[:i])
		}
		v.Nics[i].Interface = "net" + strconv.Itoa(i)
	}
	z := nettest.NewZone(t, nettest.Name("pz"))
	pid := holder(t, z)
	t.Cleanup(func() {
		network.Unplumb(v.UUID)
		network.RemoveFilter(v.UUID)
	})
	tags := network.Tags{Uplinks: map[string]string{}, Etherstubs: map[string]bool{stub: true}}
	// The etherstub's bridge exists before a zone is plumbed on a
	// working node: not part of what is measured.
	if err := tags.EnsureBridge(stub); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	vnics, err := network.Plan(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := network.Plumb(pid, vnics, tags); err != nil {
		t.Fatal(err)
	}
	if err := network.ApplyFilter(v.UUID, vnics); err != nil {
		t.Fatal(err)
	}
	// As a boot does (and so measured with it): the links are up.
	if err := network.Ready(pid, vnics); err != nil {
		t.Fatal(err)
	}
	return z, v, time.Since(start)
}

func stubBridge(t testing.TB) string {
	stub := nettest.Name("ps")
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(stub); err == nil {
			netlink.LinkDel(l)
		}
	})
	return stub
}

// BenchmarkPlumbPerNIC reports what plumbing (veth, move, address, up,
// filter, waiting for the links to carry frames) costs per NIC, for a zone with 1 and with 32 NICs.
func BenchmarkPlumbPerNIC(b *testing.B) {
	testenv.RequireRoot(b)
	// A working node has its nftables table already: plumb once first.
	plumbed(b, stubBridge(b), []vm.NIC{{IPs: []string{"10.219.255.2/24"}}})
	for _, count := range []int{1, 8, 32} {
		b.Run(strconv.Itoa(count), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				stub := stubBridge(b)
				var nics []vm.NIC
				for j := range count {
					nics = append(nics, vm.NIC{IPs: []string{fmt.Sprintf("10.219.%d.2/24", j)}})
				}
				_, _, d := plumbed(b, stub, nics)
				total += d
			}
			per := total / time.Duration(b.N*count)
			b.ReportMetric(float64(per.Microseconds())/1000, "ms/nic")
			fmt.Printf("plumbing, %d NIC(s): %.2f ms per NIC\n", count, float64(per.Microseconds())/1000)
		})
	}
}

// BenchmarkAntiSpoofThroughput compares TCP throughput (iperf3) between
// two namespaces over hull's bridge with its anti-spoofing filter with the
// same over a hand-made veth+bridge without rules (target ≥ 0.9).
func BenchmarkAntiSpoofThroughput(b *testing.B) {
	testenv.RequireRoot(b)
	testenv.RequireCommand(b, "iperf3")
	// The peer: plain bridge, plain veths.
	br := nettest.Bridge(b, nettest.Name("pb"))
	pa, pb := nettest.NewZone(b, nettest.Name("ppa")), nettest.NewZone(b, nettest.Name("ppb"))
	pa.Veth(b, br, nettest.Name("pph"), "net0", nettest.MAC("02:00:00:00:05:01"), "10.220.0.1/24")
	pb.Veth(b, br, nettest.Name("pph"), "net0", nettest.MAC("02:00:00:00:05:02"), "10.220.0.2/24")
	// hull: two zones' VNICs on an etherstub, filtered.
	stub := stubBridge(b)
	ha, _, _ := plumbed(b, stub, []vm.NIC{{IPs: []string{"10.221.0.1/24"}}})
	hb, _, _ := plumbed(b, stub, []vm.NIC{{IPs: []string{"10.221.0.2/24"}}})
	for i := 0; i < b.N; i++ {
		var peer, hull float64
		for round := 0; round < 2; round++ { // interleaved, to even out noise
			peer += iperf(b, pa, pb, "10.220.0.2")
			hull += iperf(b, ha, hb, "10.221.0.2")
		}
		b.ReportMetric(hull/peer, "hull/peer")
		b.ReportMetric(hull/2/1e9, "hull-Gbit/s")
		b.ReportMetric(peer/2/1e9, "peer-Gbit/s")
		fmt.Printf("throughput: hull %.2f Gbit/s, peer %.2f Gbit/s, ratio %.3f\n", hull/2/1e9, peer/2/1e9, hull/peer)
	}
}

func iperf(b *testing.B, client, server *nettest.Zone, addr string) float64 {
	srv := server.Command("iperf3", "-s", "-1", "-B", addr)
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer srv.Wait()
	time.Sleep(300 * time.Millisecond)
	out, err := client.Command("iperf3", "-c", addr, "-t", "5", "-O", "1", "-J").Output()
	if err != nil {
		b.Fatalf("iperf3: %v %s", err, out)
	}
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatal(err)
	}
	return r.End.SumReceived.BitsPerSecond
}
