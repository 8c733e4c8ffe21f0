package vm

import "testing"

// Every property an OS zone may set must have somewhere to be stored,
// or create would silently drop it.
func TestPropertiesHaveFields(t *testing.T) {
	for _, p := range Properties {
		if p.Transient || p.Kind == KindObjectArray && p.Name != "nics" && p.Name != "filesystems" {
			continue
		}
		if (p.Create|p.Update)&brandsOS == 0 {
			continue
		}
		if _, ok := vmFields[p.Name]; !ok {
			t.Errorf("property %s has no VM field", p.Name)
		}
	}
	for _, p := range SubProperties {
		if p.Add&brandsOS == 0 {
			continue
		}
		name := p.Name[len("nics.*."):]
		if p.Name[0] == 'f' {
			continue
		}
		if _, ok := nicMeta.index[name]; !ok {
			t.Errorf("sub-property %s has no NIC field", p.Name)
		}
	}
}

func TestIsLive(t *testing.T) {
	for prop, want := range map[string]bool{
		"cpu_cap": true, "cpu_shares": true, "zfs_io_priority": true, "max_physical_memory": true,
		"max_locked_memory": true, "max_swap": true, "max_lwps": true, "quota": true, "tmpfs": true,
		"ram": false, "alias": false, "nics": false, "resolvers": false, "fs_allowed": false, "bogus": false,
	} {
		if IsLive(prop) != want {
			t.Errorf("IsLive(%s) = %v", prop, !want)
		}
	}
}

func TestBrandTable(t *testing.T) {
	tests := []struct {
		prop, brand    string
		create, update bool
	}{
		{"alias", "sparse", true, true},
		{"image_uuid", "sparse", false, false},
		{"image_uuid", "lx", true, false},
		{"kernel_version", "lx", true, true},
		{"kernel_version", "joyent", false, false},
		{"docker", "joyent-minimal", true, true},
		{"docker", "joyent", false, false},
		{"tmpfs", "kvm", false, false},
		{"vcpus", "kvm", true, true},
		{"vcpus", "joyent", false, false},
		{"brand", "joyent", true, false},
		{"add_nics", "lx", false, true},
		{"package_name", "bhyve", false, false},
	}
	for _, tt := range tests {
		p, ok := Property(tt.prop)
		if !ok {
			t.Fatalf("no property %s", tt.prop)
		}
		if p.Create.Has(tt.brand) != tt.create || p.Update.Has(tt.brand) != tt.update {
			t.Errorf("%s for %s: create %v update %v", tt.prop, tt.brand, p.Create.Has(tt.brand), p.Update.Has(tt.brand))
		}
	}
	for brand, typ := range map[string]string{"joyent": "OS", "joyent-minimal": "OS", "sparse": "OS", "lx": "LX", "kvm": "KVM", "bhyve": "BHYVE", "x": ""} {
		if BrandType(brand) != typ {
			t.Errorf("BrandType(%s) = %q", brand, BrandType(brand))
		}
	}
}
