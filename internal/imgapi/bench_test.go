package imgapi

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"hull/internal/image"
	"hull/internal/pool/dir"
	"hull/internal/testenv"
)

// BenchmarkImportVsTar imports a ~500 MB image file (HULL_BENCH_MB MiB of
// content, 1000 by default) from
// an IMGAPI server on loopback into a pool, and extracts the same file
// with `tar -xzf` into a dataset of the same pool, and reports the speed
// ratio (tar time / import time; the target is >= 0.8). HULL_BENCH_DIR
// picks the filesystem (default /var/tmp).
//
//	go test -run '^$' -bench ImportVsTar -benchtime 1x ./internal/imgapi
func BenchmarkImportVsTar(b *testing.B) {
	testenv.RequireRoot(b)
	mb := 1000 // half compresses well: a ~500 MB file
	if v, err := strconv.Atoi(os.Getenv("HULL_BENCH_MB")); err == nil && v > 0 {
		mb = v
	}
	parent := os.Getenv("HULL_BENCH_DIR")
	if parent == "" {
		parent = "/var/tmp"
	}
	base, err := os.MkdirTemp(parent, "hull-bench-image-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(base)
	p, err := dir.New(filepath.Join(base, "pool"), filepath.Join(base, "zones"), "zones")
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ds, _ := p.List()
		for i := len(ds) - 1; i >= 0; i-- {
			p.Destroy(ds[i].Name)
		}
	}()
	store, err := image.Open(filepath.Join(base, "images"), p, "zones")
	if err != nil {
		b.Fatal(err)
	}
	repo, err := OpenRepo(filepath.Join(base, "repo"))
	if err != nil {
		b.Fatal(err)
	}
	const uuid = "b0000000-0000-4000-8000-000000000500"
	file := filepath.Join(base, "image.tar.gz")
	size, sum := writeBenchImage(b, file, mb)
	m := &image.Manifest{V: 2, UUID: uuid, Name: "bench", Version: "1", Type: "zone-dataset", OS: "linux", PublishedAt: "2024-01-01T00:00:00.000Z"}
	if _, err := repo.importImage(m); err != nil {
		b.Fatal(err)
	}
	f, _ := os.Open(file)
	_, err = repo.addFile(uuid, f, "gzip", sum, "", size)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := repo.activate(uuid); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(&Server{Repo: repo})
	defer srv.Close()
	src, _ := image.NewIMGAPI(srv.URL, false)

	var tImport, tTar time.Duration
	for i := 0; i < b.N; i++ {
		exec.Command("sync").Run()
		start := time.Now()
		im := &image.Importer{Store: store, Sources: []image.Source{src}}
		if _, err := im.Import(context.Background(), uuid); err != nil {
			b.Fatal(err)
		}
		tImport += time.Since(start)
		if err := store.Delete(uuid); err != nil {
			b.Fatal(err)
		}

		exec.Command("sync").Run()
		start = time.Now()
		ds, err := p.Create("zones/tar-bench")
		if err != nil {
			b.Fatal(err)
		}
		root := filepath.Join(ds.Mountpoint, "root")
		os.Mkdir(root, 0o755)
		if out, err := exec.Command("tar", "-xzf", file, "-C", root).CombinedOutput(); err != nil {
			b.Fatalf("tar: %v %s", err, out)
		}
		// The import syncs its files before it says installed; so must tar.
		exec.Command("sync", "-f", root).Run()
		tTar += time.Since(start)
		p.Destroy("zones/tar-bench")
	}
	ratio := tTar.Seconds() / tImport.Seconds()
	b.ReportMetric(float64(size)/(1<<20)/(tImport.Seconds()/float64(b.N)), "import-MB/s")
	b.ReportMetric(ratio, "speed-vs-tar")
	fmt.Printf("image file %d MB: import %v, tar -xzf %v per run: import runs at %.2fx the speed of tar (target >= 0.8)\n",
		size>>20, tImport/time.Duration(b.N), tTar/time.Duration(b.N), ratio)
}

// writeBenchImage writes a gzip'd tar of mb 1 MiB files, half random and
// half repetitive (so that gzip has work of both kinds), and returns its
// size and sha1.
func writeBenchImage(b *testing.B, path string, mb int) (int64, string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := sha1.New()
	zw, _ := gzip.NewWriterLevel(io.MultiWriter(f, h), gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	buf := make([]byte, 1<<20)
	for i := 0; i < mb; i++ {
		if i%2 == 0 {
			rand.Read(buf)
		} else {
			for j := range buf {
				buf[j] = byte(j % 61)
			}
		}
		if i%100 == 0 {
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%d/", i/100), Typeflag: tar.TypeDir, Mode: 0o755})
		}
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%d/f%d", i/100, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(buf))})
		tw.Write(buf)
	}
	tw.Close()
	zw.Close()
	st, _ := f.Stat()
	return st.Size(), hex.EncodeToString(h.Sum(nil))
}
