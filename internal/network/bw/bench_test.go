package bw

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"hull/internal/network/nettest"
	"hull/internal/testenv"
)

// BenchmarkMaxBW measures TCP throughput (iperf3) through a capped VNIC in
// each direction and reports it as a fraction of the cap (target 0.9–1.1).
// Run once: go test -run XXX -bench MaxBW -benchtime 1x ./internal/network/bw
func BenchmarkMaxBW(b *testing.B) {
	testenv.RequireRoot(b)
	testenv.RequireCommand(b, "iperf3")
	for _, cap := range []uint64{20e6, 100e6, 500e6} {
		b.Run(Format(cap), func(b *testing.B) {
			br := nettest.Bridge(b, nettest.Name("bbw"))
			za, zb := nettest.NewZone(b, nettest.Name("bbwa")), nettest.NewZone(b, nettest.Name("bbwb"))
			ha := nettest.Name("bbwh")
			za.Veth(b, br, ha, "net0", nettest.MAC("02:00:00:00:01:01"), "10.77.0.1/24")
			zb.Veth(b, br, nettest.Name("bbwh"), "net0", nettest.MAC("02:00:00:00:01:02"), "10.77.0.2/24")
			if err := Apply(For(ha, cap)); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { Remove(ha) })
			srv := zb.Command("iperf3", "-s", "-1", "-B", "10.77.0.2")
			for i := 0; i < b.N; i++ {
				for _, dir := range []string{"out", "in"} {
					if err := srv.Start(); err != nil {
						b.Fatal(err)
					}
					time.Sleep(300 * time.Millisecond)
					args := []string{"iperf3", "-c", "10.77.0.2", "-t", "4", "-O", "1", "-J"}
					if dir == "in" {
						args = append(args, "-R")
					}
					out, err := za.Command(args...).Output()
					srv.Wait()
					srv = zb.Command("iperf3", "-s", "-1", "-B", "10.77.0.2")
					if err != nil {
						b.Fatalf("iperf3: %v %s", err, out)
					}
					got := iperfBPS(b, out)
					b.ReportMetric(got/float64(cap), dir+"/cap")
					fmt.Printf("maxbw %s %s: %.1f Mbit/s (%.3f of cap)\n", Format(cap), dir, got/1e6, got/float64(cap))
				}
			}
		})
	}
}

func iperfBPS(b testing.TB, out []byte) float64 {
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("iperf3 output: %v", err)
	}
	return r.End.SumReceived.BitsPerSecond
}
