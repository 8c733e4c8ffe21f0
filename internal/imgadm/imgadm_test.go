package imgadm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hull/internal/image"
	"hull/internal/image/imagetest"
)

const (
	uuidA = "2b3c4d5e-0000-4000-8000-00000000000a"
	uuidB = "2b3c4d5e-0000-4000-8000-00000000000b"
)

type harness struct {
	t     *testing.T
	dir   string
	pool  *imagetest.Pool
	store *image.Store
}

func newHarness(t *testing.T) *harness {
	dir := t.TempDir()
	p := imagetest.NewPool(filepath.Join(dir, "pool"))
	s, err := image.Open(filepath.Join(dir, "db"), p, "zones")
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, dir: dir, pool: p, store: s}
}

func (h *harness) run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Main(args, &o, &e, Env{Open: func() (*image.Store, error) { return h.store, nil }})
	return code, o.String(), e.String()
}

// files writes a small image (a gzip'd tar) and its manifest.
func (h *harness) files(uuid, name, published string, extra map[string]any) (string, string) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "./etc/hostname", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
	tw.Write([]byte("h\n"))
	tw.Close()
	var gb bytes.Buffer
	zw := gzip.NewWriter(&gb)
	zw.Write(tb.Bytes())
	zw.Close()
	sum := sha1.Sum(gb.Bytes())
	m := map[string]any{
		"v": 2, "uuid": uuid, "name": name, "version": "1.2.3", "type": "zone-dataset",
		"os": "linux", "published_at": published, "public": true,
		"owner": "00000000-0000-0000-0000-000000000000",
		"files": []any{map[string]any{"sha1": hex.EncodeToString(sum[:]), "size": gb.Len(), "compression": "gzip"}},
	}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	mp := filepath.Join(h.dir, uuid+".json")
	fp := filepath.Join(h.dir, uuid+".tgz")
	os.WriteFile(mp, b, 0o644)
	os.WriteFile(fp, gb.Bytes(), 0o644)
	return mp, fp
}

func (h *harness) expect(want int, wantOut, wantErr string, args ...string) {
	h.t.Helper()
	code, out, errOut := h.run(args...)
	if code != want || out != wantOut || (wantErr != "*" && errOut != wantErr) {
		h.t.Errorf("imgadm %s:\n exit %d, want %d\n stdout %q\n   want %q\n stderr %q\n   want %q",
			strings.Join(args, " "), code, want, out, wantOut, errOut, wantErr)
	}
}

func TestInstallListGetDelete(t *testing.T) {
	h := newHarness(t)
	mA, fA := h.files(uuidA, "alpha", "2024-02-03T04:05:06.789Z", nil)
	mB, fB := h.files(uuidB, "beta-longer-name", "2023-01-01T00:00:00Z", map[string]any{"type": "lx-dataset", "tags": map[string]any{"role": "db"}})

	h.expect(0, "Installing image "+uuidA+" (alpha@1.2.3)\nInstalled image "+uuidA+" (alpha@1.2.3)\n", "",
		"install", "-m", mA, "-f", fA)
	h.expect(0, "Installing image "+uuidB+" (beta-longer-name@1.2.3)\nInstalled image "+uuidB+" (beta-longer-name@1.2.3)\n", "",
		"install", "-q", "-m"+mB, "-f", fB)
	h.expect(0, "Image "+uuidA+" (alpha 1.2.3) is already installed, skipping\n", "",
		"install", "-m", mA, "-f", fA)

	h.expect(0, ""+
		"UUID                                  NAME              VERSION  OS     TYPE          PUB\n"+
		uuidB+"  beta-longer-name  1.2.3    linux  lx-dataset    2023-01-01\n"+
		uuidA+"  alpha             1.2.3    linux  zone-dataset  2024-02-03\n", "", "list")
	h.expect(0, "alpha  2024-02-03T04:05:06Z\n", "", "list", "-H", "-o", "name,published", "name=alpha")
	h.expect(0, "beta-longer-name\n", "", "list", "-H", "-o", "name", "name=~beta")
	h.expect(0, "beta-longer-name  db\n", "", "list", "-Ho", "name,tags.role", "tags.role=db")
	h.expect(0, "alpha\nbeta-longer-name\n", "", "list", "-H", "-o", "name", "-s", "name", "public=true")
	h.expect(0, "beta-longer-name\nalpha\n", "", "list", "-H", "-o", "name", "-s", "-name")
	h.expect(0, "UUID  NAME  VERSION  OS  TYPE  PUB\n", "", "list", "public=false")
	h.expect(0, "", "", "list", "-H", "public=false")
	h.expect(0, "NAME   CLONES  ORIGIN\nalpha  0       -\n", "", "list", "-o", "name,clones,origin", "uuid="+uuidA)

	_, out, _ := h.run("list", "-j", "name=alpha")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 1 || listed[0]["zpool"] != "zones" || listed[0]["clones"] != 0.0 {
		t.Errorf("list -j: %v %s", err, out)
	}

	_, out, _ = h.run("get", uuidA)
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("get output: %v\n%s", err, out)
	}
	if m := got["manifest"].(map[string]any); m["uuid"] != uuidA || got["zpool"] != "zones" {
		t.Errorf("get: %s", out)
	}
	if !strings.HasPrefix(out, "{\n  \"manifest\": {\n    \"v\": 2,\n") {
		t.Errorf("get is not 2-space indented JSON:\n%s", out)
	}

	// A clone blocks delete.
	if _, err := h.pool.Clone(image.SnapshotName(uuidA), "zones/vm-1"); err != nil {
		t.Fatal(err)
	}
	h.expect(1, "", "imgadm delete: error (ImageHasDependentClones): image \""+uuidA+"\" has dependent clones: zones/vm-1\n", "delete", uuidA)
	h.pool.Destroy("zones/vm-1")
	h.expect(0, "Deleted image "+uuidA+"\n", "", "delete", uuidA)
	h.expect(3, "", "imgadm get: error (ImageNotInstalled): image \""+uuidA+"\" was not found on zpool \"zones\"\n", "get", uuidA)
	h.expect(3, "", "imgadm delete: error (ImageNotInstalled): image \""+uuidA+"\" was not found on zpool \"zones\"\n", "destroy", uuidA)
}

func TestInstallErrors(t *testing.T) {
	h := newHarness(t)
	mA, fA := h.files(uuidA, "alpha", "2024-02-03T04:05:06Z", map[string]any{
		"files": []any{map[string]any{"sha1": strings.Repeat("1", 40), "size": 1, "compression": "gzip"}}})
	code, _, errOut := h.run("install", "-m", mA, "-f", fA)
	if code != 1 || !strings.HasPrefix(errOut, "imgadm install: error (DownloadError): image file size error: manifest says 1 bytes, "+fA+" is ") {
		t.Errorf("size mismatch: exit %d, %s", code, errOut)
	}
	mBad := filepath.Join(h.dir, "bad.json")
	os.WriteFile(mBad, []byte(`{"v":2,"uuid":"`+uuidB+`","name":"x","version":"1","type":"zone-dataset"}`), 0o644)
	h.expect(1, "", "imgadm install: error (ManifestValidation): invalid manifest: os (MissingParameter)\n", "install", "-m", mBad, "-f", fA)
	os.WriteFile(mBad, []byte(`{"v":2,`), 0o644)
	h.expect(1, "", "imgadm install: error (InvalidManifest): manifest is invalid: unexpected end of JSON input\n", "install", "-m", mBad, "-f", fA)
	h.expect(1, "", "imgadm install: error (Usage): manifest path does not exist: \"/nonexistent\"\n", "install", "-m", "/nonexistent", "-f", fA)
	h.expect(2, "", "*", "install", "-m", mA)
	h.expect(2, "", "*", "install", "-m", mA, "-f", fA, "extra")
	if ents, _ := h.pool.List(); len(ents) != 0 {
		t.Errorf("datasets left: %v", ents)
	}
}

func TestUsage(t *testing.T) {
	h := newHarness(t)
	code, out, _ := h.run("help")
	if code != 0 || !strings.Contains(out, "imgadm install") {
		t.Errorf("help: %d %q", code, out)
	}
	code, out, _ = h.run("help", "list")
	if code != 0 || !strings.HasPrefix(out, "List locally installed images.") {
		t.Errorf("help list: %d %q", code, out)
	}
	for _, args := range [][]string{{}, {"frobnicate"}, {"--bogus", "list"}, {"list", "-x"}, {"list", "--bogus"}, {"list", "novalue"}, {"get"}, {"get", uuidA, uuidB}, {"delete"}, {"list", "-o"}} {
		code, out, errOut := h.run(args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "Usage:") {
			t.Errorf("imgadm %v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	h.expect(2, "", "imgadm list: error (UnknownOption): unknown option: \"-x\"\n"+commandUsage["list"], "list", "-x")
	if code, out, _ := h.run("--version"); code != 0 || !strings.HasPrefix(out, "imgadm hull") {
		t.Errorf("--version: %d %q", code, out)
	}
	// -E: the error as a JSON object, alone on stderr.
	code, _, errOut := h.run("-E", "get", uuidA)
	var se struct {
		Err struct {
			Message, Code string
			ExitStatus    int
		}
	}
	if err := json.Unmarshal([]byte(errOut), &se); err != nil || code != 3 || se.Err.Code != "ImageNotInstalled" || se.Err.ExitStatus != 3 ||
		se.Err.Message != "image \""+uuidA+"\" was not found on zpool \"zones\"" {
		t.Errorf("-E get: exit %d, %v %q", code, err, errOut)
	}
	h.expect(1, "", "imgadm get: error (InvalidUUID): invalid uuid: \"nope\"\n", "get", "nope")
	for _, c := range []string{"create", "ancestry", "get", "delete"} {
		h.expect(1, "", "imgadm "+c+": error (InvalidUUID): invalid uuid: \"x\"\n", c, "x")
	}
	// As SmartOS: a word that is not a uuid is a docker repo to import or
	// show, and no docker source has it.
	h.expect(1, "", "imgadm import: error (ActiveImageNotFound): an active image \"x\" was not found in image sources\n", "import", "x")
	h.expect(1, "", "imgadm show: error (ImageNotFound): image \"x\" was not found\n", "show", "x")
}
