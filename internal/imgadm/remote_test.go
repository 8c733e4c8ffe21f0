package imgadm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	api   *imgapi.Server // its Channels may be set before the first call
	srv   *httptest.Server
	env   Env

	mu    sync.Mutex
	fault func(w http.ResponseWriter, r *http.Request) bool // true: handled
}

func newRemote(t *testing.T) *remote { return newRemoteWith(t, nil) }

// newRemoteWith is newRemote with setup run on the test's directory
// before the pool is made in it.
func newRemoteWith(t *testing.T, setup func(base string)) *remote {
	testenv.RequireRoot(t)
	base := t.TempDir()
	if setup != nil {
		setup(base)
	}
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
	api := &imgapi.Server{Repo: repo, Token: token}
	rm := &remote{t: t, base: base, pool: p, store: s, repo: repo, api: api}
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
	want := "Imported image " + uuid + " (" + name + ", 1.0.0, state=unactivated)\n" +
		"Added file \"" + fp + "\" (compression \"gzip\") to image " + uuid + "\n" +
		"Activated image " + uuid + "\n" +
		"Successfully published image " + uuid + " to " + rm.srv.URL + "\n"
	if out != want {
		rm.t.Fatalf("publish:\n%s\nwant:\n%s", out, want)
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
	// The same source however written: no scheme, a trailing slash.
	if out := rm.ok("sources", "-a", strings.TrimPrefix(rm.srv.URL, "http://")+"/"); out != "Already have \"imgapi\" image source \""+rm.srv.URL+"\", no change\n" {
		t.Errorf("sources -a again: %q", out)
	}

	baseFile := tgz(map[string]string{"etc/motd": "base\n", "etc/gone": "x"}, "etc/", "etc/motd", "etc/gone")
	childFile := tgz(map[string]string{"etc/motd": "child\n", "etc/.wh.gone": ""}, "etc/", "etc/motd", "etc/.wh.gone")
	rm.publish(baseUUID, "base", "", "2024-01-01T00:00:00.000Z", baseFile)
	rm.publish(childUUID, "child", baseUUID, "2024-02-01T00:00:00.000Z", childFile)
	if out := rm.ok("avail"); out != "UUID                                  NAME   VERSION  OS     TYPE          PUB\n"+
		baseUUID+"  base   1.0.0    linux  zone-dataset  2024-01-01\n"+
		childUUID+"  child  1.0.0    linux  zone-dataset  2024-02-01\n" {
		t.Errorf("avail:\n%s", out)
	}
	if out := rm.ok("avail", "-H", "-o", "uuid,name,published", "-s", "-published_at"); out != childUUID+"  child  2024-02-01T00:00:00Z\n"+baseUUID+"  base   2024-01-01T00:00:00Z\n" {
		t.Errorf("avail -s:\n%s", out)
	}
	if out := rm.ok("avail", "-H", "-o", "name", "name=~chi"); out != "child\n" {
		t.Errorf("avail filter: %q", out)
	}
	var avail []struct {
		Manifest image.Manifest `json:"manifest"`
		Source   string         `json:"source"`
	}
	if err := json.Unmarshal([]byte(rm.ok("avail", "-j", "name=base")), &avail); err != nil || len(avail) != 1 ||
		avail[0].Manifest.UUID != baseUUID || avail[0].Source != rm.srv.URL {
		t.Errorf("avail -j: %v %+v", err, avail)
	}
	var shown map[string]any
	if err := json.Unmarshal([]byte(rm.ok("show", childUUID)), &shown); err != nil || shown["origin"] != baseUUID || shown["state"] != "active" {
		t.Errorf("show: %v %v", err, shown)
	}

	// Importing the child brings its origin first.
	out := rm.ok("import", "-q", childUUID)
	want := "Importing " + childUUID + " (child@1.0.0) from \"" + rm.srv.URL + "\"\n" +
		"Gather image " + childUUID + " ancestry\n" +
		"Must download and install 2 images (" + image.HumanSize(int64(len(baseFile)+len(childFile))) + ")\n" +
		"Downloaded image " + baseUUID + " (" + image.HumanSize(int64(len(baseFile))) + ")\n" +
		"Imported image " + baseUUID + " (base@1.0.0)\n" +
		"Downloaded image " + childUUID + " (" + image.HumanSize(int64(len(childFile))) + ")\n" +
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
	if out := rm.ok("import", childUUID); out != "Image "+childUUID+" (child 1.0.0) is already installed, skipping\n" {
		t.Errorf("import again: %q", out)
	}
	if out := rm.ok("list", "-H", "-o", "name,source,clones"); out != "base   "+rm.srv.URL+"  1\nchild  "+rm.srv.URL+"  0\n" {
		t.Errorf("list:\n%s", out)
	}
	var got struct {
		Manifest image.Manifest `json:"manifest"`
		Zpool    string         `json:"zpool"`
		Source   string         `json:"source"`
		Children *struct {
			Snapshots []string `json:"snapshots"`
			Clones    []string `json:"clones"`
		} `json:"children"`
	}
	if err := json.Unmarshal([]byte(rm.ok("get", "-r", baseUUID)), &got); err != nil || got.Children == nil ||
		!slices.Equal(got.Children.Snapshots, []string{"zones/" + baseUUID + "@final"}) ||
		!slices.Equal(got.Children.Clones, []string{"zones/" + childUUID}) || got.Source != rm.srv.URL {
		t.Errorf("get -r: %v %+v", err, got)
	}
	if out := rm.ok("ancestry", childUUID); out != "UUID                                  NAME   VERSION  PUBLISHED\n"+
		childUUID+"  child  1.0.0    2024-02-01T00:00:00Z\n"+baseUUID+"  base   1.0.0    2024-01-01T00:00:00Z\n" {
		t.Errorf("ancestry:\n%s", out)
	}
	if out := rm.ok("update"); out != "" {
		t.Errorf("update: %q", out)
	}

	// The base has a clone (the child): delete refuses, with SmartOS's
	// message; vacuum deletes the child, then the base.
	rm.expect(1, "", "imgadm delete: error (ImageHasDependentClones): image \""+baseUUID+"\" has dependent clones: zones/"+childUUID+"\n", "delete", baseUUID)
	rm.expect(0, "[dry-run] Deleted image "+childUUID+" (child@1.0.0)\n[dry-run] Deleted image "+baseUUID+" (base@1.0.0)\n", "", "vacuum", "-n")
	rm.expect(0, "Deleted image "+childUUID+" (child@1.0.0)\nDeleted image "+baseUUID+" (base@1.0.0)\n", "", "vacuum", "-f")
	rm.expect(0, "", "", "vacuum")
	rm.clean(baseUUID)
	rm.clean(childUUID)
}

// expect runs imgadm and checks its exit status and output ("*": any).
func (rm *remote) expect(want int, wantOut, wantErr string, args ...string) {
	rm.t.Helper()
	code, out, errOut := rm.run(args...)
	if code != want || (wantOut != "*" && out != wantOut) || (wantErr != "*" && errOut != wantErr) {
		rm.t.Errorf("imgadm %s:\n exit %d, want %d\n stdout %q\n   want %q\n stderr %q\n   want %q",
			strings.Join(args, " "), code, want, out, wantOut, errOut, wantErr)
	}
}

// TestSourcesCommand: imgadm sources as SmartOS's: its messages, -v, -j,
// -c's table (a dead source is a row, not a failure), ping errors.
func TestSourcesCommand(t *testing.T) {
	rm := newRemote(t)
	u := rm.srv.URL
	// No config yet: the default source.
	rm.expect(0, image.DefaultSourceURL+"\n", "", "sources")
	rm.expect(0, "Deleted \"imgapi\" image source \""+image.DefaultSourceURL+"\"\n", "", "sources", "-d", image.DefaultSourceURL+"/")
	rm.expect(0, "Do not have image source \"http://nowhere.example\", no change\n", "", "sources", "-d", "http://nowhere.example")
	rm.expect(0, "", "", "sources")
	rm.expect(0, "Added \"imgapi\" image source \""+u+"\"\n", "", "sources", "-a", u)
	rm.expect(0, "Added \"imgapi\" image source \"http://127.0.0.1:1\" (insecure)\n", "", "sources", "-a", "127.0.0.1:1", "-k", "-f")
	rm.expect(0, "Added \"docker\" image source \"http://127.0.0.1:2\"\n", "", "sources", "-a", "http://127.0.0.1:2", "-t", "docker", "-f")
	rm.expect(1, "", "*", "sources", "-a", "http://127.0.0.1:3")
	if _, _, e := rm.run("sources", "-a", "http://127.0.0.1:3"); !strings.HasPrefix(e, "imgadm sources: error (SourcePing): unexpected ping error with \"imgapi\" image source \"http://127.0.0.1:3\": ") {
		t.Errorf("sources -a of a dead source: %q", e)
	}
	rm.expect(0, "URL                     TYPE    INSECURE\n"+
		u+"  imgapi  false\n"+
		"http://127.0.0.1:1      imgapi  true\n"+
		"http://127.0.0.1:2      docker  false\n", "", "sources", "-v")
	var js []map[string]any
	if err := json.Unmarshal([]byte(rm.ok("sources", "-j")), &js); err != nil || len(js) != 3 || js[1]["insecure"] != true || js[2]["type"] != "docker" {
		t.Errorf("sources -j: %v %v", err, js)
	}
	code, out, _ := rm.run("sources", "-c")
	lines := strings.Split(out, "\n")
	if code != 0 || len(lines) != 5 || !strings.HasPrefix(lines[0], "URL ") || !strings.Contains(lines[0], "  OK  ") ||
		!strings.HasPrefix(lines[1], u+"  imgapi  true   -") || !strings.Contains(lines[2], "  imgapi  false  unexpected ping error") {
		t.Errorf("sources -c: exit %d\n%s", code, out)
	}
	rm.expect(2, "", "imgadm sources: error (Usage): cannot specify more than one of \"-a\", \"-d\", \"-e\", and \"-c\"\n"+commandUsage["sources"], "sources", "-a", u, "-c")
	rm.expect(2, "", "imgadm sources: error (Usage): unexpected args: extra\n"+commandUsage["sources"], "sources", "extra")
	// The config is imgadm.conf in the hull root, as /var/imgadm/imgadm.conf.
	b, err := os.ReadFile(filepath.Join(rm.base, "imgadm.conf"))
	var conf struct {
		Sources []image.SourceConfig `json:"sources"`
	}
	if err != nil || json.Unmarshal(b, &conf) != nil || len(conf.Sources) != 3 || conf.Sources[0].URL != u {
		t.Errorf("imgadm.conf: %v %s", err, b)
	}
	// --add-docker-hub is -t docker -a https://docker.io.
	rm.expect(0, "Added \"docker\" image source \"https://docker.io\"\n", "", "sources", "--add-docker-hub", "-f")
	rm.expect(2, "", "*", "sources", "--add-docker-hub", "-d", u)
}

// TestExitCodes: an image that is not installed is exit 3 for get,
// delete and ancestry; show and import of an image no source has are 1,
// as SmartOS's imgadm.
func TestExitCodes(t *testing.T) {
	rm := newRemote(t)
	rm.useSource()
	for _, tt := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"get", otherUUID}, 3, "imgadm get: error (ImageNotInstalled): image \"" + otherUUID + "\" was not found on zpool \"zones\"\n"},
		{[]string{"info", otherUUID}, 3, "imgadm get: error (ImageNotInstalled): image \"" + otherUUID + "\" was not found on zpool \"zones\"\n"},
		{[]string{"delete", otherUUID}, 3, "imgadm delete: error (ImageNotInstalled): image \"" + otherUUID + "\" was not found on zpool \"zones\"\n"},
		{[]string{"ancestry", otherUUID}, 3, "imgadm ancestry: error (ImageNotInstalled): image \"" + otherUUID + "\" was not found on zpool \"zones\"\n"},
		{[]string{"show", otherUUID}, 1, "imgadm show: error (ImageNotFound): image \"" + otherUUID + "\" was not found\n"},
		{[]string{"import", otherUUID}, 1, "imgadm import: error (ActiveImageNotFound): an active image \"" + otherUUID + "\" was not found in image sources\n"},
		{[]string{"update", otherUUID}, 1, "imgadm update: error (Usage): no installed image with the given UUID(s): " + otherUUID + "\n"},
		{[]string{"import", "Not/A:valid:ref"}, 2, "imgadm import: error (Usage): invalid image-id arg: \"Not/A:valid:ref\"\n" + commandUsage["import"]},
		{[]string{"get", "nope"}, 1, "imgadm get: error (InvalidUUID): invalid uuid: \"nope\"\n"},
		{[]string{"vacuum", "extra"}, 2, "imgadm vacuum: error (Usage): unexpected arguments: extra\n" + commandUsage["vacuum"]},
	} {
		rm.expect(tt.code, "", tt.err, tt.args...)
	}
	// Without sources there is nothing to ask.
	rm.ok("sources", "-d", rm.srv.URL)
	for _, c := range []string{"avail", "show " + otherUUID, "import " + otherUUID} {
		rm.expect(1, "", "imgadm "+strings.Fields(c)[0]+": error (NoSources): imgadm has no configured sources\n", strings.Fields(c)...)
	}
}

// TestAvailUpdatePublishErrors: avail prints what the sources that answer
// have and fails for the one that does not; update names the fields a
// source changed; a publish the server refuses leaves nothing there.
func TestAvailUpdatePublishErrors(t *testing.T) {
	rm := newRemote(t)
	rm.useSource()
	file := tgz(map[string]string{"etc/motd": "x\n"}, "etc/", "etc/motd")
	rm.publish(baseUUID, "base", "", "2024-01-01T00:00:00.000Z", file)

	rm.ok("sources", "-a", "http://127.0.0.1:1", "-f")
	code, out, errOut := rm.run("avail", "-H", "-o", "name")
	if code != 1 || out != "base\n" || !strings.HasPrefix(errOut, "imgadm avail: error: source http://127.0.0.1:1: list images: ") {
		t.Errorf("avail with a dead source: exit %d\n%s%s", code, out, errOut)
	}
	rm.ok("sources", "-d", "http://127.0.0.1:1")

	// The local copy differs from the source's in its description: update
	// takes the source's and says which field changed.
	sum := sha1.Sum(file)
	m := map[string]any{"v": 2, "uuid": baseUUID, "name": "base", "version": "1.0.0", "type": "zone-dataset", "os": "linux",
		"owner": "00000000-0000-0000-0000-000000000000", "public": true, "published_at": "2024-01-01T00:00:00.000Z",
		"state": "active", "description": "local copy",
		"files": []any{map[string]any{"sha1": hex.EncodeToString(sum[:]), "size": len(file), "compression": "gzip"}}}
	b, _ := json.Marshal(m)
	mp, fp := filepath.Join(rm.base, "local.json"), filepath.Join(rm.base, "local.tgz")
	os.WriteFile(mp, b, 0o644)
	os.WriteFile(fp, file, 0o644)
	rm.ok("install", "-q", "-m", mp, "-f", fp)
	t.Cleanup(func() { rm.store.Delete(baseUUID) })
	msg := "Updated 2 manifest fields for image " + baseUUID + " from \"" + rm.srv.URL + "\": disabled, description\n"
	rm.expect(0, msg, "", "update", "-n")
	rm.expect(0, msg, "", "update", baseUUID)
	rm.expect(0, "", "", "update")
	if img, _ := rm.store.Get(baseUUID); img == nil || img.Manifest.Description != "" || img.Source != rm.srv.URL {
		t.Errorf("after update: %+v", img)
	}

	// A file that is not its manifest's: the server says so, imgadm passes
	// on its code, and the half-published image is deleted again.
	bad := map[string]any{"v": 2, "uuid": otherUUID, "name": "bad", "version": "1", "type": "zone-dataset", "os": "linux",
		"files": []any{map[string]any{"sha1": strings.Repeat("0", 40), "size": len(file), "compression": "gzip"}}}
	b, _ = json.Marshal(bad)
	os.WriteFile(mp, b, 0o644)
	code, out, errOut = rm.run("publish", "-m", mp, "-f", fp, rm.srv.URL)
	if code != 1 || !strings.HasPrefix(out, "Imported image "+otherUUID+" (bad, 1, state=unactivated)\n") ||
		errOut != "imgadm publish: error (Download): "+rm.srv.URL+": \"sha1\" hash, "+strings.Repeat("0", 40)+", does not match the uploaded file sha1 hash, "+hex.EncodeToString(sum[:])+"\n" {
		t.Errorf("publish of a bad file: exit %d\n%s%s", code, out, errOut)
	}
	if _, ok := rm.repoGet(otherUUID); ok {
		t.Errorf("image left on the server after a failed publish")
	}
	// Without the token nothing is made.
	t.Setenv("IMGADM_TOKEN", "")
	rm.expect(1, "", "imgadm publish: error (Unauthorized): "+rm.srv.URL+": authorization required\n", "publish", "-m", mp, "-f", fp, rm.srv.URL)
	// A manifest the server finds invalid: each field on its own line.
	t.Setenv("IMGADM_TOKEN", token)
	bad["type"] = "other"
	bad["inherited_directories"] = []string{"/x"}
	b, _ = json.Marshal(bad)
	os.WriteFile(mp, b, 0o644)
	rm.expect(1, "", "imgadm publish: error (ValidationFailed): "+rm.srv.URL+": invalid manifest: inherited_directories (invalid image \"inherited_directories\" (only valid for a type:zone-dataset image))\n"+
		"    inherited_directories: Invalid: invalid image \"inherited_directories\" (only valid for a type:zone-dataset image)\n", "publish", "-m", mp, "-f", fp, rm.srv.URL)
}

// repoGet asks the server for an image with the token.
func (rm *remote) repoGet(uuid string) (*image.Manifest, bool) {
	c, _ := image.NewIMGAPI(rm.srv.URL, false)
	c.Token = token
	m, err := c.Get(context.Background(), uuid)
	return m, err == nil
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
		}, "imgadm import: error (DownloadError): install image " + baseUUID + ": image " + baseUUID + " file checksum (sha1) error: expected \"" + sha1hex(orig) + "\", downloaded checksum was \""},
		{"truncated file", func() {
			os.WriteFile(rm.repo.FilePath(baseUUID), orig[:len(orig)/2], 0o644)
		}, "imgadm import: error (DownloadError): install image " + baseUUID + ": image " + baseUUID + " file size error: unexpected mismatch between expected size, " + itoa(len(orig)) + ", and Content-Length header, " + itoa(len(orig)/2) + "\n"},
		{"server 500", func() {
			rm.setFault(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasSuffix(r.URL.Path, "/file") {
					http.Error(w, `{"code":"InternalError","message":"disk on fire"}`, 500)
					return true
				}
				return false
			})
		}, "imgadm import: error (InternalError): install image " + baseUUID + ": download image " + baseUUID + " from " + rm.srv.URL + ": InternalError: disk on fire (HTTP 500) (after 4 attempts)\n"},
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

func sha1hex(b []byte) string { s := sha1.Sum(b); return hex.EncodeToString(s[:]) }

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

// TestVerbose: -v traces the requests made to sources on stderr.
func TestVerbose(t *testing.T) {
	rm := newRemote(t)
	rm.useSource()
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	code, _, errOut := rm.run("-v", "avail")
	if code != 0 || !strings.Contains(errOut, `msg=request method=GET url="`+rm.srv.URL+`/images?limit=1000"`) || !strings.Contains(errOut, "status=200") {
		t.Errorf("imgadm -v avail: %d\n%s", code, errOut)
	}
}

// TestImportChannel: -C asks every IMGAPI source for that channel, as
// SmartOS's import -C does, and says so; against a server with channels
// an image is found in its own channel only.
func TestImportChannel(t *testing.T) {
	rm := newRemote(t)
	rm.api.Channels = []imgapi.Channel{{Name: "dev", Description: "d", Default: true}, {Name: "staging", Description: "s"}}
	rm.useSource()
	rm.publish(baseUUID, "base", "", "2024-01-01T00:00:00.000Z", tgz(map[string]string{"a": "a\n"}, "a"))
	// A second image, published into staging.
	other := "0e7e0000-0000-4000-8000-00000000c4a1"
	file := tgz(map[string]string{"b": "b\n"}, "b")
	sum := sha1.Sum(file)
	mb, _ := json.Marshal(map[string]any{"v": 2, "uuid": other, "name": "other", "version": "2.0", "type": "zone-dataset", "os": "linux",
		"public": true, "files": []any{map[string]any{"sha1": hex.EncodeToString(sum[:]), "size": len(file), "compression": "gzip"}}})
	os.WriteFile(filepath.Join(rm.base, "other.json"), mb, 0o644)
	os.WriteFile(filepath.Join(rm.base, "other.tgz"), file, 0o644)
	rm.ok("publish", "-q", "-m", filepath.Join(rm.base, "other.json"), "-f", filepath.Join(rm.base, "other.tgz"), rm.srv.URL+"?channel=staging")
	if out := rm.ok("avail", "-H", "-o", "name"); out != "base\n" {
		t.Errorf("avail in the default channel: %q", out)
	}
	if code, _, errOut := rm.run("import", "-q", other); code != 1 || !strings.Contains(errOut, "ActiveImageNotFound") {
		t.Errorf("import of staging's image from the default channel: %d %s", code, errOut)
	}
	rm.ok("import", "-q", "-C", "staging", other)
	if img, err := rm.store.Get(other); err != nil || img.Manifest.Version != "2.0" {
		t.Errorf("staging's image: %+v %v", img, err)
	}
	rm.ok("delete", other)

	var mu sync.Mutex
	var asked []string
	rm.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		asked = append(asked, r.URL.Path+" "+r.URL.Query().Get("channel"))
		mu.Unlock()
		return false
	})
	out := rm.ok("import", "-q", "-C", "dev", baseUUID)
	if !strings.HasPrefix(out, "Importing "+baseUUID+" (base@1.0.0) from \""+rm.srv.URL+"\", channel \"dev\"\n") {
		t.Errorf("import -C: %q", out)
	}
	for _, a := range asked {
		if !strings.HasSuffix(a, " dev") {
			t.Errorf("request without the channel: %s", a)
		}
	}
	rm.ok("delete", baseUUID)
	rm.expect(1, "", "imgadm import: error (NotSupported): --zstream is not supported: hull's image files are tars, not zfs streams\n", "import", "--zstream", baseUUID)
}
