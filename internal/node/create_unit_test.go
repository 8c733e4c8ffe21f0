package node

import (
	"slices"
	"testing"
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
