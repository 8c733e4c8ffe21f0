package imgapi

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"hull/internal/image"
	"hull/internal/testenv"
)

const testToken = "t0ken"

// api is a server on loopback over a new repository.
type api struct {
	t    *testing.T
	dir  string
	repo *Repo
	url  string
}

func newAPI(t *testing.T, token string) *api {
	dir := t.TempDir()
	repo, err := OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&Server{Repo: repo, Token: token})
	t.Cleanup(srv.Close)
	return &api{t: t, dir: dir, repo: repo, url: srv.URL}
}

// call makes one request; auth adds the token. It returns the status,
// the headers and the body.
func (a *api) call(method, path string, body []byte, auth bool, hdr ...string) (int, http.Header, []byte) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+testToken)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// errorIs checks an IMGAPI error answer: status, code and message.
func (a *api) errorIs(what string, status int, b []byte, gotStatus int, code, msg string) {
	a.t.Helper()
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &e); err != nil || gotStatus != status || e.Code != code || (msg != "" && e.Message != msg) {
		a.t.Errorf("%s: HTTP %d %s, want %d {%q, %q}", what, gotStatus, b, status, code, msg)
	}
}

func manifest(uuid, name, published, origin string) []byte {
	m := map[string]any{"v": 2, "uuid": uuid, "name": name, "version": "1.0", "type": "zone-dataset",
		"os": "linux", "public": true, "tags": map[string]any{"role": name}, "billing_tags": []string{"b-" + name}}
	if published != "" {
		m["published_at"] = published
	}
	if origin != "" {
		m["origin"] = origin
	}
	b, _ := json.Marshal(m)
	return b
}

// publish imports, uploads and activates an image.
func (a *api) publish(uuid, name, published, origin string, file []byte) {
	a.t.Helper()
	if st, _, b := a.call("POST", "/images/"+uuid+"?action=import", manifest(uuid, name, published, origin), true); st != 200 {
		a.t.Fatalf("import %s: %d %s", uuid, st, b)
	}
	if st, _, b := a.call("PUT", "/images/"+uuid+"/file?compression=none", file, true); st != 200 {
		a.t.Fatalf("add file %s: %d %s", uuid, st, b)
	}
	if st, _, b := a.call("POST", "/images/"+uuid+"?action=activate", nil, true); st != 200 {
		a.t.Fatalf("activate %s: %d %s", uuid, st, b)
	}
}

func uuidN(i int) string { return fmt.Sprintf("1a9a0000-0000-4000-8000-%012d", i) }

func TestPing(t *testing.T) {
	a := newAPI(t, testToken)
	for _, tt := range []struct {
		auth bool
		want string
	}{
		{false, `{"imgapi":true,"ping":"pong","version":"` + Version + `"}`},
		{true, `{"imgapi":true,"pid":` + strconv.Itoa(os.Getpid()) + `,"ping":"pong","version":"` + Version + `"}`},
	} {
		st, h, b := a.call("GET", "/ping", nil, tt.auth)
		if st != 200 || string(b) != tt.want || h.Get("Content-Type") != "application/json" || h.Get("Server") != "IMGAPI/"+Version {
			t.Errorf("ping (auth %v): %d %v %s", tt.auth, st, h, b)
		}
	}
	st, _, b := a.call("GET", "/ping?error=ResourceNotFound&message=gone", nil, false)
	a.errorIs("ping?error", 404, b, st, "ResourceNotFound", "gone")
	st, _, b = a.call("GET", "/nowhere", nil, false)
	a.errorIs("unknown path", 404, b, st, "ResourceNotFound", "/nowhere does not exist")
	st, _, b = a.call("DELETE", "/ping", nil, false)
	a.errorIs("DELETE /ping", 405, b, st, "BadMethod", "")
}

// TestPublishFlow: AdminImportImage, AddImageFile, ActivateImage behind
// the token, with IMGAPI's answers and errors at each step.
func TestPublishFlow(t *testing.T) {
	a := newAPI(t, testToken)
	u := uuidN(1)
	file := bytes.Repeat([]byte("image data\n"), 1000)
	m := manifest(u, "one", "", "")

	// Nothing without the token; a server without one takes no changes.
	st, _, b := a.call("POST", "/images/"+u+"?action=import", m, false)
	a.errorIs("import without token", 401, b, st, "Unauthorized", "authorization required")
	req, _ := http.NewRequest("POST", a.url+"/images/"+u+"?action=import", bytes.NewReader(m))
	req.SetBasicAuth("admin", "wrong")
	resp, _ := http.DefaultClient.Do(req)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	a.errorIs("import with a wrong token", 401, b, resp.StatusCode, "InvalidCredentials", "invalid credentials")
	ro := newAPI(t, "")
	st, _, b = ro.call("POST", "/images/"+u+"?action=import", m, true)
	a.errorIs("import into a read-only server", 403, b, st, "OperatorOnly", "")

	// Import: unactivated, owned by the unset owner, the uuid kept.
	st, _, b = a.call("POST", "/images/"+u+"?action=import", m, true)
	var got image.Manifest
	if json.Unmarshal(b, &got); st != 200 || got.UUID != u || got.State != "unactivated" || got.Owner != unsetOwner || len(got.Files) != 0 {
		t.Fatalf("import: %d %s", st, b)
	}
	st, _, b = a.call("POST", "/images/"+u+"?action=import", m, true)
	a.errorIs("import again", 409, b, st, "ImageUuidAlreadyExists", `image uuid "`+u+`" already exists`)
	st, _, b = a.call("POST", "/images/"+uuidN(2)+"?action=import", m, true)
	a.errorIs("import with another uuid", 422, b, st, "InvalidParameter", `URL UUID, "`+uuidN(2)+`" and body UUID, "`+u+`" do not match`)
	st, _, b = a.call("POST", "/images/"+uuidN(3)+"?action=import", manifest(uuidN(3), "three", "", uuidN(9)), true)
	a.errorIs("import with a missing origin", 422, b, st, "OriginDoesNotExist", `origin image "`+uuidN(9)+`" does not exist`)
	st, _, b = a.call("POST", "/images/"+uuidN(3)+"?action=import", []byte(`{"v":2,"uuid":"`+uuidN(3)+`","name":"x","version":"1","type":"bogus","os":"linux"}`), true)
	var ve struct {
		Code   string `json:"code"`
		Errors []struct{ Field, Code string }
	}
	if json.Unmarshal(b, &ve); st != 422 || ve.Code != "ValidationFailed" || len(ve.Errors) != 1 || ve.Errors[0].Field != "type" || ve.Errors[0].Code != "Invalid" {
		t.Errorf("import of an invalid manifest: %d %s", st, b)
	}
	st, _, b = a.call("POST", "/images/"+u+"?action=frob", nil, true)
	a.errorIs("unknown action", 422, b, st, "InvalidParameter", `unsupported action: "frob"`)

	// Not listed, nor activatable, while it has no file.
	if st, _, b := a.call("GET", "/images", nil, false); st != 200 || string(b) != "[]" {
		t.Errorf("list with only an unactivated image: %d %s", st, b)
	}
	st, _, b = a.call("POST", "/images/"+u+"?action=activate", nil, true)
	a.errorIs("activate without a file", 422, b, st, "NoActivationNoFile", `image "`+u+`" cannot be activated: it has no file`)

	// AddImageFile: compression required, size and sha1 checked.
	st, _, b = a.call("PUT", "/images/"+u+"/file", file, true)
	a.errorIs("add file without compression", 422, b, st, "InvalidParameter", `missing "compression"`)
	st, _, b = a.call("PUT", "/images/"+u+"/file?compression=lz4", file, true)
	a.errorIs("add file with a bad compression", 422, b, st, "InvalidParameter", `invalid compression "lz4" (must be one of bzip2, gzip, xz, none, zstd)`)
	sum := sha1.Sum(file)
	sha := hex.EncodeToString(sum[:])
	st, _, b = a.call("PUT", "/images/"+u+"/file?compression=none&sha1="+strings.Repeat("0", 40), file, true)
	a.errorIs("add file with a wrong sha1", 400, b, st, "Download", `"sha1" hash, `+strings.Repeat("0", 40)+`, does not match the uploaded file sha1 hash, `+sha)
	st, _, b = a.call("PUT", "/images/"+u+"/file?compression=none&size=5", file, true)
	a.errorIs("add file of the wrong size", 400, b, st, "Download", `"Content-Length" header, 5, does not match uploaded size, `+strconv.Itoa(len(file)))
	st, _, b = a.call("PUT", "/images/"+u+"/file?compression=none", []byte{}, true)
	a.errorIs("add an empty file", 400, b, st, "Download", "image file size is 0 bytes, empty files are not allowed")
	st, _, b = a.call("PUT", "/images/"+u+"/file?compression=none&sha1="+sha, file, true)
	if json.Unmarshal(b, &got); st != 200 || len(got.Files) != 1 || got.Files[0].SHA1 != sha || got.Files[0].Size != int64(len(file)) || got.Files[0].Compression != "none" {
		t.Fatalf("add file: %d %s", st, b)
	}
	// No temporary upload is left in the repository.
	if ents, _ := os.ReadDir(a.dir); len(ents) != 2 {
		t.Errorf("repository after the uploads: %v", ents)
	}

	st, _, b = a.call("POST", "/images/"+u+"?action=activate", nil, true)
	if json.Unmarshal(b, &got); st != 200 || got.State != "active" || got.PublishedAt == "" {
		t.Fatalf("activate: %d %s", st, b)
	}
	st, _, b = a.call("POST", "/images/"+u+"?action=activate", nil, true)
	a.errorIs("activate again", 422, b, st, "ImageAlreadyActivated", `image "`+u+`" is already activated`)
	st, _, b = a.call("PUT", "/images/"+u+"/file?compression=none", file, true)
	a.errorIs("add file to an active image", 422, b, st, "ImageFilesImmutable", "cannot modify files on activated image "+u)

	// GetImageFile: the file with IMGAPI's headers, and the rest of it
	// for a Range request.
	st, h, b := a.call("GET", "/images/"+u+"/file", nil, false)
	md := md5.Sum(file)
	if st != 200 || !bytes.Equal(b, file) || h.Get("Content-Length") != strconv.Itoa(len(file)) ||
		h.Get("Content-MD5") != base64.StdEncoding.EncodeToString(md[:]) || h.Get("Etag") != sha ||
		h.Get("Content-Type") != "application/octet-stream" || h.Get("Last-Modified") == "" {
		t.Errorf("get file: %d %v (%d bytes)", st, h, len(b))
	}
	st, h, b = a.call("GET", "/images/"+u+"/file", nil, false, "Range", "bytes=100-")
	if st != 206 || !bytes.Equal(b, file[100:]) || h.Get("Content-Range") != fmt.Sprintf("bytes 100-%d/%d", len(file)-1, len(file)) {
		t.Errorf("get file from byte 100: %d %v", st, h)
	}
	st, _, b = a.call("GET", "/images/"+u+"/file?index=1", nil, false)
	a.errorIs("get file index 1", 404, b, st, "ResourceNotFound", `image "`+u+`" has no file at index 1`)

	// The repository survives a restart.
	repo, err := OpenRepo(a.dir)
	if err != nil {
		t.Fatal(err)
	}
	if rec, ok := repo.get(u); !ok || rec.Manifest.State != "active" || rec.Manifest.Files[0].SHA1 != sha {
		t.Errorf("after reopening: %+v", rec)
	}
}

// TestGetAndDelete: GetImage finds an image whatever its state (an
// active image's origin may be disabled), malformed uuids are 404, and
// DeleteImage refuses an image other images stand on.
func TestGetAndDelete(t *testing.T) {
	a := newAPI(t, testToken)
	a.publish(uuidN(1), "base", "", "", []byte("base"))
	a.publish(uuidN(2), "child", "", uuidN(1), []byte("child"))
	a.call("POST", "/images/"+uuidN(3)+"?action=import", manifest(uuidN(3), "new", "", ""), true)
	for _, u := range []string{uuidN(1), uuidN(3)} {
		if st, _, b := a.call("GET", "/images/"+u, nil, false); st != 200 || !strings.Contains(string(b), u) {
			t.Errorf("get %s: %d %s", u, st, b)
		}
	}
	st, _, b := a.call("GET", "/images/"+uuidN(9), nil, false)
	a.errorIs("get missing", 404, b, st, "ResourceNotFound", "image not found")
	for _, p := range []string{"/images/nope", "/images/nope/file"} {
		st, _, b = a.call("GET", p, nil, false)
		a.errorIs("get "+p, 404, b, st, "ResourceNotFound", p+" does not exist")
	}
	st, _, b = a.call("GET", "/images/"+uuidN(3)+"/file", nil, false)
	a.errorIs("file of an image without one", 404, b, st, "ResourceNotFound", `image "`+uuidN(3)+`" has no file`)

	st, _, b = a.call("DELETE", "/images/"+uuidN(1), nil, false)
	a.errorIs("delete without token", 401, b, st, "Unauthorized", "")
	st, _, b = a.call("DELETE", "/images/"+uuidN(1), nil, true)
	a.errorIs("delete of an origin", 422, b, st, "ImageHasDependentImages", `image "`+uuidN(1)+`" has 1 dependent incremental image(s): `+uuidN(2))
	for _, u := range []string{uuidN(2), uuidN(1)} {
		if st, _, b := a.call("DELETE", "/images/"+u, nil, true); st != 204 {
			t.Errorf("delete %s: %d %s", u, st, b)
		}
	}
	if _, err := os.Stat(filepath.Join(a.dir, uuidN(1)+".file")); !os.IsNotExist(err) {
		t.Errorf("file of a deleted image: %v", err)
	}
	st, _, b = a.call("DELETE", "/images/"+uuidN(1), nil, true)
	a.errorIs("delete again", 404, b, st, "ResourceNotFound", "")
}

// TestListImages: ListImages' filters, states, sort and limit/marker
// paging, and the client paging through them.
func TestListImages(t *testing.T) {
	a := newAPI(t, testToken)
	for i := 1; i <= 5; i++ {
		a.publish(uuidN(i), fmt.Sprintf("img%d", i), fmt.Sprintf("2024-01-0%dT00:00:00.000Z", i), "", []byte{byte(i)})
	}
	a.call("POST", "/images/"+uuidN(6)+"?action=import", manifest(uuidN(6), "img6", "", ""), true)
	names := func(b []byte) string {
		var ms []image.Manifest
		if err := json.Unmarshal(b, &ms); err != nil {
			return "bad JSON: " + string(b)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tt := range []struct {
		query string
		auth  bool
		want  string
	}{
		{"", false, "img1,img2,img3,img4,img5"},
		{"?limit=2", false, "img1,img2"},
		{"?limit=2&marker=" + uuidN(2), false, "img2,img3"},         // inclusive, as IMGAPI's
		{"?marker=2024-01-04T00:00:00Z", false, "img4,img5"},        // a date
		{"?sort=published_at.desc&limit=2", false, "img5,img4"},     // newest first
		{"?limit=5000", false, "img1,img2,img3,img4,img5"},          // at most 1000
		{"?name=img3", false, "img3"},                               //
		{"?name=~img", false, "img1,img2,img3,img4,img5"},           // substring
		{"?version=~1.", false, "img1,img2,img3,img4,img5"},         //
		{"?os=smartos", false, ""},                                  //
		{"?type=!zone-dataset", false, ""},                          // excluded
		{"?public=false", false, ""},                                //
		{"?owner=" + unsetOwner, false, "img1,img2,img3,img4,img5"}, //
		{"?tag.role=img4", false, "img4"},                           //
		{"?billing_tag=b-img2", false, "img2"},                      //
		{"?state=unactivated", false, ""},                           // only active without the token
		{"?state=all", false, "img1,img2,img3,img4,img5"},           //
		{"?state=unactivated", true, "img6"},                        //
		{"?state=all", true, "img6,img1,img2,img3,img4,img5"},       // unpublished first
	} {
		st, _, b := a.call("GET", "/images"+tt.query, nil, tt.auth)
		if got := names(b); st != 200 || got != tt.want {
			t.Errorf("GET /images%s (auth %v): %d %s, want %s", tt.query, tt.auth, st, got, tt.want)
		}
	}
	for _, tt := range []struct{ query, msg string }{
		{"?limit=x", `invalid limit: "x"`},
		{"?state=bogus", `invalid state: "bogus"`},
		{"?public=maybe", `invalid "public" parameter: "maybe"`},
		{"?marker=" + uuidN(9), `invalid value for "marker" param: image ` + uuidN(9) + ` does not exist`},
		{"?sort=name", `invalid 'sort': not a valid sorting attribute: "name"`},
	} {
		st, _, b := a.call("GET", "/images"+tt.query, nil, false)
		a.errorIs("GET /images"+tt.query, 422, b, st, "InvalidParameter", tt.msg)
	}

	// The client pages through with limit and marker, as sdc-clients
	// does, and sees each image once.
	c, err := image.NewIMGAPI(a.url, false)
	if err != nil {
		t.Fatal(err)
	}
	c.PageSize = 2
	ms, err := c.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Name)
	}
	if strings.Join(got, ",") != "img1,img2,img3,img4,img5" {
		t.Errorf("client list in pages of 2: %v", got)
	}
}

// TestServeCommand runs `hull imgapi serve` and publishes to it with the
// token it was given, as imgadm publish does.
func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(testenv.HullBinary(t), "imgapi", "serve", "--dir", dir, "--listen", "127.0.0.1:0", "--token", testToken)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stderr).ReadString('\n')
	_, url, ok := strings.Cut(strings.TrimSpace(line), " on ")
	if err != nil || !ok {
		t.Fatalf("serve said %q (%v)", line, err)
	}
	c, err := image.NewIMGAPI(url, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	u := uuidN(1)
	file := []byte("the file")
	sum := sha1.Sum(file)
	if _, err := c.ImportImage(t.Context(), u, manifest(u, "served", "", "")); err == nil {
		t.Fatal("import without the token succeeded")
	}
	c.Token = testToken
	if _, err := c.ImportImage(t.Context(), u, manifest(u, "served", "", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddImageFile(t.Context(), u, bytes.NewReader(file), int64(len(file)), image.File{Compression: "none", SHA1: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ActivateImage(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	ms, err := c.List(t.Context())
	if err != nil || len(ms) != 1 || ms[0].Name != "served" || ms[0].State != "active" {
		t.Errorf("list: %v %+v", err, ms)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
}

// TestEnableDisable: DisableImage hides an image from ListImages (as
// imgadm avail sees it) without deleting it; EnableImage brings it back.
func TestEnableDisable(t *testing.T) {
	a := newAPI(t, testToken)
	u := uuidN(1)
	a.publish(u, "one", "", "", []byte("file"))
	st, _, b := a.call("POST", "/images/"+u+"?action=disable", nil, false)
	a.errorIs("disable without the token", 401, b, st, "Unauthorized", "")
	st, _, b = a.call("POST", "/images/"+u+"?action=disable", nil, true)
	if st != 200 || !strings.Contains(string(b), `"state":"disabled"`) || !strings.Contains(string(b), `"disabled":true`) {
		t.Fatalf("disable: %d %s", st, b)
	}
	if st, _, b := a.call("GET", "/images", nil, false); st != 200 || string(b) != "[]" {
		t.Errorf("list with the image disabled: %d %s", st, b)
	}
	if st, _, b := a.call("GET", "/images?state=disabled", nil, true); st != 200 || !strings.Contains(string(b), u) {
		t.Errorf("list of disabled images: %d %s", st, b)
	}
	if st, _, b := a.call("GET", "/images/"+u+"/file", nil, false); st != 200 || string(b) != "file" {
		t.Errorf("file of a disabled image: %d %s", st, b)
	}
	st, _, b = a.call("POST", "/images/"+u+"?action=enable", nil, true)
	if st != 200 || !strings.Contains(string(b), `"state":"active"`) || !strings.Contains(string(b), `"disabled":false`) {
		t.Fatalf("enable: %d %s", st, b)
	}
	if st, _, b := a.call("GET", "/images", nil, false); st != 200 || !strings.Contains(string(b), u) {
		t.Errorf("list with the image enabled: %d %s", st, b)
	}
	st, _, b = a.call("POST", "/images/"+uuidN(2)+"?action=disable", nil, true)
	a.errorIs("disable of a missing image", 404, b, st, "ResourceNotFound", "image not found")
}

// TestUpdateImage: UpdateImage changes the fields IMGAPI lets it change,
// removes those given as null, and refuses the others and a manifest it
// would not import, changing nothing.
func TestUpdateImage(t *testing.T) {
	a := newAPI(t, testToken)
	u := uuidN(1)
	a.publish(u, "one", "", "", []byte("file"))
	path := "/images/" + u + "?action=update"
	st, _, b := a.call("POST", path, []byte(`{"description":"x"}`), false)
	a.errorIs("update without the token", 401, b, st, "Unauthorized", "")
	st, _, b = a.call("POST", path, []byte(`{"description":"the first","tags":{"role":"db"},"billing_tags":null}`), true)
	var m image.Manifest
	if json.Unmarshal(b, &m) != nil || st != 200 || m.Description != "the first" || m.Tags["role"] != "db" || m.BillingTags != nil || m.Name != "one" || m.State != "active" {
		t.Fatalf("update: %d %s", st, b)
	}
	if st, _, b := a.call("GET", "/images/"+u, nil, false); st != 200 || !strings.Contains(string(b), `"description":"the first"`) {
		t.Errorf("image after update: %d %s", st, b)
	}
	st, _, b = a.call("POST", path, []byte(`{"name":"two","state":"failed","description":"y"}`), true)
	a.errorIs("update of fields that cannot be", 422, b, st, "ValidationFailed", "invalid image update data: name, state")
	st, _, b = a.call("POST", path, []byte(`{"type":"bogus"}`), true)
	if st != 422 || !strings.Contains(string(b), `"field":"type"`) {
		t.Errorf("update to an invalid type: %d %s", st, b)
	}
	st, _, b = a.call("POST", path, []byte(`{}`), true)
	a.errorIs("empty update", 422, b, st, "ValidationFailed", "invalid image update data: no parameters provided")
	st, _, b = a.call("POST", path, []byte(`[1]`), true)
	a.errorIs("update with no object", 422, b, st, "ValidationFailed", "missing request body")
	if st, _, b := a.call("GET", "/images/"+u, nil, false); st != 200 || !strings.Contains(string(b), `"description":"the first"`) || strings.Contains(string(b), "bogus") {
		t.Errorf("image after refused updates: %d %s", st, b)
	}
	st, _, b = a.call("POST", "/images/"+uuidN(2)+"?action=update", []byte(`{"description":"x"}`), true)
	a.errorIs("update of a missing image", 404, b, st, "ResourceNotFound", "image not found")
}
