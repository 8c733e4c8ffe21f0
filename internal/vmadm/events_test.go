package vmadm

import (
	"bytes"
	"testing"

	"hull/internal/node"
)

func TestPrintEvent(t *testing.T) {
	e := node.Event{Type: "modify", Date: "2026-11-22T10:11:12.345Z", UUID: "0a1b2c3d-0000-4000-8000-000000000001",
		Alias: "web", Changes: []node.Change{{Path: "state", Action: "changed", Old: "stopped", New: "running"}}}
	tests := []struct {
		full, json bool
		want       string
	}{
		{false, false, "[10:11:12.345Z] 0a1b2c3d web modify: state changed :: \"stopped\" -> \"running\"\n"},
		{true, false, "[2026-11-22T10:11:12.345Z] 0a1b2c3d-0000-4000-8000-000000000001 web modify: state changed :: \"stopped\" -> \"running\"\n"},
		{false, true, `{"type":"modify","date":"2026-11-22T10:11:12.345Z","zonename":"","uuid":"0a1b2c3d-0000-4000-8000-000000000001","alias":"web","changes":[{"path":"state","action":"changed","oldValue":"stopped","newValue":"running"}]}` + "\n"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		c := &cli{env: Env{Stdout: &out}}
		c.printEvent(e, tt.full, tt.json)
		if out.String() != tt.want {
			t.Errorf("full=%v json=%v:\n got %q\nwant %q", tt.full, tt.json, out.String(), tt.want)
		}
	}
	var out bytes.Buffer
	c := &cli{env: Env{Stdout: &out}}
	c.printEvent(node.Event{Type: "create", Date: "2026-11-22T10:11:12.345Z", UUID: "0a1b2c3d-0000-4000-8000-000000000001"}, false, false)
	if out.String() != "[10:11:12.345Z] 0a1b2c3d - create\n" {
		t.Errorf("create: %q", out.String())
	}
}
