package btrfs

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// poolUsed is the bytes the filesystem holding p has in use, after a
// commit.
func poolUsed(b *testing.B, p string) int64 {
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	unix.Syncfs(int(f.Fd()))
	var s unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &s); err != nil {
		b.Fatal(err)
	}
	return int64(s.Blocks-s.Bfree) * s.Bsize
}

// BenchmarkZones clones 20 zones from a 500 MB image, the way vmadm
// create does, and reports the clone time (median, target <= 10 ms) and
// the pool space the image and its 20 zones take against the image's
// size (target <= 1.05).
//
//	go test -run '^$' -bench Zones -benchtime 1x ./internal/pool/btrfs/
func BenchmarkZones(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("must run as root")
	}
	const imgSize = 500 << 20
	for b.Loop() {
		b.StopTimer()
		d, _ := newPool(b, 4<<30)
		before := poolUsed(b, d.store)
		img, err := d.Create("zones/img")
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(filepath.Join(img.Mountpoint, "image.bin"))
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		for range imgSize / len(buf) {
			rand.Read(buf)
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
		if err := d.Snapshot(img.Name, "final"); err != nil {
			b.Fatal(err)
		}
		image := poolUsed(b, d.store) - before
		var times []time.Duration
		b.StartTimer()
		for i := range 20 {
			start := time.Now()
			z, err := d.Clone("zones/img@final", fmt.Sprintf("zones/zone%02d", i))
			times = append(times, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
			// A zone writes a little of its own at first boot.
			os.WriteFile(filepath.Join(z.Mountpoint, "hostname"), []byte(z.Name), 0o644)
		}
		b.StopTimer()
		all := poolUsed(b, d.store) - before
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		med := times[len(times)/2]
		b.ReportMetric(float64(med.Microseconds())/1000, "clone-ms-median")
		b.ReportMetric(float64(all)/float64(imgSize), "space-x-image")
		b.Logf("clone median %v (max %v); image %d MiB on disk; image + 20 zones %d MiB = %.3f x the image",
			med, times[len(times)-1], image>>20, all>>20, float64(all)/float64(imgSize))
		b.StartTimer()
	}
}

// BenchmarkRemount takes a zone's dataset (with a delegated dataset)
// down and up again, as a zone's stop and start do, in a pool of 500
// datasets, and reports how much of
// that is finding the dataset's children (a read of the pool's dataset
// directory each way).
//
//	go test -run '^$' -bench Remount ./internal/pool/btrfs/
func BenchmarkRemount(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("must run as root")
	}
	d, _ := newPool(b, 1<<30)
	for i := range 500 {
		if _, err := d.Create(fmt.Sprintf("zones/z%03d", i)); err != nil {
			b.Fatal(err)
		}
	}
	// A zone with a delegated dataset.
	if _, err := d.Create("zones/z250/data"); err != nil {
		b.Fatal(err)
	}
	var children time.Duration
	for b.Loop() {
		if err := d.Unmount("zones/z250"); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Mount("zones/z250"); err != nil {
			b.Fatal(err)
		}
		// The listing Unmount and Mount each make, timed apart from them.
		b.StopTimer()
		start := time.Now()
		if cs, err := d.descendants("z250"); err != nil || len(cs) != 1 {
			b.Fatal(cs, err)
		}
		children += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(2*children.Microseconds())/float64(b.N), "children-us/op")
}
