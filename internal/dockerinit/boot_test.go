package dockerinit_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"hull/internal/hulld"
	"hull/internal/node/nodetest"
)

// TestDockerWaitForAttach: while docker:wait_for_attach is set, the
// program does not run; when it is removed (as docker attach does) the
// program runs; when its time passes, or it is not a time, the zone
// stops with SmartOS dockerinit's exit status and message.
func TestDockerWaitForAttach(t *testing.T) {
	n := nodetest.New(t)
	top := busyboxImage(t, n, "hull/attach:1")
	// dockerinit reads the key from the zone's metadata, which hulld
	// serves.
	md := hulld.StartMetadata(context.Background(), n, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer md.Close()
	cmd := `["/bin/sh","-c","echo started"]`
	later := strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10)
	uuid := nodetest.Create(t, n, payload(t, n, top, map[string]string{"docker:cmd": cmd, "docker:wait_for_attach": later}))
	time.Sleep(1500 * time.Millisecond)
	v, err := n.Get(uuid)
	if err != nil || v.State != "running" || strings.Contains(output(n, uuid), "started") {
		t.Fatalf("before the attach: %v, state %s, log %q", err, v.State, output(n, uuid))
	}
	if v.CustomerMetadata["__dockerinit_waiting_for_attach"] != later {
		t.Errorf("customer_metadata while waiting: %v", v.CustomerMetadata)
	}
	if _, err := n.Update(context.Background(), uuid, []byte(`{"remove_internal_metadata":["docker:wait_for_attach"]}`)); err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, n, uuid); st == nil || *st != 0 || !strings.Contains(output(n, uuid), "started\n") {
		t.Errorf("after the attach: exit_status %v, log %q", st, output(n, uuid))
	}
	if v, _ := n.Get(uuid); v.CustomerMetadata["__dockerinit_waiting_for_attach"] != "" {
		t.Errorf("customer_metadata after: %v", v.CustomerMetadata)
	}
	for _, c := range []struct {
		value  string
		status int
		msg    string
	}{
		{strconv.FormatInt(time.Now().Add(time.Second).UnixMilli(), 10), 45, "dockerinit: Timed out waiting for attach\n"},
		{"soon", 43, "dockerinit: Invalid value for 'docker:wait_for_attach'\n"},
	} {
		uuid := nodetest.Create(t, n, payload(t, n, top, map[string]string{"docker:cmd": cmd, "docker:wait_for_attach": c.value}))
		if st := waitExit(t, n, uuid); st == nil || *st != c.status || output(n, uuid) != c.msg {
			t.Errorf("wait_for_attach %s: exit_status %v, log %q; want %d, %q", c.value, st, output(n, uuid), c.status, c.msg)
		}
	}
}

// TestDockerHostVolumes: a docker VM's filesystem whose source is an
// http URL is a host volume, as in SmartOS: the source becomes a file in
// the zonepath, fetched anew at each boot and mounted at the target, and
// docker:hostvolumes records the URL; a fetch that fails fails the boot.
func TestDockerHostVolumes(t *testing.T) {
	n := nodetest.New(t)
	top := busyboxImage(t, n, "hull/hostvol:1")
	var mu sync.Mutex
	body := "first\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/greeting" || body == "" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, body)
	}))
	defer srv.Close()
	p := map[string]any{}
	json.Unmarshal([]byte(payload(t, n, top, map[string]string{"docker:cmd": `["/bin/cat","/etc/greeting"]`})), &p)
	p["filesystems"] = []any{map[string]any{"type": "lofs", "source": srv.URL + "/greeting", "target": "/etc/greeting"}}
	b, _ := json.Marshal(p)
	uuid := nodetest.Create(t, n, string(b))
	if st := waitExit(t, n, uuid); st == nil || *st != 0 || output(n, uuid) != "first\n" {
		t.Fatalf("exit_status %v, log %q", st, output(n, uuid))
	}
	v, _ := n.Get(uuid)
	if want := `{"/etc/greeting":{"url":"` + srv.URL + `/greeting"}}`; v.InternalMetadata["docker:hostvolumes"] != want {
		t.Errorf("docker:hostvolumes %q, want %q", v.InternalMetadata["docker:hostvolumes"], want)
	}
	if want := n.Zonepath(uuid) + "/hostvolumes/etc/greeting"; len(v.Filesystems) != 1 || v.Filesystems[0].Source != want {
		t.Errorf("filesystems %+v, want the source %s", v.Filesystems, want)
	}
	mu.Lock()
	body = "second\n"
	mu.Unlock()
	if err := n.Start(context.Background(), uuid); err != nil {
		t.Fatal(err)
	}
	if waitExit(t, n, uuid); !strings.HasSuffix(output(n, uuid), "second\n") {
		t.Errorf("after a second boot, log %q", output(n, uuid))
	}
	mu.Lock()
	body = ""
	mu.Unlock()
	err := n.Start(context.Background(), uuid)
	if err == nil || !strings.Contains(err.Error(), "host volume /etc/greeting: GET "+srv.URL+"/greeting: 404 Not Found") {
		t.Errorf("start with the volume gone: %v", err)
	}
	if v, _ := n.Get(uuid); v.State != "stopped" {
		t.Errorf("state %s after a failed start", v.State)
	}
}
