package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"hull/internal/atomicfile"
	"hull/internal/image"
	"hull/internal/image/registrytest"
	"hull/internal/pool"
	"hull/internal/pool/btrfs"
	"hull/internal/pool/dir"
	"hull/internal/pool/pooltest"
	"hull/internal/testenv"
)

// BenchmarkDockerPullVsCrane pulls a 4-layer image (HULL_BENCH_MB MiB of
// content in all, 200 by default, half of it incompressible) from a
// docker-registry on loopback, once with `imgadm import` (download,
// verify and unpack every layer into the pool) and once as `crane pull`
// does it (go-containerregistry's crane.Pull + crane.Save into a tarball
// in a dataset of the same pool, so that both write through the same
// filesystem), alternating which goes first, and reports the median
// import time / median crane time (target <= 1.2). crane leaves its
// tarball in the page cache while an import is durable when it returns,
// so the ratio to crane's pull followed by an fsync of its tarball is
// reported too, and, for reference, the ratio to crane's pull into the
// directory that holds the pool (crane-host). HULL_BENCH_DIR picks that
// directory's filesystem (default /var/tmp); the pool is the dir driver,
// or with HULL_BENCH_POOL=btrfs a btrfs pool on a loop file there. The
// import leaves pages of zeros holes, so with the default content it
// writes half of what it unpacks; HULL_BENCH_CONTENT=text makes every
// page data, which it writes whole (half as much again as crane). One
// round varies by ±20% here; take several:
//
//	go test -run '^$' -bench DockerPullVsCrane -benchtime 9x ./internal/image
func BenchmarkDockerPullVsCrane(b *testing.B) {
	testenv.RequireRoot(b)
	mb := 200
	if v, err := strconv.Atoi(os.Getenv("HULL_BENCH_MB")); err == nil && v > 0 {
		mb = v
	}
	onBtrfs := os.Getenv("HULL_BENCH_POOL") == "btrfs"
	parent := os.Getenv("HULL_BENCH_DIR")
	if parent == "" {
		parent = "/var/tmp"
	}
	reg := registrytest.Start(b, false)
	var layers []v1.Layer
	for i := 0; i < 4; i++ {
		layers = append(layers, benchLayer(b, i, mb<<20/4))
	}
	img := registrytest.Image(b, v1.Config{Cmd: []string{"/bin/true"}}, layers...)
	reg.Push(b, "bench/multi:1", img)
	ref := reg.Host + "/bench/multi:1"

	var imports, cranes, craneSynced, craneHost []time.Duration
	for i := 0; i < b.N; i++ {
		base, err := os.MkdirTemp(parent, "hull-bench-docker-")
		if err != nil {
			b.Fatal(err)
		}
		var p pool.Driver
		var bp *btrfs.Driver
		if onBtrfs {
			bp, err = btrfs.Open(btrfs.Options{Store: filepath.Join(base, "store"), MountRoot: filepath.Join(base, "zones"),
				Pool: "zones", File: filepath.Join(base, "pool.img"), Size: 4 << 30})
			p = bp
		} else {
			p, err = dir.New(filepath.Join(base, "pool"), filepath.Join(base, "zones"), "zones")
		}
		if err != nil {
			b.Fatal(err)
		}
		store, err := image.Open(filepath.Join(base, "images"), p, "zones")
		if err != nil {
			b.Fatal(err)
		}
		src, _ := image.NewDocker(reg.URL, false)
		im := &image.Importer{Store: store, Sources: []image.Source{src}}

		importOnce := func() {
			start := time.Now()
			if _, err := im.ImportDocker(context.Background(), "bench/multi:1"); err != nil {
				b.Fatal(err)
			}
			imports = append(imports, time.Since(start))
		}
		craneDS, err := p.Create("zones/crane")
		if err != nil {
			b.Fatal(err)
		}
		// cranePull pulls into dir and returns the time it took, and the
		// time until its tarball was on disk.
		cranePull := func(dir string) (pulled, synced time.Duration) {
			start := time.Now()
			img, err := crane.Pull(ref, crane.Insecure)
			if err != nil {
				b.Fatal(err)
			}
			tarPath := filepath.Join(dir, "crane.tar")
			if err := crane.Save(img, ref, tarPath); err != nil {
				b.Fatal(err)
			}
			pulled = time.Since(start)
			// crane leaves its tarball in the page cache; an import is
			// on disk when it returns. The same pull made durable:
			if err := atomicfile.Sync(tarPath); err != nil {
				b.Fatal(err)
			}
			return pulled, time.Since(start)
		}
		craneOnce := func() {
			pulled, synced := cranePull(craneDS.Mountpoint)
			cranes, craneSynced = append(cranes, pulled), append(craneSynced, synced)
			pulled, _ = cranePull(base)
			craneHost = append(craneHost, pulled)
		}
		// Each goes first every other round: neither always finds the
		// disk busy with what the other left.
		if i%2 == 0 {
			importOnce()
			craneOnce()
		} else {
			craneOnce()
			importOnce()
		}

		pooltest.Teardown(p, base)
		if bp != nil {
			if err := bp.Export(); err != nil {
				b.Error(err)
			}
		}
		os.RemoveAll(base)
	}
	mi, mc, ms, mh := median(imports), median(cranes), median(craneSynced), median(craneHost)
	b.ReportMetric(mi.Seconds(), "import-s")
	b.ReportMetric(mc.Seconds(), "crane-s")
	b.ReportMetric(mi.Seconds()/mc.Seconds(), "import/crane")
	b.ReportMetric(ms.Seconds(), "crane+fsync-s")
	b.ReportMetric(mi.Seconds()/ms.Seconds(), "import/crane+fsync")
	b.ReportMetric(mh.Seconds(), "crane-host-s")
	b.ReportMetric(mi.Seconds()/mh.Seconds(), "import/crane-host")
}

// median of ds (which it sorts).
func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// benchLayer is a gzip'd layer of files, half random, half zeros (or,
// with HULL_BENCH_CONTENT=text, half text-like: words that gzip to
// about a third, as programs and text files do).
func benchLayer(b *testing.B, n, size int) v1.Layer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	const fileSize = 4 << 20
	text := os.Getenv("HULL_BENCH_CONTENT") == "text"
	for i := 0; i*fileSize < size; i++ {
		body := make([]byte, fileSize)
		switch {
		case i%2 == 0:
			rand.Read(body)
		case text:
			fillText(body, int64(n*1000+i))
		}
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("layer%d/file%04d", n, i), Mode: 0o644, Size: fileSize, Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	tw.Close()
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// fillText fills b with words picked at random (seeded), in lines.
func fillText(b []byte, seed int64) {
	words := strings.Fields("the of and to in is for on that with as by this are be from at or an it not " +
		"config server return error value string func struct package import type int64 buffer layer image " +
		"zone pool network device memory process thread signal socket request response handler context")
	r := mrand.New(mrand.NewPCG(uint64(seed), 7))
	var line []byte
	for i := 0; i < len(b); {
		line = line[:0]
		for len(line) < 40+r.IntN(40) {
			line = append(line, words[r.IntN(len(words))]...)
			if r.IntN(5) == 0 {
				line = strconv.AppendInt(line, int64(r.IntN(100000)), 10)
			}
			line = append(line, ' ')
		}
		line[len(line)-1] = '\n'
		i += copy(b[i:], line)
	}
}
