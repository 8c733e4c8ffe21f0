package node

import (
	"fmt"
	"testing"
	"time"

	"hull/internal/idmap"
)

// TestWarmUserns: a node that warms user namespaces (as hulld's does) has
// the next zone's made soon after a boot, and that zone boots with it.
func TestWarmUserns(t *testing.T) {
	n := newNode(t)
	n.WarmUserns = true
	// Slots taken up to one that no other test of this process reached
	// (nor an earlier run of this one, with -count), so that the next
	// zone's namespace is not kept already: the zone takes slot i, the
	// next zone slot i+1.
	i := 0
	for ; i < 64 || idmap.Kept(idmap.SlotRange(i+1)); i++ {
		owner := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		if _, err := n.IDs.Allocate(owner); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.IDs.Free(owner) })
	}
	if r := idmap.SlotRange(i + 1); idmap.Kept(r) {
		t.Fatalf("range %v's namespace is kept before any boot", r)
	}
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
