package image_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

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
// directory that holds the pool (crane-host). crane does not unpack the
// layers; the ratio to a peer that does the import's work, `crane export
// | tar -x` into a dataset of the pool and a sync (export+tar), is
// reported as well. HULL_BENCH_DIR picks that
// directory's filesystem (default /var/tmp); the pool is the dir driver,
// or with HULL_BENCH_POOL=btrfs a btrfs pool on a loop file there. The
// import leaves pages of zeros holes, so with the default content it
// writes half of what it unpacks; HULL_BENCH_CONTENT=text makes every
// page data, which it writes whole (half as much again as crane), and
// HULL_BENCH_CONTENT=host takes the layers' files from the host's /usr
// (what a distribution image holds: it gzips to about 40%). One
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

	var imports, cranes, craneSynced, craneHost, exports []time.Duration
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
		exportDS, err := p.Create("zones/export")
		if err != nil {
			b.Fatal(err)
		}
		craneOnce := func() {
			pulled, synced := cranePull(craneDS.Mountpoint)
			cranes, craneSynced = append(cranes, pulled), append(craneSynced, synced)
			pulled, _ = cranePull(base)
			craneHost = append(craneHost, pulled)
			exports = append(exports, craneExportTar(b, ref, exportDS.Mountpoint))
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
	me := median(exports)
	b.ReportMetric(me.Seconds(), "export+tar-s")
	b.ReportMetric(mi.Seconds()/me.Seconds(), "import/export+tar")
}

// craneExportTar pulls ref and unpacks it into dir as `crane export ref - |
// tar -x -C dir` does (the same work as an import: download, decompress,
// apply whiteouts, write the files), then syncs dir's filesystem, as an
// import ends; it returns the time that took.
func craneExportTar(b *testing.B, ref, dir string) time.Duration {
	start := time.Now()
	img, err := crane.Pull(ref, crane.Insecure)
	if err != nil {
		b.Fatal(err)
	}
	tar := exec.Command("tar", "-x", "-C", dir)
	in, err := tar.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := tar.Start(); err != nil {
		b.Fatal(err)
	}
	exported := make(chan error, 1)
	go func() {
		err := crane.Export(img, in)
		in.Close()
		exported <- err
	}()
	if err := tar.Wait(); err != nil {
		b.Fatalf("tar -x: %v", err)
	}
	if err := <-exported; err != nil {
		b.Fatal(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// median of ds (which it sorts).
func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// benchLayer is a gzip'd layer of files, half random, half zeros (or,
// with HULL_BENCH_CONTENT=text, half text-like: words that gzip to
// about a third; with HULL_BENCH_CONTENT=host, the host's own files from
// /usr, programs, libraries and text as a distribution's image holds).
func benchLayer(b *testing.B, n, size int) v1.Layer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	const fileSize = 4 << 20
	content := os.Getenv("HULL_BENCH_CONTENT")
	text := content == "text"
	if content == "host" {
		hostFiles(b, tw, int64(n)*int64(size), int64(size))
	}
	for i := 0; i*fileSize < size && content != "host"; i++ {
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
	// Compressed as docker and registries compress layers (gzip's default
	// level), not at go-containerregistry's default, its fastest.
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithCompressionLevel(gzip.DefaultCompression))
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// hostFiles writes to tw the regular files of /usr, in walk order, that
// start from byte skip to skip+size of them all.
func hostFiles(b *testing.B, tw *tar.Writer, skip, size int64) {
	var seen int64
	err := filepath.WalkDir("/usr", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if seen >= skip+size {
			return filepath.SkipAll
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		at := seen
		seen += fi.Size()
		if at < skip {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(path, "/"), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
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
