package imgapi

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hull/internal/image"
)

var testChannels = []Channel{
	{Name: "dev", Description: "development builds", Default: true},
	{Name: "staging", Description: "release candidates"},
	{Name: "release", Description: "release bits"},
}

// newChannelAPI is a server with testChannels.
func newChannelAPI(t *testing.T, cs []Channel) *api {
	dir := t.TempDir()
	repo, err := OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&Server{Repo: repo, Token: testToken, Channels: cs})
	t.Cleanup(srv.Close)
	return &api{t: t, dir: dir, repo: repo, url: srv.URL}
}

// uuids lists the uuids of a ListImages answer.
func uuids(t *testing.T, b []byte) string {
	var ms []image.Manifest
	if err := json.Unmarshal(b, &ms); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.UUID[len(m.UUID)-1:])
	}
	return strings.Join(out, " ")
}

// TestChannels: images are published into a channel (the default one
// unless named), listed and fetched in it, added to others, and deleted
// from one channel at a time, as on IMGAPI's servers with channels.
func TestChannels(t *testing.T) {
	a := newChannelAPI(t, testChannels)
	if st, _, b := a.call("GET", "/channels", nil, false); st != 200 ||
		string(b) != `[{"name":"dev","description":"development builds","default":true},{"name":"staging","description":"release candidates"},{"name":"release","description":"release bits"}]` {
		t.Errorf("ListChannels: %d %s", st, b)
	}
	file := []byte("image file\n")
	a.publish(uuidN(1), "one", "2024-01-01T00:00:00.000Z", "", file) // dev, the default
	for _, step := range []struct{ method, path string }{
		{"POST", "/images/" + uuidN(2) + "?action=import&channel=staging"},
		{"PUT", "/images/" + uuidN(2) + "/file?compression=none&channel=staging"},
		{"POST", "/images/" + uuidN(2) + "?action=activate&channel=staging"},
	} {
		body := file
		if strings.Contains(step.path, "import") {
			body = manifest(uuidN(2), "two", "2024-02-01T00:00:00.000Z", "")
		}
		if st, _, b := a.call(step.method, step.path, body, true); st != 200 {
			t.Fatalf("%s %s: %d %s", step.method, step.path, st, b)
		}
	}
	// In its channel only; "*" is all of them.
	for q, want := range map[string]string{"": "1", "?channel=dev": "1", "?channel=staging": "2", "?channel=release": "", "?channel=*": "1 2"} {
		if st, _, b := a.call("GET", "/images"+q, nil, false); st != 200 || uuids(t, b) != want {
			t.Errorf("ListImages%s: %d %s, want %s", q, st, b, want)
		}
	}
	st, _, b := a.call("GET", "/images/"+uuidN(2), nil, false)
	a.errorIs("GetImage outside its channel", 404, b, st, "ResourceNotFound", "image not found")
	st, _, b = a.call("GET", "/images/"+uuidN(2)+"/file", nil, false)
	a.errorIs("GetImageFile outside its channel", 404, b, st, "ResourceNotFound", "image not found")
	for _, q := range []string{"?channel=staging", "?channel=*"} {
		if st, _, b := a.call("GET", "/images/"+uuidN(2)+q, nil, false); st != 200 || !strings.Contains(string(b), `"channels":["staging"]`) {
			t.Errorf("GetImage%s: %d %s", q, st, b)
		}
		if st, _, b := a.call("GET", "/images/"+uuidN(2)+"/file"+q, nil, false); st != 200 || string(b) != string(file) {
			t.Errorf("GetImageFile%s: %d %s", q, st, b)
		}
	}
	st, _, b = a.call("GET", "/images?channel=nightly", nil, false)
	a.errorIs("unknown channel", 422, b, st, "ValidationFailed", "unknown channel: nightly")
	st, _, b = a.call("POST", "/images/"+uuidN(3)+"?action=import&channel=*", manifest(uuidN(3), "three", "", ""), true)
	a.errorIs("import into all channels", 422, b, st, "ValidationFailed", "unknown channel: *")

	// ChannelAddImage: staging's image joins release.
	st, _, b = a.call("POST", "/images/"+uuidN(2)+"?action=channel-add&channel=staging", []byte(`{"channel":"release"}`), true)
	var m image.Manifest
	if json.Unmarshal(b, &m) != nil || st != 200 || !slices.Equal(m.Channels, []string{"staging", "release"}) {
		t.Errorf("channel-add: %d %s", st, b)
	}
	st, _, b = a.call("POST", "/images/"+uuidN(2)+"?action=channel-add&channel=staging", []byte(`{"channel":"nightly"}`), true)
	a.errorIs("channel-add to an unknown channel", 422, b, st, "ValidationFailed", "unknown channel: nightly")
	st, _, b = a.call("POST", "/images/"+uuidN(2)+"?action=channel-add", []byte(`{"channel":"release"}`), true)
	a.errorIs("channel-add of an image not in the channel", 404, b, st, "ResourceNotFound", "image not found")
	if st, _, b := a.call("GET", "/images?channel=release", nil, false); st != 200 || uuids(t, b) != "2" {
		t.Errorf("release after channel-add: %d %s", st, b)
	}

	// DeleteImage takes it out of one channel; out of its last, it goes.
	if st, _, b := a.call("DELETE", "/images/"+uuidN(2)+"?channel=staging", nil, true); st != 204 {
		t.Fatalf("delete from staging: %d %s", st, b)
	}
	if st, _, b := a.call("GET", "/images?channel=*", nil, false); st != 200 || uuids(t, b) != "1 2" {
		t.Errorf("after delete from one channel: %d %s", st, b)
	}
	if st, _, b := a.call("GET", "/images/"+uuidN(2)+"?channel=release", nil, false); st != 200 || !strings.Contains(string(b), `"channels":["release"]`) {
		t.Errorf("image left in release: %d %s", st, b)
	}
	if st, _, b := a.call("DELETE", "/images/"+uuidN(2)+"?channel=release", nil, true); st != 204 {
		t.Fatalf("delete from release: %d %s", st, b)
	}
	if _, err := os.Stat(filepath.Join(a.dir, uuidN(2)+".file")); !os.IsNotExist(err) {
		t.Errorf("file of an image in no channel: %v", err)
	}
	// force_all_channels deletes from all at once.
	a.call("POST", "/images/"+uuidN(1)+"?action=channel-add", []byte(`{"channel":"release"}`), true)
	if st, _, b := a.call("DELETE", "/images/"+uuidN(1)+"?force_all_channels=true", nil, true); st != 204 {
		t.Fatalf("delete from all channels: %d %s", st, b)
	}
	if st, _, b := a.call("GET", "/images?channel=*", nil, false); st != 200 || string(b) != "[]" {
		t.Errorf("after deleting everything: %d %s", st, b)
	}

	// Without a default channel one must be named.
	nd := newChannelAPI(t, testChannels[1:])
	st, _, b = nd.call("GET", "/images", nil, false)
	nd.errorIs("no channel, no default", 422, b, st, "ValidationFailed", "channel not specified and the server has no default channel")

	// A server without channels has no /channels and ignores the parameter.
	plain := newAPI(t, testToken)
	st, _, b = plain.call("GET", "/channels", nil, false)
	plain.errorIs("ListChannels without channels", 404, b, st, "ResourceNotFound", "/channels does not exist")
	if st, _, b := plain.call("GET", "/images?channel=whatever", nil, false); st != 200 || string(b) != "[]" {
		t.Errorf("channel on a server without channels: %d %s", st, b)
	}
}

func TestLoadChannels(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ json, err string }{
		{`[{"name":"dev","description":"d","default":true},{"name":"rel","description":"r"}]`, ""},
		{`[]`, "no channels"},
		{`[{"name":"Dev","description":"d"}]`, `invalid channel name: "Dev"`},
		{`[{"name":"dev"}]`, "has no description"},
		{`[{"name":"a","description":"a","default":true},{"name":"b","description":"b","default":true}]`, "multiple *default* channels"},
		{`[{"name":"a","description":"a"},{"name":"a","description":"b"}]`, "given twice"},
		{`{`, "unexpected end"},
	} {
		p := filepath.Join(dir, "channels.json")
		os.WriteFile(p, []byte(c.json), 0o644)
		_, err := LoadChannels(p)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %v, want %q", c.json, err, c.err)
		}
	}
}
