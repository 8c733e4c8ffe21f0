package imgadm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"hull/internal/image"
	"hull/internal/image/registrytest"
)

// datasets lists the pool's datasets (not snapshots).
func (rm *remote) datasets() []string {
	ds, _ := rm.pool.List()
	var out []string
	for _, d := range ds {
		if !strings.Contains(d.Name, "@") {
			out = append(out, d.Name)
		}
	}
	return out
}

func (rm *remote) cleanAll() {
	for i := 0; i < 5; i++ {
		imgs, _ := rm.store.Images()
		for _, img := range imgs {
			rm.store.Delete(img.Manifest.UUID)
		}
	}
}

func TestDockerRegistry(t *testing.T) {
	rm := newRemote(t)
	reg := registrytest.Start(t, false)
	a, b := registrytest.TestImages(t)
	reg.Push(t, "hull/a:1.0", a)
	reg.Push(t, "hull/b:latest", b)
	ua, ub := registrytest.LayerUUIDs(t, a), registrytest.LayerUUIDs(t, b)
	if ua[0] != ub[0] || ua[1] == ub[1] {
		t.Fatalf("layer uuids: a %v b %v", ua, ub)
	}
	t.Cleanup(rm.cleanAll)

	out := rm.ok("sources", "-a", reg.URL, "-t", "docker")
	if out != "Added \"docker\" image source \""+reg.URL+"\"\n" {
		t.Errorf("sources -a: %q", out)
	}
	out = rm.ok("import", "-q", "hull/a:1.0")
	want := "Importing " + ua[1] + " (hull/a:1.0) from \"" + reg.URL + "\"\n" +
		"Gather image " + ua[1] + " ancestry\n" +
		"Must download and install 2 images ("
	if !strings.HasPrefix(out, want) || strings.Count(out, "Imported image") != 2 {
		t.Errorf("import a:\n%s\nwant prefix\n%s", out, want)
	}
	top, err := rm.store.Get(ua[1])
	if err != nil {
		t.Fatal(err)
	}
	m := top.Manifest
	if m.Origin != ua[0] || m.Type != "docker" || m.Name != "docker-layer" || m.Tags["docker:repo"] != "hull/a" || m.Tags["docker:tag:1.0"] != true {
		t.Errorf("top manifest: %+v", m)
	}
	if c := image.DockerConfigOf(m); c == nil || c.WorkingDir != "/app" || c.Entrypoint[0] != "/app/run.sh" {
		t.Errorf("docker:config: %+v", c)
	}
	// As SmartOS's, a docker layer's checksum is its digest: no sha1.
	if len(m.Files) != 1 || m.Files[0].SHA1 != "" || !strings.HasPrefix(m.Files[0].Digest, "sha256:") || m.Files[0].Size <= 0 {
		t.Errorf("files: %+v", m.Files)
	}
	// Whiteout applied in the top layer only.
	topRoot := filepath.Join(rm.base, "zones", ua[1], "root")
	baseRoot := filepath.Join(rm.base, "zones", ua[0], "root")
	if _, err := os.Stat(filepath.Join(topRoot, "bin", "vi")); !os.IsNotExist(err) {
		t.Errorf("bin/vi in top layer: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(baseRoot, "bin", "vi")); err != nil {
		t.Errorf("bin/vi in base layer: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(topRoot, "app", "run.sh")); err != nil || string(b) != registrytest.RunScript {
		t.Errorf("app/run.sh: %q %v", b, err)
	}

	// The second image shares the base: only its top layer is fetched,
	// and the pool holds three layer datasets.
	out = rm.ok("import", "-q", "hull/b:latest")
	if strings.Count(out, "Imported image") != 1 || !strings.Contains(out, ub[1]) ||
		!strings.Contains(out, "Image "+ua[0]+" already installed\n") || !strings.Contains(out, "Must download and install 1 image (") {
		t.Errorf("import b:\n%s", out)
	}
	if ds := rm.datasets(); len(ds) != 3 {
		t.Errorf("datasets after importing two images with a shared base: %v", ds)
	}
	if clones, _ := rm.store.Clones(ua[0]); len(clones) != 2 {
		t.Errorf("clones of the base: %v", clones)
	}
	// Again: nothing to do, said as SmartOS says it.
	if out := rm.ok("import", "-q", "hull/a:1.0"); out != "Image "+ua[1]+" (docker-layer@"+top.Manifest.Version+") is already installed from "+reg.URL+"\n" {
		t.Errorf("second import of a: %q", out)
	}
	// docker images' own fields, and the `docker images` view: the top
	// layers, one row per tag.
	out = rm.ok("list", "-H", "-o", "docker_repo,docker_tags,docker_short_id", "uuid="+ua[1])
	if want := "hull/a       [\"1.0\"]      " + m.Tags["docker:id"].(string)[:12] + "\n"; out != want {
		t.Errorf("list docker fields: %q, want %q", out, want)
	}
	rm.ok("list", "--docker")
	out = rm.ok("list", "--docker")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "UUID                                  REPOSITORY  TAG     IMAGE_ID      CREATED") ||
		!strings.Contains(out, ua[1]+"  hull/a      1.0     sha256:") || !strings.Contains(out, ub[1]+"  hull/b      latest  sha256:") {
		t.Errorf("list --docker:\n%s", out)
	}
	// A tag new to an installed top layer is added to it.
	reg.Push(t, "hull/a:again", a)
	rm.ok("import", "-q", "hull/a:again")
	if img, _ := rm.store.Get(ua[1]); img.Manifest.Tags["docker:tag:again"] != true || img.Manifest.Tags["docker:tag:1.0"] != true {
		t.Errorf("tags after a second tag: %v", img.Manifest.Tags)
	}
	// show gives the top layer's manifest without installing anything.
	var shown image.Manifest
	if err := json.Unmarshal([]byte(rm.ok("show", "hull/b:latest")), &shown); err != nil || shown.UUID != ub[1] || shown.Origin != ub[0] {
		t.Errorf("show: %+v %v", shown, err)
	}
	// Listing shows docker layers like any image; the base has clones.
	out = rm.ok("list", "-H", "-o", "uuid,type,clones", "type=docker")
	if strings.Count(out, "docker") != 3 {
		t.Errorf("list:\n%s", out)
	}
	if code, _, errOut := rm.run("delete", ua[0]); code != 1 || !strings.Contains(errOut, "has dependent clones") {
		t.Errorf("delete base: %d %s", code, errOut)
	}
	// Not in the registry.
	rm.expect(1, "", "imgadm import: error (ActiveImageNotFound): an active image \"hull/nope:1\" was not found in image sources\n", "import", "-q", "hull/nope:1")
	rm.expect(1, "", "imgadm show: error (ImageNotFound): image \"nope\" was not found\n", "show", "nope")
}

// faultProxy sits in front of a registry and spoils answers on request.
type faultProxy struct {
	mu     sync.Mutex
	mode   string         // "", "badmanifest", "truncate", "corrupt", "cut", "stall", "500once", "500"
	gets   map[string]int // GETs of each blob since set
	ranged int            // GETs of a blob with a Range header since set
	srv    *httptest.Server
	// cdn serves the blobs the registry redirects to in mode "redirect"
	// (as registries send layers to a CDN), cutting the first download
	// of each half-way.
	cdn   *httptest.Server
	blobs map[string][]byte
}

// cutReader reads left bytes of r, then fails: the proxy drops the
// connection then.
type cutReader struct {
	r     io.Reader
	left  int
	stall <-chan struct{} // wait for this before failing
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		if c.stall != nil {
			<-c.stall
		}
		return 0, errors.New("connection cut")
	}
	n, err := c.r.Read(p[:min(len(p), c.left)])
	c.left -= n
	return n, err
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	u, _ := url.Parse(target)
	fp := &faultProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // the connections it cuts
	rp.ModifyResponse = func(resp *http.Response) error {
		p := resp.Request.URL.Path
		layer := strings.Contains(p, "/blobs/") && resp.Request.Method == http.MethodGet && resp.ContentLength > 100000
		fp.mu.Lock()
		mode := fp.mode
		first := false
		if layer {
			fp.gets[p]++
			first = fp.gets[p] == 1
			if resp.Request.Header.Get("Range") != "" {
				fp.ranged++
			}
		}
		fp.mu.Unlock()
		switch {
		case mode == "redirect" && layer:
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if resp.StatusCode == http.StatusOK { // not a resumed one's rest
				fp.mu.Lock()
				fp.blobs[p] = body
				fp.mu.Unlock()
			}
			resp.StatusCode, resp.Status = http.StatusTemporaryRedirect, "307 Temporary Redirect"
			resp.Body, resp.ContentLength = http.NoBody, 0
			resp.Header = http.Header{"Location": {fp.cdn.URL + p}, "Content-Length": {"0"}}
		case (mode == "cut" || mode == "stall") && layer && first:
			// Half the blob, then the connection is dropped (or, for
			// stall, hangs until the client gives up).
			cr := &cutReader{r: resp.Body, left: int(resp.ContentLength / 2)}
			if mode == "stall" {
				cr.stall = resp.Request.Context().Done()
			}
			resp.Body = struct {
				io.Reader
				io.Closer
			}{cr, resp.Body}
		case (mode == "500once" && first || mode == "500") && layer:
			resp.Body.Close()
			resp.StatusCode, resp.Status = 500, "500 Internal Server Error"
			resp.Body = io.NopCloser(strings.NewReader("boom"))
			resp.ContentLength = 4
			resp.Header = http.Header{"Content-Length": {"4"}}
		case mode == "badmanifest" && strings.Contains(p, "/manifests/") && resp.Request.Method == http.MethodGet:
			body, _ := io.ReadAll(resp.Body)
			var mf map[string]any
			json.Unmarshal(body, &mf)
			mf["layers"].([]any)[0].(map[string]any)["digest"] = "sha256:not-hex"
			body, _ = json.Marshal(mf)
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
			resp.Header.Del("Docker-Content-Digest")
		case mode == "corrupt" && strings.Contains(p, "/blobs/") && resp.Request.Method == http.MethodGet && resp.StatusCode == 200:
			body, _ := io.ReadAll(resp.Body)
			if len(body) > 100000 { // layers, not configs: same size, other bytes
				body[len(body)-100] ^= 0xff
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
		case mode == "truncate" && strings.Contains(p, "/blobs/") && resp.Request.Method == http.MethodGet && resp.StatusCode == 200:
			body, _ := io.ReadAll(resp.Body)
			if len(body) > 100000 { // layers, not configs
				body = body[:len(body)/2]
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		}
		return nil
	}
	fp.srv = httptest.NewServer(rp)
	t.Cleanup(fp.srv.Close)
	cdnGets := map[string]int{}
	fp.cdn = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fp.mu.Lock()
		blob, ok := fp.blobs[r.URL.Path]
		cdnGets[r.URL.Path]++
		first := cdnGets[r.URL.Path] == 1
		fp.mu.Unlock()
		switch {
		case !ok:
			http.NotFound(w, r)
		case first:
			w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
			w.Write(blob[:len(blob)/2])
			panic(http.ErrAbortHandler) // the connection drops
		default:
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(blob))
		}
	}))
	fp.cdn.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(fp.cdn.Close)
	return fp
}

func (fp *faultProxy) set(mode string) {
	fp.mu.Lock()
	fp.mode, fp.gets, fp.ranged, fp.blobs = mode, map[string]int{}, 0, map[string][]byte{}
	fp.mu.Unlock()
}

// TestDockerProgressBars: on a terminal, each layer has its bar, one at
// a time, though a layer is fetched and decompressed while the one below
// is unpacked; each ends at 100%.
func TestDockerProgressBars(t *testing.T) {
	rm := newRemote(t)
	t.Cleanup(rm.cleanAll)
	reg := registrytest.Start(t, false)
	a, _ := registrytest.TestImages(t)
	reg.Push(t, "hull/a:1.0", a)
	ua := registrytest.LayerUUIDs(t, a)
	rm.env.Progress = ptr(true)
	defer func() { rm.env.Progress = ptr(false) }()
	code, _, e := rm.run("import", "-S", reg.URL, "hull/a:1.0")
	if code != 0 {
		t.Fatalf("import: exit %d: %s", code, e)
	}
	prev := -1
	for i, u := range ua {
		first, last := strings.Index(e, u[:8]), strings.LastIndex(e, u[:8])
		if first < 0 || first < prev || !strings.Contains(e[first:], "100%") {
			t.Fatalf("layer %d's bar, %s, not alone or not ending at 100%%:\n%q", i, u[:8], e)
		}
		prev = last
	}
}

func TestDockerImportFaults(t *testing.T) {
	rm := newRemote(t)
	t.Cleanup(rm.cleanAll)
	a, _ := registrytest.TestImages(t)

	// Auth: a registry wanting credentials refuses an anonymous import.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	sec := registrytest.Start(t, true)
	sec.Push(t, "hull/a:1.0", a)
	code, _, errOut := rm.run("import", "-q", "-S", sec.URL, "hull/a:1.0")
	if code != 1 || !strings.Contains(errOut, "access to hull/a:1.0 denied") {
		t.Errorf("import without credentials: %d %s", code, errOut)
	}
	if ds := rm.datasets(); len(ds) != 0 {
		t.Errorf("datasets after auth failure: %v", ds)
	}
	// With the credentials in the docker config it works.
	cfg := `{"auths":{"` + sec.Host + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte(sec.User+":"+sec.Pass)) + `"}}}`
	os.WriteFile(filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json"), []byte(cfg), 0o600)
	rm.ok("import", "-q", "-S", sec.URL, "hull/a:1.0")
	rm.cleanAll()

	reg := registrytest.Start(t, false)
	reg.Push(t, "hull/a:1.0", a)
	fp := newFaultProxy(t, reg.URL)
	for _, tt := range []struct{ mode, want string }{
		{"badmanifest", "docker image manifest: found non-hex character"},
		{"truncate", "layer blob file size error: unexpected mismatch between expected size"},
		{"corrupt", "image file checksum (sha256) error"},
		{"500", "unexpected status code 500 Internal Server Error: boom (after 4 attempts)"},
	} {
		fp.set(tt.mode)
		code, _, errOut := rm.run("import", "-q", "-S", fp.srv.URL, "hull/a:1.0")
		if code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: exit %d, %s", tt.mode, code, errOut)
		}
		if ds := rm.datasets(); len(ds) != 0 {
			t.Errorf("%s: datasets left: %v", tt.mode, ds)
		}
		if ents, _ := os.ReadDir(filepath.Join(rm.base, "images")); len(ents) > 0 {
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), ".json") || strings.HasSuffix(e.Name(), ".installing") {
					t.Errorf("%s: image database left: %s", tt.mode, e.Name())
				}
			}
		}
	}
	// A layer download cut off, stalled or refused once is resumed (or
	// retried) and the import succeeds; so is one cut off at the CDN the
	// registry sends it to.
	for _, mode := range []string{"cut", "stall", "500once", "redirect"} {
		fp.set(mode)
		rm.ok("import", "-q", "-S", fp.srv.URL, "hull/a:1.0")
		fp.mu.Lock()
		ranged := fp.ranged
		fp.mu.Unlock()
		if resumed := ranged > 0; resumed != (mode != "500once") {
			t.Errorf("%s: %d downloads resumed with a range", mode, ranged)
		}
		if ds := rm.datasets(); len(ds) == 0 {
			t.Errorf("%s: nothing installed", mode)
		}
		rm.cleanAll()
	}
	fp.set("")
	// A config that is not for linux is refused before anything is made.
	cf, _ := a.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS = "windows"
	win, _ := mutate.ConfigFile(a, cf)
	reg.Push(t, "hull/win:1", win)
	if code, _, errOut := rm.run("import", "-q", "-S", reg.URL, "hull/win:1"); code != 1 || !strings.Contains(errOut, `os "windows" is not supported`) {
		t.Errorf("windows image: %d %s", code, errOut)
	}
	if ds := rm.datasets(); len(ds) != 0 {
		t.Errorf("datasets left: %v", ds)
	}
}

// TestDockerArchives installs from a `docker save` archive and an OCI
// layout; the same layers from either are one set of datasets.
func TestDockerArchives(t *testing.T) {
	rm := newRemote(t)
	t.Cleanup(rm.cleanAll)
	a, b := registrytest.TestImages(t)
	dir := t.TempDir()
	tag, _ := name.NewTag("hull/a:1.0")
	tarPath := filepath.Join(dir, "a.tar")
	if err := tarball.WriteToFile(tarPath, tag, a); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(b, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "hull/b:2"})); err != nil {
		t.Fatal(err)
	}
	out := rm.ok("install", "-q", "--docker-archive", tarPath)
	if !strings.Contains(out, "(hull/a:1.0)") || strings.Count(out, "Imported image") != 2 {
		t.Errorf("install docker archive:\n%s", out)
	}
	out = rm.ok("install", "-q", "--docker-archive", filepath.Join(dir, "oci"))
	if !strings.Contains(out, "(hull/b:2)") || strings.Count(out, "Imported image") != 1 {
		t.Errorf("install OCI layout:\n%s", out)
	}
	ub := registrytest.LayerUUIDs(t, b)
	img, err := rm.store.Get(ub[1])
	if err != nil || img.Manifest.Tags["docker:tag:2"] != true || img.Manifest.Origin != ub[0] {
		t.Errorf("OCI image top: %+v %v", img, err)
	}
	if ds := rm.datasets(); len(ds) != 3 {
		t.Errorf("datasets: %v", ds)
	}
	if code, _, _ := rm.run("install", "--docker-archive", filepath.Join(dir, "missing.tar")); code != 1 {
		t.Errorf("missing archive: exit %d", code)
	}
}

// TestKillDuringDockerImport kills `hull imgadm import repo:tag` half-way
// through a layer; reopening the node leaves no trace of that layer and
// a new import completes.
func TestKillDuringDockerImport(t *testing.T) {
	reg := registrytest.Start(t, false)
	a, _ := registrytest.TestImages(t)
	reg.Push(t, "hull/a:1.0", a)
	n, _ := importKilledMidExtract(t, reg.URL, "hull/a:1.0")
	ua := registrytest.LayerUUIDs(t, a)
	t.Cleanup(func() {
		n.Images.Delete(ua[1])
		n.Images.Delete(ua[0])
		n.ClosePool()
	})
	src, err := image.NewDocker(reg.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	im := &image.Importer{Store: n.Images, Sources: []image.Source{src}}
	if _, err := im.ImportDocker(context.Background(), "hull/a:1.0"); err != nil {
		t.Fatalf("import after the crash: %v", err)
	}
}

// TestDockerSameLayers: images that share their layers keep their own
// configs. One that only changes another's config (its CMD) is an empty
// layer on top of the shared ones, carrying its config; one whose layers
// are another's lower layers gets its config on its top layer. Each
// gives a VM its own program and docker:imageid.
func TestDockerSameLayers(t *testing.T) {
	rm := newRemote(t)
	reg := registrytest.Start(t, false)
	t.Cleanup(rm.cleanAll)
	a, _ := registrytest.TestImages(t)
	other, err := mutate.Config(a, v1.Config{Cmd: []string{"/bin/echo", "other"}, WorkingDir: "/"})
	if err != nil {
		t.Fatal(err)
	}
	layers, err := a.Layers()
	if err != nil {
		t.Fatal(err)
	}
	base := registrytest.Image(t, v1.Config{Cmd: []string{"/bin/sh"}}, layers[0])
	reg.Push(t, "hull/a:1", a)
	reg.Push(t, "hull/other:1", other)
	reg.Push(t, "hull/base:1", base)
	ua := registrytest.LayerUUIDs(t, a)
	rm.ok("sources", "-a", reg.URL, "-t", "docker")
	rm.ok("import", "-q", "hull/a:1")

	out := rm.ok("import", "-q", "hull/other:1")
	imgs, _ := rm.store.Images()
	var child *image.Image
	for _, img := range imgs {
		if img.Manifest.Origin == ua[1] {
			child = img
		}
	}
	if child == nil || len(imgs) != 3 || !strings.Contains(out, "Importing "+child.Manifest.UUID+" (hull/other:1)") {
		t.Fatalf("import of an image with a's layers and another config:\n%s\nimages: %d, child %v", out, len(imgs), child)
	}
	want := func(uuid, cmd string, img v1.Image) {
		t.Helper()
		got, err := rm.store.Get(uuid)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := img.ConfigName()
		md := image.DockerInternalMetadata(got.Manifest)
		if md["docker:cmd"] != cmd || md["docker:imageid"] != id.String() {
			t.Errorf("image %s: internal_metadata %v, want docker:cmd %s, docker:imageid %s", uuid, md, cmd, id)
		}
	}
	want(ua[1], `["from-image"]`, a)
	want(child.Manifest.UUID, `["/bin/echo","other"]`, other)
	if len(child.Manifest.Files) != 0 || child.Manifest.Tags["docker:tag:1"] != true || child.Manifest.Tags["docker:repo"] != "hull/other" {
		t.Errorf("config image manifest: %+v", child.Manifest)
	}
	// Its root is the shared layers'.
	if b, err := os.ReadFile(filepath.Join(rm.base, "zones", child.Manifest.UUID, "root", "app", "run.sh")); err != nil || string(b) != registrytest.RunScript {
		t.Errorf("app/run.sh in the config image: %q %v", b, err)
	}
	if out := rm.ok("import", "-q", "hull/other:1"); !strings.HasPrefix(out, "Image "+child.Manifest.UUID+" ") || !strings.Contains(out, "is already installed") {
		t.Errorf("second import of other:\n%s", out)
	}

	// a's base layer, imported as an image of its own, gets its config.
	out = rm.ok("import", "-q", "hull/base:1")
	if !strings.Contains(out, ua[0]) {
		t.Errorf("import of a's base layer as an image:\n%s", out)
	}
	want(ua[0], `["/bin/sh"]`, base)
	if imgs, _ := rm.store.Images(); len(imgs) != 3 {
		t.Errorf("%d images after importing the base, want 3", len(imgs))
	}
	if ds := rm.datasets(); len(ds) != 3 {
		t.Errorf("datasets: %v", ds)
	}
}

// TestDockerTLSRegistry: a registry on https whose certificate cannot be
// checked is refused, saying why, unless its source is insecure (-k);
// then its images import (layers by range, too) as from any other.
func TestDockerTLSRegistry(t *testing.T) {
	rm := newRemote(t)
	t.Cleanup(rm.cleanAll)
	reg := registrytest.StartTLS(t)
	a, _ := registrytest.TestImages(t)
	reg.Push(t, "hull/a:1.0", a)

	// Not checked: refused, the reason said.
	const unchecked = "tls: failed to verify certificate: x509: certificate signed by unknown authority"
	code, _, errOut := rm.run("sources", "-a", reg.URL, "-t", "docker")
	if code != 1 || !strings.Contains(errOut, "(SourcePing)") || !strings.Contains(errOut, unchecked) {
		t.Errorf("sources -a without -k: exit %d, %s", code, errOut)
	}
	rm.ok("sources", "-a", reg.URL, "-t", "docker", "-f")
	code, _, errOut = rm.run("import", "-q", "hull/a:1.0")
	if code != 1 || !strings.Contains(errOut, unchecked) || strings.HasSuffix(errOut, "\n\n") {
		t.Errorf("import from a source not -k: exit %d, %q", code, errOut)
	}
	if ds := rm.datasets(); len(ds) != 0 {
		t.Errorf("datasets left: %v", ds)
	}
	rm.ok("sources", "-d", reg.URL)
	if out := rm.ok("sources", "-a", reg.URL, "-t", "docker", "-k"); out != "Added \"docker\" image source \""+reg.URL+"\" (insecure)\n" {
		t.Errorf("sources -a -k: %q", out)
	}
	rm.ok("import", "-q", "hull/a:1.0")
	if ds := rm.datasets(); len(ds) != 2 { // its two layers
		t.Errorf("datasets after the import: %v", ds)
	}
}
