package node

import (
	"context"
	"testing"

	"hull/internal/vm"
)

// TestDockerStartAutoboot: as SmartOS's, vmadm start sets autoboot on a
// docker VM only when it has a restart policy.
func TestDockerStartAutoboot(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	uuid := create(t, n, `{"brand":"joyent-minimal","docker":true,"image_uuid":"`+BusyboxUUID+`",
		"internal_metadata":{"docker:cmd":"[\"/bin/sleep\",\"100\"]"}}`)
	autoboot := func() bool { return vm.Bool(mustGet(t, n, uuid).Autoboot, true) }
	for _, policy := range []string{"", "always"} {
		if err := n.Stop(ctx, uuid, true, 0); err != nil {
			t.Fatal(err)
		}
		if autoboot() {
			t.Fatalf("policy %q: autoboot after stop", policy)
		}
		if policy != "" {
			if _, err := n.Update(ctx, uuid, []byte(`{"set_internal_metadata":{"docker:restartpolicy":"`+policy+`"}}`)); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.Start(ctx, uuid); err != nil {
			t.Fatal(err)
		}
		if got := autoboot(); got != (policy != "") {
			t.Errorf("policy %q: autoboot %v after start", policy, got)
		}
	}
}
