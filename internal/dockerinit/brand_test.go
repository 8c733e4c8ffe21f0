package dockerinit_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"hull/internal/image"
	"hull/internal/image/registrytest"
	"hull/internal/node"
	"hull/internal/node/nodetest"
)

// payload is a docker VM create payload from the image, with the
// image's config in internal_metadata as the docker API puts it, and
// overrides on top. The brand is joyent-minimal unless override names
// one (SmartOS's docker API makes lx zones).
func payload(t *testing.T, n *node.Node, uuid string, override map[string]string) string {
	img, err := n.Images.Get(uuid)
	if err != nil {
		t.Fatal(err)
	}
	md := image.DockerInternalMetadata(img.Manifest)
	if md == nil {
		md = map[string]string{}
	}
	brand := "joyent-minimal"
	for k, v := range override {
		if k == "brand" {
			brand = v
			continue
		}
		md[k] = v
	}
	p := map[string]any{"brand": brand, "docker": true, "image_uuid": uuid, "internal_metadata": md}
	if brand == "lx" {
		p["kernel_version"] = "4.3.0" // lx requires it; the docker API sets it
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// waitExit reaps the zone (as hulld does) until it has stopped.
func waitExit(t *testing.T, n *node.Node, uuid string) *int {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		n.Reconcile(context.Background(), log)
		v, err := n.Get(uuid)
		if err != nil {
			t.Fatal(err)
		}
		if v.State == "stopped" && v.ExitTimestamp != "" {
			return v.ExitStatus
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("zone %s did not exit", uuid)
	return nil
}

func TestDockerBrand(t *testing.T) {
	n := nodetest.New(t)
	reg := registrytest.Start(t, false)
	a, b := registrytest.TestImages(t)
	reg.Push(t, "hull/a:1.0", a)
	reg.Push(t, "hull/b:1.0", b)
	src, err := image.NewDocker(reg.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	im := &image.Importer{Store: n.Images, Sources: []image.Source{src}}
	ua, ub := registrytest.LayerUUIDs(t, a), registrytest.LayerUUIDs(t, b)
	for _, ref := range []string{"hull/a:1.0", "hull/b:1.0"} {
		if _, err := im.ImportDocker(context.Background(), ref); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, u := range []string{ua[1], ub[1], ua[0]} {
			n.Images.Delete(u)
		}
	})

	tests := []struct {
		name     string
		override map[string]string
		out      string
	}{
		{"image config", nil, "greeting=hello pwd=/app user=0 args=from-image"},
		{"overridden", map[string]string{"docker:cmd": `["x","y"]`, "docker:env": `["GREETING=bye"]`,
			"docker:workdir": "/tmp", "docker:user": "65534"}, "greeting=bye pwd=/tmp user=65534 args=x y"},
		{"lx brand", map[string]string{"brand": "lx"}, "greeting=hello pwd=/app user=0 args=from-image"},
		{"lx brand overridden", map[string]string{"brand": "lx", "docker:cmd": `["x","y"]`, "docker:env": `["GREETING=bye"]`,
			"docker:workdir": "/tmp", "docker:user": "65534"}, "greeting=bye pwd=/tmp user=65534 args=x y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uuid := nodetest.Create(t, n, payload(t, n, ua[1], tt.override))
			st := waitExit(t, n, uuid)
			if st == nil || *st != 7 {
				t.Errorf("exit_status %v, want 7", st)
			}
			log, _ := os.ReadFile(n.ConsoleLog(uuid))
			if !strings.Contains(string(log), tt.out) {
				t.Errorf("console log %q lacks %q", log, tt.out)
			}
			v, _ := n.Get(uuid)
			if v.RestartInit == nil || *v.RestartInit {
				t.Errorf("restart_init: %v", v.RestartInit)
			}
		})
	}

	// The entrypoint replaced: PID 1's child sleeps; stop asks it with
	// SIGTERM and the zone halts well within the grace period.
	uuid := nodetest.Create(t, n, payload(t, n, ub[1], map[string]string{"docker:cmd": `["/bin/sleep","1000"]`}))
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if err := n.Stop(context.Background(), uuid, false, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stop took %s", d)
	}
	// A program that ignores SIGTERM is killed after docker's 10 s, the
	// default grace of a docker VM's stop (an OS VM's is 60 s).
	uuid = nodetest.Create(t, n, payload(t, n, ub[1], map[string]string{"docker:cmd": `["/bin/sh","-c","trap '' TERM; while :; do sleep 1; done"]`}))
	time.Sleep(500 * time.Millisecond)
	start = time.Now()
	if err := n.Stop(context.Background(), uuid, false, 0); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 9*time.Second || d > 30*time.Second {
		t.Errorf("stop of a program that ignores SIGTERM took %s, want about 10 s", d)
	}
	// Image b's own command, the file of its top layer.
	uuid = nodetest.Create(t, n, payload(t, n, ub[1], nil))
	if st := waitExit(t, n, uuid); st == nil || *st != 0 {
		t.Errorf("image b exit_status %v", st)
	}
	if log, _ := os.ReadFile(n.ConsoleLog(uuid)); !strings.Contains(string(log), "image b") {
		t.Errorf("image b console: %q", log)
	}
}
