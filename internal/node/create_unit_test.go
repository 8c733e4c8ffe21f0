package node

import (
	"slices"
	"syscall"
	"testing"

	"hull/internal/vm"
)

func TestZonerootTypes(t *testing.T) {
	for _, c := range []struct {
		brand     string
		docker    bool
		imageType string
		ok        bool
	}{
		{"joyent", false, "zone-dataset", true},
		{"joyent", false, "lx-dataset", false},
		{"joyent", false, "docker", false},
		{"joyent-minimal", false, "zone-dataset", true},
		{"joyent-minimal", true, "docker", true},
		{"joyent-minimal", false, "docker", false},
		{"joyent-minimal", true, "lx-dataset", false},
		{"lx", false, "lx-dataset", true},
		{"lx", true, "docker", true},
		{"lx", false, "zone-dataset", true},
		{"lx", false, "zvol", false},
		{"joyent", false, "other", false},
	} {
		if got := slices.Contains(zonerootTypes(c.brand, c.docker), c.imageType); got != c.ok {
			t.Errorf("%s (docker %v) from a %s image: %v, want %v", c.brand, c.docker, c.imageType, got, c.ok)
		}
	}
}

// A stop asks hull's inits with their own signals, and leaves an image's
// own init (lx, or a docker VM's init_name there) to be asked its way.
func TestHullStopSignal(t *testing.T) {
	yes := true
	tests := []struct {
		name string
		vm   vm.VM
		sig  syscall.Signal
		ok   bool
	}{
		{"joyent", vm.VM{Brand: "joyent"}, syscall.SIGPWR, true},
		{"sparse", vm.VM{Brand: "sparse"}, syscall.SIGPWR, true},
		{"joyent-minimal docker", vm.VM{Brand: "joyent-minimal", Docker: &yes}, syscall.SIGTERM, true},
		{"lx docker", vm.VM{Brand: "lx", Docker: &yes}, syscall.SIGTERM, true},
		{"lx", vm.VM{Brand: "lx"}, 0, false},
		{"lx docker with init_name", vm.VM{Brand: "lx", Docker: &yes, InitName: "/sbin/init"}, 0, false},
	}
	for _, tt := range tests {
		sig, ok := hullStopSignal(&tt.vm)
		if sig != tt.sig || ok != tt.ok {
			t.Errorf("%s: %v %v, want %v %v", tt.name, sig, ok, tt.sig, tt.ok)
		}
	}
}
