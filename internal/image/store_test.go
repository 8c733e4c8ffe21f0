package image

import (
	"archive/tar"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"hull/internal/image/imagetest"
	"hull/internal/pool"
)

const (
	uuidA = "1a2b3c4d-0000-4000-8000-00000000000a"
	uuidB = "1a2b3c4d-0000-4000-8000-00000000000b"
)

type env struct {
	t    *testing.T
	dir  string
	pool *imagetest.Pool
	s    *Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	p := imagetest.NewPool(filepath.Join(dir, "pool"))
	s, err := Open(filepath.Join(dir, "db"), p, "zones")
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, pool: p, s: s}
}

// image writes a manifest and an image file for uuid; patch edits the
// manifest (nil removes a field).
func (e *env) image(uuid string, file []byte, patch map[string]any) (manifestPath, filePath string) {
	e.t.Helper()
	sum := sha1.Sum(file)
	m := map[string]any{
		"v": 2, "uuid": uuid, "name": "img-" + uuid[len(uuid)-1:], "version": "1.0",
		"type": "zone-dataset", "os": "linux", "published_at": "2024-01-01T00:00:00Z",
		"files": []any{map[string]any{"sha1": hex.EncodeToString(sum[:]), "size": len(file), "compression": "gzip"}},
	}
	for k, v := range patch {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	manifestPath = filepath.Join(e.dir, uuid+".json")
	filePath = filepath.Join(e.dir, uuid+".tgz")
	os.WriteFile(manifestPath, b, 0o644)
	os.WriteFile(filePath, file, 0o644)
	return manifestPath, filePath
}

func (e *env) install(uuid string, file []byte, patch map[string]any) (*Image, error) {
	mp, fp := e.image(uuid, file, patch)
	return e.s.Install(context.Background(), mp, fp, InstallOptions{})
}

// datasets lists the pool's dataset names.
func (e *env) datasets() []string {
	ds, _ := e.pool.List()
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

// assertNothing checks that no dataset and no database entry for uuid
// remain.
func (e *env) assertNothing(uuid string) {
	e.t.Helper()
	for _, d := range e.datasets() {
		if strings.Contains(d, uuid) {
			e.t.Errorf("dataset %s left behind", d)
		}
	}
	ents, _ := os.ReadDir(e.s.dir)
	for _, f := range ents {
		if strings.Contains(f.Name(), uuid) && !strings.HasSuffix(f.Name(), ".lock") {
			e.t.Errorf("database file %s left behind", f.Name())
		}
	}
	if _, err := e.s.Get(uuid); !errors.Is(err, ErrNotInstalled) {
		e.t.Errorf("Get after failed install: %v", err)
	}
}

func rootfsTar(t *testing.T) []byte {
	return gz(t, mkTar(t,
		ent{name: "./", typ: tar.TypeDir, mode: 0o755},
		ent{name: "./etc/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "./etc/passwd", body: "root:x:0:0:root:/root:/bin/sh\n"},
		ent{name: "./bin/sh", typ: tar.TypeSymlink, link: "/bin/busybox"},
	))
}

func TestInstallListGetDelete(t *testing.T) {
	e := newEnv(t)
	img, err := e.install(uuidA, rootfsTar(t), map[string]any{"published_at": nil})
	if err != nil {
		t.Fatal(err)
	}
	if img.Manifest.PublishedAt == "" {
		t.Error("published_at not defaulted")
	}
	if got := strings.Join(e.datasets(), " "); got != "zones/"+uuidA+" zones/"+uuidA+"@final" {
		t.Errorf("datasets: %s", got)
	}
	ds, _ := e.pool.Get("zones/" + uuidA)
	if b, err := os.ReadFile(filepath.Join(ds.Mountpoint, "root", "etc", "passwd")); err != nil || !strings.HasPrefix(string(b), "root:x:0:0") {
		t.Errorf("root/etc/passwd: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(ds.Mountpoint, ".hull-extract")); !os.IsNotExist(err) {
		t.Errorf("staging directory left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.s.dir, "zones-"+uuidA+".json")); err != nil {
		t.Errorf("manifest file: %v", err)
	}

	got, err := e.s.Get(uuidA)
	if err != nil {
		t.Fatal(err)
	}
	if got.Zpool != "zones" || got.Manifest.UUID != uuidA || got.Manifest.Name != "img-a" {
		t.Errorf("Get = %+v", got)
	}
	b, _ := json.Marshal(got)
	if !strings.HasPrefix(string(b), `{"manifest":{"v":2,"uuid":"`+uuidA) || !strings.HasSuffix(string(b), `"zpool":"zones"}`) {
		t.Errorf("get JSON: %s", b)
	}

	if _, err := e.install(uuidB, rootfsTar(t), map[string]any{"published_at": "2023-01-01T00:00:00Z"}); err != nil {
		t.Fatal(err)
	}
	list, err := e.s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].UUID != uuidB || list[1].UUID != uuidA {
		t.Errorf("List order: %v", list)
	}

	if _, err := e.install(uuidA, rootfsTar(t), nil); !errors.Is(err, ErrAlreadyInstalled) || err.Error() != "Image "+uuidA+" is already installed" {
		t.Errorf("second install: %v", err)
	}

	// A zone cloned from the image blocks its deletion.
	if _, err := e.pool.Clone(SnapshotName(uuidA), "zones/vm1"); err != nil {
		t.Fatal(err)
	}
	err = e.s.Delete(uuidA)
	if !errors.Is(err, pool.ErrHasDependents) || err.Error() != `image "`+uuidA+`" has dependent clones: zones/vm1` {
		t.Errorf("delete with clone: %v", err)
	}
	imgs, _ := e.s.Images()
	if len(imgs[1].CloneNames) != 1 {
		t.Errorf("clones = %v", imgs[1].CloneNames)
	}
	if err := e.pool.Destroy("zones/vm1"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Delete(uuidA); err != nil {
		t.Fatal(err)
	}
	e.assertNothing(uuidA)
	err = e.s.Delete(uuidA)
	if !errors.Is(err, ErrNotInstalled) || err.Error() != `image "`+uuidA+`" was not found on zpool "zones"` {
		t.Errorf("delete twice: %v", err)
	}
}

func TestInstallTarWithRootDir(t *testing.T) {
	e := newEnv(t)
	file := gz(t, mkTar(t,
		ent{name: "root/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "root/etc/hostname", body: "h\n"},
	))
	if _, err := e.install(uuidA, file, nil); err != nil {
		t.Fatal(err)
	}
	ds, _ := e.pool.Get("zones/" + uuidA)
	if b, err := os.ReadFile(filepath.Join(ds.Mountpoint, "root", "etc", "hostname")); err != nil || string(b) != "h\n" {
		t.Errorf("root/etc/hostname: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(ds.Mountpoint, "root", "root")); !os.IsNotExist(err) {
		t.Error("root/ was not stripped")
	}
}

func TestInstallFailuresLeaveNothing(t *testing.T) {
	good := rootfsTar(t)
	sum := sha1.Sum(good)
	tests := []struct {
		name  string
		file  []byte
		patch map[string]any
		setup func(e *env)
		want  string // substring of the error
	}{
		{"sha1 mismatch", good, map[string]any{"files": []any{map[string]any{"sha1": strings.Repeat("0", 40), "size": len(good), "compression": "gzip"}}},
			nil, `image file checksum (sha1) error: manifest says "0000000000000000000000000000000000000000", `},
		{"truncated", good[:len(good)/2], map[string]any{"files": []any{map[string]any{"sha1": hex.EncodeToString(sum[:]), "size": len(good), "compression": "gzip"}}},
			nil, "image file size error: manifest says " + itoa(len(good)) + " bytes, "},
		{"truncated, no files in manifest", good[:len(good)-20], map[string]any{"files": nil}, nil, "unexpected EOF"},
		{"dotdot", gz(t, mkTar(t, ent{name: "../x", body: "x"})), nil, nil, `tar entry "../x": path contains ".."`},
		{"not a tar", []byte("hello, this is not a tar archive at all, not even close......"), nil, nil, "read tar"},
		{"missing origin", good, map[string]any{"origin": uuidB}, nil, `origin: image "` + uuidB + `" was not found on zpool "zones"`},
		{"snapshot fails", good, nil, func(e *env) { e.pool.Fail("snapshot", errors.New("disk on fire")) }, "snapshot: disk on fire"},
		{"rename fails", good, nil, func(e *env) { e.pool.Fail("rename", errors.New("disk on fire")) }, "rename dataset: disk on fire"},
		{"invalid manifest", good, map[string]any{"os": "beos"}, nil, "invalid manifest: os"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(e)
			}
			_, err := e.install(uuidA, tt.file, tt.patch)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			e.assertNothing(uuidA)
			// The same uuid installs fine afterwards.
			if _, err := e.install(uuidA, good, nil); err != nil {
				t.Fatalf("install after failure: %v", err)
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// What a killed install leaves (a -partial dataset, or a published dataset
// without its manifest, with the install record) is gone at the next Open,
// while a VM dataset at <pool>/<uuid> without any record is left alone.
func TestOpenCleansUpInterruptedInstall(t *testing.T) {
	e := newEnv(t)
	// Killed during extraction.
	e.pool.Create("zones/" + uuidA + "-partial")
	os.WriteFile(e.s.recordPath(uuidA), nil, 0o644)
	// Killed before the manifest was written.
	e.pool.Create("zones/" + uuidB)
	e.pool.Snapshot("zones/"+uuidB, "final")
	os.WriteFile(e.s.recordPath(uuidB), nil, 0o644)
	// A stale -partial without a record (an older crash).
	const uuidC = "1a2b3c4d-0000-4000-8000-00000000000c"
	e.pool.Create("zones/" + uuidC + "-partial")
	// A VM's dataset: not an image, must survive.
	const vm = "1a2b3c4d-0000-4000-8000-0000000000ff"
	e.pool.Create("zones/" + vm)

	if _, err := Open(e.s.dir, e.pool, "zones"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(e.datasets(), " "); got != "zones/"+vm {
		t.Errorf("datasets after Open: %s", got)
	}
	e.assertNothing(uuidA)
	e.assertNothing(uuidB)
}

// Open does not touch an install that is running (its lock is held).
func TestOpenSkipsLiveInstall(t *testing.T) {
	e := newEnv(t)
	unlock, err := e.s.lock(context.Background(), uuidA)
	if err != nil {
		t.Fatal(err)
	}
	e.pool.Create("zones/" + uuidA + "-partial")
	os.WriteFile(e.s.recordPath(uuidA), nil, 0o644)
	if _, err := Open(e.s.dir, e.pool, "zones"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Get("zones/" + uuidA + "-partial"); err != nil {
		t.Errorf("live install's dataset removed: %v", err)
	}
	unlock()
	if _, err := e.install(uuidA, rootfsTar(t), nil); err != nil {
		t.Fatalf("install after the stale one: %v", err)
	}
}

func TestConcurrentInstalls(t *testing.T) {
	e := newEnv(t)
	file := rootfsTar(t)
	mpA, fpA := e.image(uuidA, file, nil)
	mpB, fpB := e.image(uuidB, file, nil)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mp, fp := mpA, fpA
			if i%2 == 1 {
				mp, fp = mpB, fpB
			}
			_, errs[i] = e.s.Install(context.Background(), mp, fp, InstallOptions{})
		}()
	}
	wg.Wait()
	var ok, already int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrAlreadyInstalled):
			already++
		default:
			t.Errorf("install: %v", err)
		}
	}
	if ok != 2 || already != 4 {
		t.Errorf("%d installed, %d already installed; want 2 and 4", ok, already)
	}
	if got := strings.Join(e.datasets(), " "); got != "zones/"+uuidA+" zones/"+uuidA+"@final zones/"+uuidB+" zones/"+uuidB+"@final" {
		t.Errorf("datasets: %s", got)
	}
}

func TestInstallIncremental(t *testing.T) {
	e := newEnv(t)
	if _, err := e.install(uuidA, rootfsTar(t), nil); err != nil {
		t.Fatal(err)
	}
	layer := gz(t, mkTar(t,
		ent{name: "etc/motd", body: "hello\n"},
		ent{name: "etc/.wh.passwd", body: ""},
	))
	if _, err := e.install(uuidB, layer, map[string]any{"origin": uuidA}); err != nil {
		t.Fatal(err)
	}
	ds, _ := e.pool.Get("zones/" + uuidB)
	if ds.Origin != SnapshotName(uuidA) {
		t.Errorf("origin = %q", ds.Origin)
	}
	var got []string
	filepath.Walk(filepath.Join(ds.Mountpoint, "root"), func(p string, fi os.FileInfo, err error) error {
		if !fi.IsDir() {
			got = append(got, strings.TrimPrefix(p, ds.Mountpoint+"/"))
		}
		return nil
	})
	sort.Strings(got)
	if strings.Join(got, " ") != "root/bin/sh root/etc/motd" {
		t.Errorf("files: %v", got)
	}
	// The origin has a dependent now.
	if err := e.s.Delete(uuidA); !errors.Is(err, pool.ErrHasDependents) {
		t.Errorf("delete origin: %v", err)
	}
}

func TestInstallCancelled(t *testing.T) {
	e := newEnv(t)
	mp, fp := e.image(uuidA, rootfsTar(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.s.Install(ctx, mp, fp, InstallOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	e.assertNothing(uuidA)
}

func TestSnapshotName(t *testing.T) {
	if got := SnapshotName(uuidA); got != "zones/"+uuidA+"@final" {
		t.Error(got)
	}
}

// An install that waits for another's lock says so once, after a second,
// and goes on when the lock is free.
func TestInstallSaysItWaits(t *testing.T) {
	e := newEnv(t)
	unlock, err := e.s.lock(context.Background(), uuidA)
	if err != nil {
		t.Fatal(err)
	}
	mp, fp := e.image(uuidA, rootfsTar(t), nil)
	waited := make(chan time.Time, 2)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := e.s.Install(context.Background(), mp, fp, InstallOptions{Waiting: func() { waited <- time.Now() }})
		done <- err
	}()
	select {
	case at := <-waited:
		if d := at.Sub(start); d < lockWaitNotice {
			t.Errorf("said it waits after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("never said it waits")
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(waited) != 0 {
		t.Error("said it waits more than once")
	}
}
