package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"hull/internal/vm"
)

const (
	testUUID  = "4b2a9a0e-5c5f-4d8e-9e59-2b0c6b8e1a11"
	otherUUID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
)

// fakeSource keeps VM objects in memory and updates them with the real
// update semantics (vm.ApplyUpdate), for tests that need no node.
type fakeSource struct {
	mu      sync.Mutex
	vms     map[string][]byte
	updates int
}

func newFake(vms ...*vm.VM) *fakeSource {
	f := &fakeSource{vms: map[string][]byte{}}
	for _, v := range vms {
		b, _ := json.Marshal(v)
		f.vms[v.UUID] = b
	}
	return f
}

func (f *fakeSource) Get(uuid string) (*vm.VM, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.vms[uuid]
	if !ok {
		return nil, fmt.Errorf("zoneadm: %s: No such zone configured", uuid)
	}
	var v vm.VM
	err := json.Unmarshal(b, &v)
	return &v, err
}

func (f *fakeSource) Update(ctx context.Context, uuid string, payload []byte) (*vm.VM, error) {
	cur, err := f.Get(uuid)
	if err != nil {
		return nil, err
	}
	next, _, err := vm.ApplyUpdate(cur, payload, time.Now())
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(next)
	f.mu.Lock()
	f.vms[uuid] = b
	f.updates++
	f.mu.Unlock()
	return next, nil
}

func ptr[T any](v T) *T { return &v }

func testVM(uuid string) *vm.VM {
	return &vm.VM{
		UUID: uuid, Alias: "web", Hostname: "web01", Brand: "joyent",
		ImageUUID: "dc0688f0-0f6b-4b10-9a1e-2d9fa4ad9d22", OwnerUUID: "930896af-bf8c-48d4-885c-6573a94b1853",
		DNSDomain: "example.com", Tmpfs: ptr(int64(256)), MaxPhysicalMemory: 256,
		CustomerMetadata: map[string]string{
			"user-data": "hello", "user-script": "#!/bin/sh\necho hi",
			"cloud-init:user-data": "#cloud-config\nhostname: web01\n",
			"root_authorized_keys": "ssh-ed25519 AAAA test@host",
			"dots":                 ".\n..x\nend", "customer_pw": "ignored",
			"docker:cmd": "customer copy, hidden by the namespace",
		},
		InternalMetadata: map[string]string{
			"root_pw": "secret", "operator-script": "echo op", "sdc:volumes": "[]",
			"docker:cmd": `["sh"]`, "hidden": "internal only",
		},
		InternalMetadataNamespaces: []string{"docker"},
		Tags:                       map[string]any{"role": "db", "n": float64(3)},
		Resolvers:                  []string{"8.8.8.8", "1.1.1.1"},
		Nics: []vm.NIC{{MAC: "02:08:20:aa:bb:cc", Interface: "net0", NicTag: "admin",
			IP: "10.0.0.5", Netmask: "255.255.255.0", Gateway: "10.0.0.1", Primary: true}},
		Routes: map[string]string{"10.1.0.0/16": "nics[0]", "192.168.0.0/24": "10.0.0.254",
			"172.16.0.0/12": "macs[02:08:20:aa:bb:cc]"},
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
