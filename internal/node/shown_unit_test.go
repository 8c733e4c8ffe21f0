package node

import (
	"testing"
	"time"

	"hull/internal/journal"
	"hull/internal/vm"
)

// TestShowTransitions: a VM an operation is making shows SmartOS's
// transition: its state, the state it goes to, and when that expires
// (epoch ms: the operation's start plus SmartOS's timeout).
func TestShowTransitions(t *testing.T) {
	start := time.UnixMilli(1_700_000_000_000)
	ops := map[string]journal.Flight{
		"a": {Op: "create", Started: start},
		"b": {Op: "receive", Started: start},
		"c": {Op: "update", Started: start},
	}
	vms := []*vm.VM{{UUID: "a", State: "running"}, {UUID: "b"}, {UUID: "c", State: "running"}, {UUID: "d", State: "stopped"}}
	showTransitions(ops, vms)
	for i, want := range []struct {
		state, to string
		expire    int64
	}{
		{"provisioning", "running", 1_700_000_300_000},
		{"receiving", "stopped", 1_700_086_400_000},
		{"running", "", 0},
		{"stopped", "", 0},
	} {
		if v := vms[i]; v.State != want.state || v.TransitionTo != want.to || v.TransitionExp != want.expire {
			t.Errorf("%s: %s → %q by %d, want %+v", v.UUID, v.State, v.TransitionTo, v.TransitionExp, want)
		}
	}
}
