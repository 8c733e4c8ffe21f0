package node

import (
	"testing"
	"time"

	"hull/internal/idmap"
)

// TestWarmUserns: a node that warms user namespaces (as hulld's does) has
// the next zone's made soon after a boot, and that zone boots with it.
func TestWarmUserns(t *testing.T) {
	n := newNode(t)
	n.WarmUserns = true
	create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`"}`)
	next, err := n.IDs.NextFree()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !idmap.Kept(next) {
		if time.Now().After(deadline) {
			t.Fatalf("the next range's user namespace (%v) is not made", next)
		}
		time.Sleep(20 * time.Millisecond)
	}
	uuid := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`"}`)
	if r, ok, err := n.IDs.Lookup(uuid); err != nil || !ok || r != next {
		t.Errorf("second zone's range: %v %v %v, want %v", r, ok, err, next)
	}
	if s := state(t, n, uuid); s != "running" {
		t.Errorf("second zone is %s", s)
	}
}
