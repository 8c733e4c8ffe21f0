package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"hull/internal/metadata/protocol"
	"hull/internal/vm"
)

// fileSource reads the VM object from a file at every request, as the
// node does.
type fileSource struct{ dir string }

func (f fileSource) Get(uuid string) (*vm.VM, error) {
	b, err := os.ReadFile(filepath.Join(f.dir, uuid+".json"))
	if err != nil {
		return nil, err
	}
	var v vm.VM
	return &v, json.Unmarshal(b, &v)
}

func (f fileSource) Update(ctx context.Context, uuid string, payload []byte) (*vm.VM, error) {
	return nil, fmt.Errorf("read-only")
}

func benchServer(b *testing.B, zones int) (*Server, map[string]string) {
	dir := b.TempDir()
	var uuids []string
	for i := 0; i < zones; i++ {
		u := fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
		uuids = append(uuids, u)
		j, _ := json.Marshal(testVM(u))
		os.WriteFile(filepath.Join(dir, u+".json"), j, 0o600)
	}
	s := &Server{Source: fileSource{dir}}
	return s, serve(b, s, uuids...)
}

func reportMedian(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	if len(ds) > 0 {
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "median-µs")
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), "p99-µs")
	}
}

// BenchmarkGetRoundTrip: one V2 GET on an open connection (cloud-init
// keeps one open for all its keys).
func BenchmarkGetRoundTrip(b *testing.B) {
	_, paths := benchServer(b, 1)
	var p string
	for _, p = range paths {
	}
	c := dial(b, p)
	ds := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		if r, err := c.Get("sdc:uuid"); err != nil || r.Code != protocol.Success {
			b.Fatal(r, err)
		}
		ds = append(ds, time.Since(t0))
	}
	reportMedian(b, ds)
}

// BenchmarkGetNewConnection: connect, negotiate V2, GET, close — what one
// mdata-get does.
func BenchmarkGetNewConnection(b *testing.B) {
	_, paths := benchServer(b, 1)
	var p string
	for _, p = range paths {
	}
	ds := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		c, err := protocol.Dial(p)
		if err != nil {
			b.Fatal(err)
		}
		if r, err := c.Get("sdc:uuid"); err != nil || r.Code != protocol.Success {
			b.Fatal(r, err)
		}
		c.Close()
		ds = append(ds, time.Since(t0))
	}
	reportMedian(b, ds)
}

func rss() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func inuse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// BenchmarkZones500 measures the server's memory for 500 zones' sockets,
// idle, then with one open connection each (client and server in one
// process: the per-connection figure counts both ends).
//
//	go test -run XXX -bench Zones500 -benchtime 1x ./internal/metadata
func BenchmarkZones500(b *testing.B) {
	const zones = 500
	for b.Loop() {
		heap0, rss0 := inuse(), rss()
		s, paths := benchServer(b, zones)
		heap1, rss1 := inuse(), rss()
		var conns []*protocol.Client
		for _, p := range paths {
			c, err := protocol.Dial(p)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		heap2, rss2 := inuse(), rss()
		b.ReportMetric(float64(heap1-heap0)/zones, "go-bytes/zone")
		b.ReportMetric(float64(rss1-rss0)/(1<<20), "rss-MiB/500-sockets")
		b.ReportMetric(float64(heap2-heap1)/zones, "go-bytes/conn")
		b.ReportMetric(float64(rss2-rss0)/(1<<20), "rss-MiB/500-sockets+conns")
		for _, c := range conns {
			c.Close()
		}
		s.Close()
	}
}
