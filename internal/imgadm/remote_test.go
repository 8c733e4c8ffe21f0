package imgadm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hull/internal/image"
	"hull/internal/imgapi"
	"hull/internal/node"
	"hull/internal/pool/dir"
	"hull/internal/testenv"
)

const (
	baseUUID  = "7e1a0000-0000-4000-8000-0000000000b1"
	childUUID = "7e1a0000-0000-4000-8000-0000000000c1"
	otherUUID = "7e1a0000-0000-4000-8000-0000000000d1"
	token     = "s3cret"
)

// remote is a node-like setup: a real dir pool, the image store, and a
// real IMGAPI server on loopback whose requests can be made to fail.
type remote struct {
	t     *testing.T
	base  string
	pool  *dir.Driver
	store *image.Store
	repo  *imgapi.Repo
	srv   *httptest.Server
	env   Env

	mu    sync.Mutex
	fault func(w http.ResponseWriter, r *http.Request) bool // true: handled
}

func newRemote(t *testing.T) *remote {
	testenv.RequireRoot(t)
	base := t.TempDir()
	p, err := dir.New(filepath.Join(base, "pool"), filepath.Join(base, "zones"), "zones")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ds, _ := p.List()
		for i := len(ds) - 1; i >= 0; i-- {
			p.Destroy(ds[i].Name)
		}
	})
	s, err := image.Open(filepath.Join(base, "images"), p, "zones")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := imgapi.OpenRepo(filepath.Join(base, "repo"))
	if err != nil {
		t.Fatal(err)
	}
	rm := &remote{t: t, base: base, pool: p, store: s, repo: repo}
	api := &imgapi.Server{Repo: repo, Token: token}
	rm.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rm.mu.Lock()
		f := rm.fault
		rm.mu.Unlock()
		if f != nil && f(w, r) {
			return
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(rm.srv.Close)
	off := false
	rm.env = Env{Open: func() (*image.Store, error) { return rm.store, nil }, DownloadIdleTimeout: 300 * time.Millisecond, Progress: &off}
	t.Setenv("IMGADM_TOKEN", token)
	return rm
}

func (rm *remote) setFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	rm.mu.Lock()
	rm.fault = f
	rm.mu.Unlock()
}

func (rm *remote) run(args ...string) (int, string, string) {
	var o, e bytes.Buffer
	code := Main(args, &o, &e, rm.env)
	return code, o.String(), e.String()
}

func (rm *remote) ok(args ...string) string {
	rm.t.Helper()
	code, out, errOut := rm.run(args...)
	if code != 0 {
		rm.t.Fatalf("imgadm %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// tgz builds a gzip'd tar of the given files ("dir/" for a directory).
func tgz(files map[string]string, order ...string) []byte {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, name := range order {
		if strings.HasSuffix(name, "/") {
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755})
			continue
		}
		body := files[name]
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	var gb bytes.Buffer
	zw := gzip.NewWriter(&gb)
	zw.Write(tb.Bytes())
	zw.Close()
	return gb.Bytes()
}

// publish writes a manifest and file and publishes them with imgadm.
func (rm *remote) publish(uuid, name, origin, published string, file []byte) {
	rm.t.Helper()
	sum := sha1.Sum(file)
	m := map[string]any{
		"v": 2, "uuid": uuid, "name": name, "version": "1.0.0", "type": "zone-dataset", "os": "linux",
		"owner": "00000000-0000-0000-0000-000000000000", "public": true, "published_at": published,
		"files": []any{map[string]any{"sha1": hex.EncodeToString(sum[:]), "size": len(file), "compression": "gzip"}},
	}
	if origin != "" {
		m["origin"] = origin
	}
	b, _ := json.Marshal(m)
	mp := filepath.Join(rm.base, uuid+".imgmanifest")
	fp := filepath.Join(rm.base, uuid+".tar.gz")
	os.WriteFile(mp, b, 0o644)
	os.WriteFile(fp, file, 0o644)
	out := rm.ok("publish", "-m", mp, "-f", fp, rm.srv.URL)
	if !strings.HasPrefix(out, "Published image "+uuid+" ("+name+"@1.0.0, state=active)") {
		rm.t.Fatalf("publish: %q", out)
	}
}

// clean checks that nothing of an unfinished import is left.
func (rm *remote) clean(uuid string) {
	rm.t.Helper()
	ds, _ := rm.pool.List()
	for _, d := range ds {
		if strings.Contains(d.Name, uuid) {
			rm.t.Errorf("dataset left: %s", d.Name)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(rm.base, "images"))
	for _, e := range ents {
		if strings.Contains(e.Name(), uuid) && !strings.HasSuffix(e.Name(), ".lock") {
			rm.t.Errorf("database file left: %s", e.Name())
		}
	}
}

func (rm *remote) useSource() {
	rm.ok("sources", "-d", image.DefaultSourceURL)
	if out := rm.ok("sources", "-a", rm.srv.URL); out != "Added \"imgapi\" image source \""+rm.srv.URL+"\"\n" {
		rm.t.Fatalf("sources -a: %q", out)
	}
}

func TestIMGAPICommands(t *testing.T) {
	rm := newRemote(t)
	rm.useSource()
	if out := rm.ok("sources"); out != rm.srv.URL+"\n" {
		t.Errorf("sources: %q", out)
	}
	if out := rm.ok("sources", "-a", rm.srv.URL); !strings.HasPrefix(out, "Already have") {
		t.Errorf("sources -a again: %q", out)
	}
	if out := rm.ok("sources", "-c"); out != rm.srv.URL+"  ok\n" {
		t.Errorf("sources -c: %q", out)
	}
	if code, _, _ := rm.run("sources", "-a", "http://127.0.0.1:1"); code != 1 {
		t.Errorf("sources -a of a dead URL: exit %d", code)
	}

	rm.publish(baseUUID, "base", "", "2024-01-01T00:00:00.000Z",
		tgz(map[string]string{"etc/motd": "base\n", "etc/gone": "x"}, "etc/", "etc/motd", "etc/gone"))
	rm.publish(childUUID, "child", baseUUID, "2024-02-01T00:00:00.000Z",
		tgz(map[string]string{"etc/motd": "child\n", "etc/.wh.gone": ""}, "etc/", "etc/motd", "etc/.wh.gone"))
	if out := rm.ok("avail", "-H", "-o", "uuid,name,published"); out != baseUUID+"  base   2024-01-01T00:00:00Z\n"+childUUID+"  child  2024-02-01T00:00:00Z\n" {
		t.Errorf("avail:\n%s", out)
	}
	if out := rm.ok("avail", "-H", "-o", "name", "name=~chi"); out != "child\n" {
		t.Errorf("avail filter: %q", out)
	}
	var shown map[string]any
	if err := json.Unmarshal([]byte(rm.ok("show", childUUID)), &shown); err != nil || shown["origin"] != baseUUID || shown["state"] != "active" {
		t.Errorf("show: %v %v", err, shown)
	}
	if code, _, e := rm.run("show", otherUUID); code != 1 || !strings.Contains(e, "(ActiveImageNotFound)") {
		t.Errorf("show of a missing image: %d %s", code, e)
	}

	// Importing the child brings its origin first.
	out := rm.ok("import", "-q", childUUID)
	want := "Importing origin image " + baseUUID + " (base@1.0.0) from \"" + rm.srv.URL + "\"\n" +
		"Imported image " + baseUUID + " (base@1.0.0)\n" +
		"Importing " + childUUID + " (child@1.0.0) from \"" + rm.srv.URL + "\"\n" +
		"Imported image " + childUUID + " (child@1.0.0)\n"
	if out != want {
		t.Errorf("import:\n%s\nwant:\n%s", out, want)
	}
	mp, _ := rm.store.Mountpoint(childUUID)
	if b, _ := os.ReadFile(filepath.Join(mp, "root/etc/motd")); string(b) != "child\n" {
		t.Errorf("child motd %q", b)
	}
	if _, err := os.Stat(filepath.Join(mp, "root/etc/gone")); !os.IsNotExist(err) {
		t.Errorf("whiteout not applied: %v", err)
	}
	if out := rm.ok("import", childUUID); out != "Image "+childUUID+" (child@1.0.0) is already installed, skipping\n" {
		t.Errorf("import again: %q", out)
	}
	if out := rm.ok("list", "-H", "-o", "name,source,clones"); out != "base   "+rm.srv.URL+"  1\nchild  "+rm.srv.URL+"  0\n" {
		t.Errorf("list:\n%s", out)
	}
	if out := rm.ok("ancestry", childUUID); out != "UUID                                  NAME   VERSION  PUBLISHED\n"+
		childUUID+"  child  1.0.0    2024-02-01T00:00:00Z\n"+baseUUID+"  base   1.0.0    2024-01-01T00:00:00Z\n" {
		t.Errorf("ancestry:\n%s", out)
	}
	if code, _, _ := rm.run("ancestry", otherUUID); code != 3 {
		t.Errorf("ancestry of a missing image: exit %d", code)
	}
	if out := rm.ok("update"); out != "" {
		t.Errorf("update: %q", out)
	}

	// The base has a clone (the child): delete refuses, vacuum skips it.
	if code, _, e := rm.run("delete", baseUUID); code != 1 || !strings.Contains(e, "(ImageHasDependentClones)") {
		t.Errorf("delete with clones: %d %s", code, e)
	}
	if out := rm.ok("vacuum", "-n"); out != "[dry-run] Deleted image "+childUUID+" (child@1.0.0)\n[dry-run] Deleted 1 unused image.\n" {
		t.Errorf("vacuum -n: %q", out)
	}
	rm.ok("vacuum", "-f")
	if out := rm.ok("vacuum", "-f"); out != "Deleted image "+baseUUID+" (base@1.0.0)\nDeleted 1 unused image.\n" {
		t.Errorf("second vacuum: %q", out)
	}
	if out := rm.ok("vacuum"); out != "There are no unused images to delete.\n" {
		t.Errorf("empty vacuum: %q", out)
	}
	rm.clean(baseUUID)
	rm.clean(childUUID)
}

func TestParallelImportsAndResume(t *testing.T) {
	rm := newRemote(t)
	rm.useSource()
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	rm.publish(baseUUID, "one", "", "2024-01-01T00:00:00.000Z", tgz(map[string]string{"a": string(big)}, "a"))
	rm.publish(otherUUID, "two", "", "2024-01-02T00:00:00.000Z", tgz(map[string]string{"b": string(big)}, "b"))
	// Each download is cut once half-way; the import resumes it.
	cut := map[string]bool{}
	rm.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/file") || r.Header.Get("Range") != "" {
			return false
		}
		rm.mu.Lock()
		done := cut[r.URL.Path]
		cut[r.URL.Path] = true
		rm.mu.Unlock()
		if done {
			return false
		}
		rec := &cutWriter{ResponseWriter: w, left: 20000}
		defer func() { recover() }()
		(&imgapi.Server{Repo: rm.repo, Token: token}).ServeHTTP(rec, r)
		return true
	})
	var wg sync.WaitGroup
	codes := make([]int, 2)
	outs := make([]string, 2)
	for i, u := range []string{baseUUID, otherUUID} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, o, e := rm.run("import", u)
			codes[i], outs[i] = c, o+e
		}()
	}
	wg.Wait()
	for i := range codes {
		if codes[i] != 0 {
			t.Errorf("import %d: exit %d\n%s", i, codes[i], outs[i])
		}
	}
	if len(cut) != 2 {
		t.Errorf("downloads cut: %v", cut)
	}
	mp, _ := rm.store.Mountpoint(otherUUID)
	if b, _ := os.ReadFile(filepath.Join(mp, "root/b")); !bytes.Equal(b, big) {
		t.Errorf("resumed file differs (%d bytes)", len(b))
	}
}

// cutWriter drops the connection after left bytes of body.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) > c.left {
		c.ResponseWriter.Write(p[:c.left])
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	c.left -= len(p)
	return c.ResponseWriter.Write(p)
}

func TestImportFaults(t *testing.T) {
	rm := newRemote(t)
	rm.useSource()
	file := tgz(map[string]string{"etc/motd": strings.Repeat("hello\n", 50000)}, "etc/", "etc/motd")
	rm.publish(baseUUID, "base", "", "2024-01-01T00:00:00.000Z", file)
	orig, _ := os.ReadFile(rm.repo.FilePath(baseUUID))

	tests := []struct {
		name  string
		setup func()
		want  string
	}{
		{"sha1 mismatch", func() {
			bad := append([]byte{}, orig...)
			bad[len(bad)/2] ^= 0xff
			os.WriteFile(rm.repo.FilePath(baseUUID), bad, 0o644)
		}, "(DownloadError): install image " + baseUUID + ": image file checksum (sha1) error: manifest says"},
		{"truncated file", func() {
			os.WriteFile(rm.repo.FilePath(baseUUID), orig[:len(orig)/2], 0o644)
		}, "(DownloadError): install image " + baseUUID + ": image file size error: manifest says " + itoa(len(orig)) + " bytes, downloaded file is " + itoa(len(orig)/2) + " bytes"},
		{"server 500", func() {
			rm.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasSuffix(r.URL.Path, "/file") {
					http.Error(w, `{"code":"InternalError","message":"disk on fire"}`, 500)
					return true
				}
				return false
			})
		}, "download image " + baseUUID + " from " + rm.srv.URL + ": InternalError: disk on fire (HTTP 500) (after 4 attempts)"},
		{"timeout mid-download", func() {
			rm.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, "/file") {
					return false
				}
				w.Header().Set("Content-Length", itoa(len(orig)))
				w.Write(orig[:len(orig)/3])
				w.(http.Flusher).Flush()
				<-r.Context().Done()
				return true
			})
		}, "download image " + baseUUID + " from " + rm.srv.URL + ": timeout: no data for 300ms (after 4 attempts)"},
		{"manifest with bad fields", func() {
			rm.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/images/"+baseUUID {
					return false
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"v":2,"uuid":"` + baseUUID + `","name":"base","version":"1.0.0","type":"bogus","os":"linux","state":"active","files":[{"sha1":"x","size":1,"compression":"gzip"}]}`))
				return true
			})
		}, "(ManifestValidation): image " + baseUUID + " from " + rm.srv.URL + ": invalid manifest: type (invalid image type, \"bogus\""},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "-"), func(t *testing.T) {
			os.WriteFile(rm.repo.FilePath(baseUUID), orig, 0o644)
			rm.setFault(nil)
			tt.setup()
			defer rm.setFault(nil)
			code, _, e := rm.run("import", "-q", baseUUID)
			if code != 1 || !strings.Contains(e, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant it to contain:\n%s", code, e, tt.want)
			}
			rm.clean(baseUUID)
		})
	}
	// After all that, the image imports.
	os.WriteFile(rm.repo.FilePath(baseUUID), orig, 0o644)
	rm.ok("import", baseUUID)
}

func itoa(n int) string { return strings.TrimSpace(strings.ReplaceAll(jsonNum(n), "\n", "")) }

func jsonNum(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestKillDuringImport kills `hull imgadm import` half-way through the
// image file; the next command that opens the store finds no trace.
func TestKillDuringImport(t *testing.T) {
	rm := newRemote(t)
	big := make([]byte, 4<<20)
	for i := range big {
		big[i] = byte(i * 13 % 241)
	}
	rm.publish(baseUUID, "base", "", "2024-01-01T00:00:00.000Z", tgz(map[string]string{"big": string(big)}, "big"))
	// The next command to open the node finds no trace of the import.
	n, root := importKilledMidExtract(t, rm.srv.URL, baseUUID)
	t.Cleanup(func() {
		n.Images.Delete(baseUUID)
		n.ClosePool()
	})
	if ents, _ := os.ReadDir(filepath.Join(root, "images")); len(ents) != 1 {
		t.Errorf("image database after reopening: %v", ents)
	}
	s := n.Images
	im := &image.Importer{Store: s, Sources: mustSource(t, rm.srv.URL)}
	if _, err := im.Import(context.Background(), baseUUID); err != nil {
		t.Fatalf("import after the crash: %v", err)
	}
}

// importKilledMidExtract runs `imgadm import -q -S source ref` on a new
// node with a failpoint that kills it mid-extract, then opens the node
// again and checks that no dataset is left. The caller deletes what it
// imports later and closes the pool.
func importKilledMidExtract(t *testing.T, source, ref string) (n *node.Node, root string) {
	t.Helper()
	root = t.TempDir()
	os.Chmod(filepath.Dir(root), 0o711) // zones must reach their roots
	t.Setenv("HULL_BINARY", testenv.HullBinary(t))
	t.Cleanup(func() { node.ExportPool(root) })
	cmd := exec.Command(testenv.HullBinary(t), "imgadm", "import", "-q", "-S", source, ref)
	cmd.Env = append(os.Environ(), "HULL_ROOT="+root, "HULL_FAILPOINT=image/mid-extract")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("import survived its failpoint: %s", out)
	}
	n, err = node.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if ds, _ := n.Pool.List(); len(ds) != 0 {
		t.Errorf("datasets left after reopening: %v", ds)
	}
	return n, root
}

func mustSource(t *testing.T, url string) []image.Source {
	src, err := image.NewIMGAPI(url, false)
	if err != nil {
		t.Fatal(err)
	}
	return []image.Source{src}
}
