package node

import (
	"context"
	"testing"
	"time"

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

func TestDockerRestartDecision(t *testing.T) {
	st := func(n int) *int { return &n }
	for _, tc := range []struct {
		im     map[string]string
		status *int
		ran    time.Duration
		delay  time.Duration
		ok     bool
	}{
		{map[string]string{}, st(1), 0, 0, false},
		{map[string]string{"docker:restartpolicy": "no"}, st(1), 0, 0, false},
		{map[string]string{"docker:restartpolicy": "always"}, st(0), 0, 100 * time.Millisecond, true},
		{map[string]string{"docker:restartpolicy": "always", "docker:restartcount": "3"}, st(0), 0, 800 * time.Millisecond, true},
		{map[string]string{"docker:restartpolicy": "always", "docker:restartdelay": "1600"}, st(0), time.Second, 1600 * time.Millisecond, true},
		{map[string]string{"docker:restartpolicy": "always", "docker:restartdelay": "1600"}, st(0), 11 * time.Second, 100 * time.Millisecond, true},
		{map[string]string{"docker:restartpolicy": "on-failure"}, st(0), 0, 0, false},
		{map[string]string{"docker:restartpolicy": "on-failure"}, nil, 0, 0, false},
		{map[string]string{"docker:restartpolicy": "on-failure"}, st(137), 0, 100 * time.Millisecond, true},
		{map[string]string{"docker:restartpolicy": "on-failure:2", "docker:restartcount": "1"}, st(1), 0, 200 * time.Millisecond, true},
		{map[string]string{"docker:restartpolicy": "on-failure:2", "docker:restartcount": "2"}, st(1), 0, 0, false},
		{map[string]string{"docker:restartpolicy": "on-failure:x"}, st(1), 0, 0, false},
		{map[string]string{"docker:restartpolicy": "always:2"}, st(1), 0, 0, false},
		{map[string]string{"docker:restartpolicy": "unless-stopped"}, st(1), 0, 0, false},
		{map[string]string{"docker:restartpolicy": "always", "docker:restartcount": "-5"}, st(1), 0, 100 * time.Millisecond, true},
		{map[string]string{"docker:restartpolicy": "always", "docker:restartdelay": "99999999999999"}, st(1), 0, 24 * time.Hour, true},
		{map[string]string{"docker:restartpolicy": "always", "docker:restartcount": "99"}, st(1), 0, 100 * time.Millisecond << 20, true},
	} {
		d, ok := dockerRestart(tc.im, tc.status, tc.ran)
		if d != tc.delay || ok != tc.ok {
			t.Errorf("%v status %v ran %v: %v %v, want %v %v", tc.im, tc.status, tc.ran, d, ok, tc.delay, tc.ok)
		}
	}
}

// TestDockerRestartPolicy: a docker VM whose program fails is started
// again under on-failure:2, twice, then left stopped with its exit
// status; one stopped with vmadm stop is not started again.
func TestDockerRestartPolicy(t *testing.T) {
	n := newNode(t)
	uuid := create(t, n, `{"brand":"joyent-minimal","docker":true,"image_uuid":"`+BusyboxUUID+`",
		"internal_metadata":{"docker:cmd":"[\"/bin/sh\",\"-c\",\"sleep 0.3; exit 3\"]","docker:restartpolicy":"on-failure:2"}}`)
	v := reconcileUntil(t, n, uuid, 30*time.Second, func(v *vm.VM) bool { return v.InternalMetadata["docker:restartcount"] == "2" })
	if v.InternalMetadata["docker:restartdelay"] != "400" {
		t.Errorf("docker:restartdelay %q after two quick restarts, want 400", v.InternalMetadata["docker:restartdelay"])
	}
	reconcileUntil(t, n, uuid, 30*time.Second, func(v *vm.VM) bool { return v.State == "stopped" && v.ExitStatus != nil })
	for i := 0; i < 10; i++ {
		n.Reconcile(context.Background(), testLogger(t))
		time.Sleep(100 * time.Millisecond)
	}
	if v = mustGet(t, n, uuid); v.State != "stopped" || *v.ExitStatus != 3 || v.InternalMetadata["docker:restartcount"] != "2" {
		t.Fatalf("after on-failure:2 ran out: %s exit %v restartcount %q", v.State, *v.ExitStatus, v.InternalMetadata["docker:restartcount"])
	}

	uuid = create(t, n, `{"brand":"joyent-minimal","docker":true,"image_uuid":"`+BusyboxUUID+`",
		"internal_metadata":{"docker:cmd":"[\"/bin/sleep\",\"100\"]","docker:restartpolicy":"always"}}`)
	if err := n.Stop(context.Background(), uuid, false, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		n.Reconcile(context.Background(), testLogger(t))
		time.Sleep(100 * time.Millisecond)
	}
	if v := mustGet(t, n, uuid); v.State != "stopped" || v.InternalMetadata["docker:restartcount"] != "" {
		t.Fatalf("a stopped docker VM with restart policy always: %s restartcount %q", v.State, v.InternalMetadata["docker:restartcount"])
	}
}

// TestAutobootOncePerHostBoot: the first AutobootOnce since the host
// booted boots the VMs that are to run; a second one (hulld restarted on
// a host that stayed up) leaves them stopped, but for a docker VM whose
// restart policy wants it up.
func TestAutobootOncePerHostBoot(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	log := testLogger(t)
	zone := create(t, n, `{"brand":"joyent-minimal","image_uuid":"`+BusyboxUUID+`"}`)
	dk := create(t, n, `{"brand":"joyent-minimal","docker":true,"image_uuid":"`+BusyboxUUID+`",
		"internal_metadata":{"docker:cmd":"[\"/bin/sleep\",\"100\"]","docker:restartpolicy":"always"}}`)
	halted := func() {
		t.Helper()
		for _, u := range []string{zone, dk} {
			if err := n.Stop(ctx, u, true, 0); err != nil {
				t.Fatal(err)
			}
			// Stopped with autoboot set, as a zone that halted itself.
			if _, err := n.Update(ctx, u, []byte(`{"autoboot":true}`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	halted()
	if !n.AutobootOnce(ctx, log) {
		t.Fatal("the first AutobootOnce since the host booted did not autoboot")
	}
	if s, s2 := state(t, n, zone), state(t, n, dk); s != "running" || s2 != "running" {
		t.Fatalf("after the host boot's autoboot: %s %s", s, s2)
	}
	halted()
	if n.AutobootOnce(ctx, log) {
		t.Fatal("autobooted twice in one host boot")
	}
	reconcileUntil(t, n, dk, 10*time.Second, func(v *vm.VM) bool { return v.State == "running" })
	if s := state(t, n, zone); s != "stopped" {
		t.Fatalf("a zone stopped while the host stayed up is %s after a hulld restart", s)
	}
}
