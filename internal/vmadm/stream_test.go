package vmadm_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"hull/internal/node"
	"hull/internal/node/nodetest"
	"hull/internal/testenv"
	"hull/internal/vm"
)

// TestEventsStream follows `vmadm events -j` while a zone is created,
// updated, stopped and deleted: each shows up as it happens.
func TestEventsStream(t *testing.T) {
	n := nodetest.New(t)
	c := exec.Command(testenv.HullBinary(t), "vmadm", "events", "-j", "-r")
	c.Env = os.Environ()
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { c.Process.Kill(); c.Wait() }()
	type event struct {
		node.Event
		VM *vm.VM `json:"vm"`
	}
	lines := make(chan event, 64)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				lines <- e
			}
		}
		close(lines)
	}()
	next := func(want string) event {
		t.Helper()
		for {
			select {
			case e, ok := <-lines:
				if !ok {
					t.Fatalf("events ended before %q", want)
				}
				if e.Type == want {
					return e
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("no %q event", want)
			}
		}
	}
	next("ready")
	uuid := nodetest.Create(t, n, `{"brand":"joyent-minimal","alias":"ev","image_uuid":"`+nodetest.BusyboxUUID+`"}`)
	if e := next("create"); e.UUID != uuid || e.VM == nil || e.VM.Alias != "ev" {
		t.Fatalf("create event: %+v", e)
	}
	ctx := context.Background()
	if _, err := n.Update(ctx, uuid, []byte(`{"max_lwps":500}`)); err != nil {
		t.Fatal(err)
	}
	if e := next("modify"); len(e.Changes) == 0 || e.Changes[0].Path != "max_lwps" || e.Changes[0].Action != "changed" ||
		e.Changes[0].Old != 2000.0 || e.Changes[0].New != 500.0 || e.VM == nil || e.VM.MaxLwps != 500 {
		t.Fatalf("modify event: %+v", e)
	}
	if err := n.Stop(ctx, uuid, true, 0); err != nil {
		t.Fatal(err)
	}
	if err := n.Delete(ctx, uuid); err != nil {
		t.Fatal(err)
	}
	if e := next("delete"); e.VM == nil || e.VM.UUID != uuid {
		t.Fatalf("delete event: %+v", e)
	}
}
