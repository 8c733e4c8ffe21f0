package vmadm

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"hull/internal/node"
	"hull/internal/vm"
)

func TestPrintEvent(t *testing.T) {
	const id = "0a1b2c3d-0000-4000-8000-000000000001"
	e := node.Event{Type: "modify", Date: "2026-11-22T10:11:12.345Z", UUID: id, Zonename: id,
		Alias: "web", Changes: []node.Change{{Path: "state", Action: "changed", Old: "stopped", New: "running"}}}
	obj := &vm.VM{UUID: id, Zonename: id, Alias: "web", Brand: "joyent"}
	get := func(string) (*vm.VM, error) { return obj, nil }
	tests := []struct {
		full, json bool
		want       string
	}{
		{false, false, "[10:11:12.345Z] 0a1b2c3d web modify: state changed :: \"stopped\" -> \"running\"\n"},
		{true, false, "[2026-11-22T10:11:12.345Z] " + id + " web modify: state changed :: \"stopped\" -> \"running\"\n"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		p := &eventPrinter{w: &out, full: tt.full, json: tt.json, vms: map[string]*vm.VM{}, get: get}
		p.event(e)
		if out.String() != tt.want {
			t.Errorf("full=%v json=%v:\n got %q\nwant %q", tt.full, tt.json, out.String(), tt.want)
		}
	}

	// -j: vminfod's object, with the VM and path arrays.
	var out bytes.Buffer
	p := &eventPrinter{w: &out, json: true, vms: map[string]*vm.VM{}, get: get}
	p.event(e)
	for _, want := range []string{`{"type":"modify","date":"2026-11-22T10:11:12.345Z","zonename":"` + id + `","uuid":"` + id + `","vm":{"uuid":"` + id + `"`,
		`"changes":[{"prettyPath":"state","path":["state"],"action":"changed","oldValue":"stopped","newValue":"running"}]}`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-j output lacks %s:\n%s", want, out.String())
		}
	}
	// A delete event carries the last object seen, the VM being gone.
	out.Reset()
	p.get = func(string) (*vm.VM, error) { return nil, errors.New("gone") }
	p.event(node.Event{Type: "delete", Date: e.Date, UUID: id, Zonename: id})
	if !strings.Contains(out.String(), `"type":"delete"`) || !strings.Contains(out.String(), `"vm":{"uuid":"`+id) {
		t.Errorf("delete: %s", out.String())
	}

	// No alias: "-"; a long one is cut to 27 characters and "...";
	// added and removed values print as undefined.
	out.Reset()
	p = &eventPrinter{w: &out, vms: map[string]*vm.VM{}}
	p.event(node.Event{Type: "create", Date: e.Date, UUID: id, Zonename: id})
	p.event(node.Event{Type: "modify", Date: e.Date, UUID: id, Zonename: id, Alias: strings.Repeat("a", 31),
		Changes: []node.Change{{Path: "alias", Action: "added", New: "x"}, {Path: "cpu_cap", Action: "removed", Old: 100}}})
	want := "[10:11:12.345Z] 0a1b2c3d - create\n" +
		"[10:11:12.345Z] 0a1b2c3d " + strings.Repeat("a", 27) + "... modify: alias added :: undefined -> \"x\"\n" +
		"[10:11:12.345Z] 0a1b2c3d " + strings.Repeat("a", 27) + "... modify: cpu_cap removed :: 100 -> undefined\n"
	if out.String() != want {
		t.Errorf("got %q\nwant %q", out.String(), want)
	}
}

func TestPrintReady(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 11, 12, 345e6, time.UTC)
	for _, tt := range []struct {
		full, json bool
		want       string
	}{
		{false, false, "[10:11:12.345Z] ready\n"},
		{true, false, "[2026-11-22T10:11:12.345Z] ready (uuid s1)\n"},
		{false, true, `{"type":"ready","date":"2026-11-22T10:11:12.345Z","uuid":"s1","vms":{"z1":{"uuid":"u1"`},
	} {
		var out bytes.Buffer
		p := &eventPrinter{w: &out, full: tt.full, json: tt.json}
		p.ready(at, "s1", []*vm.VM{{UUID: "u1", Zonename: "z1"}})
		if !strings.HasPrefix(out.String(), tt.want) {
			t.Errorf("full=%v json=%v: %q, want %q", tt.full, tt.json, out.String(), tt.want)
		}
	}
}

// TestChangeJSON: changes are written as vminfod writes them, and read
// back from that shape or the older one.
func TestChangeJSON(t *testing.T) {
	c := node.Change{Path: "snapshots.*", Action: "added", New: map[string]any{"name": "s"}}
	b, err := c.MarshalJSON()
	if err != nil || string(b) != `{"prettyPath":"snapshots.*","path":["snapshots",null],"action":"added","newValue":{"name":"s"}}` {
		t.Fatalf("%s %v", b, err)
	}
	var back node.Change
	if err := back.UnmarshalJSON(b); err != nil || back.Path != "snapshots.*" || back.Action != "added" {
		t.Fatalf("%+v %v", back, err)
	}
	if err := back.UnmarshalJSON([]byte(`{"path":"state","action":"changed","oldValue":"a","newValue":"b"}`)); err != nil || back.Path != "state" || back.New != "b" {
		t.Fatalf("older shape: %+v %v", back, err)
	}
}
