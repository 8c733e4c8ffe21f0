package btrfs

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"hull/internal/pool/pooltest"
)

func TestCompressionMapping(t *testing.T) {
	tests := []struct{ in, want string }{
		{"off", ""}, {"", ""}, {"lz4", "lzo"}, {"lzjb", "lzo"}, {"zle", "lzo"},
		{"gzip", "zlib"}, {"gzip-9", "zlib"}, {"on", "zstd"}, {"zstd", "zstd"},
	}
	for _, tc := range tests {
		if got, err := Compression(tc.in); err != nil || got != tc.want {
			t.Errorf("Compression(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"gzip-0", "gzip-10", "lz5", "ON"} {
		if _, err := Compression(bad); err == nil {
			t.Errorf("Compression(%q) accepted", bad)
		}
	}
}

// usedAfter writes 16 MiB of text to a new dataset with compression
// zfs and returns what the dataset uses.
func usedAfter(t *testing.T, d *Driver, name, zfs string) int64 {
	t.Helper()
	a, err := d.Create("zones/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetCompression(a.Name, zfs); err != nil {
		t.Fatal(err)
	}
	text := bytes.Repeat([]byte("hull compresses this line well enough\n"), (16<<20)/38)
	if err := os.WriteFile(filepath.Join(a.Mountpoint, "etc.txt"), text, 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := d.Get(a.Name)
	if err != nil {
		t.Fatal(err)
	}
	return g.Used
}

func TestCompression(t *testing.T) {
	pooltest.RequireRoot(t)
	d, _ := newPool(t, 1<<30)
	off := usedAfter(t, d, "off", "off")
	for _, alg := range []string{"lz4", "zstd", "gzip-6"} {
		on := usedAfter(t, d, alg, alg)
		if on*4 > off {
			t.Errorf("%s: dataset uses %d bytes, uncompressed %d", alg, on, off)
		}
	}
	if err := d.SetCompression("zones/nope", "lz4"); err == nil {
		t.Error("SetCompression on a missing dataset worked")
	}
}

func TestVolume(t *testing.T) {
	pooltest.RequireRoot(t)
	d, base := newPool(t, 1<<30)
	// The image lives on the pool too (reflinks work within a filesystem).
	img := filepath.Join(d.store, "img.raw")
	data := make([]byte, 8<<20)
	rand.Read(data)
	if err := os.WriteFile(img, data, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(img)
	p, err := d.CreateVolume("zones/u-disk0", 64<<20, img)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p, filepath.Join(base, "zones", "u-disk0")) {
		t.Errorf("volume at %s", p)
	}
	got, err := os.ReadFile(p)
	if err != nil || len(got) != 64<<20 || !bytes.Equal(got[:len(data)], data) {
		t.Fatalf("volume content: %d bytes, %v", len(got), err)
	}
	if g, err := d.Get("zones/u-disk0"); err != nil || g.Used > 1<<20 {
		t.Errorf("reflinked volume uses %+v, %v; want ~nothing", g, err)
	}
	if _, err := d.CreateVolume("zones/u-disk0", 1<<20, ""); err == nil {
		t.Error("CreateVolume twice worked")
	}
	if _, err := d.CreateVolume("zones/u-disk1", 1<<20, "/nonexistent"); err == nil {
		t.Error("CreateVolume from a missing file worked")
	}
	if ok, _ := d.Exists("zones/u-disk1"); ok {
		t.Error("a failed CreateVolume left its dataset")
	}
}

func TestStatusScrub(t *testing.T) {
	pooltest.RequireRoot(t)
	d, base := newPool(t, 1<<30)
	a, _ := d.Create("zones/a")
	os.WriteFile(filepath.Join(a.Mountpoint, "f"), make([]byte, 4<<20), 0o644)
	d.Snapshot("zones/a", "s")
	s, err := d.Status()
	if err != nil {
		t.Fatal(err)
	}
	if s.Size < 900<<20 || s.Free <= 0 || s.Alloc <= 0 || s.Datasets != 1 || s.Snapshots != 1 || !s.QuotaOK {
		t.Errorf("status = %+v", s)
	}
	if s.BackingFile != filepath.Join(base, "pool.img") || !strings.HasPrefix(s.Device, "/dev/loop") {
		t.Errorf("status device %q file %q", s.Device, s.BackingFile)
	}
	f, _ := os.Open(a.Mountpoint)
	unix.Syncfs(int(f.Fd()))
	f.Close()
	r, err := d.Scrub()
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors() != 0 || r.DataBytes < 4<<20 {
		t.Errorf("scrub = %+v", r)
	}
}
