package zone

import (
	"testing"

	"hull/internal/vm"
)

func TestDockerHostConf(t *testing.T) {
	yes := true
	docker := func(f func(v *vm.VM)) *vm.VM {
		v := baseVM()
		v.Brand, v.Docker, v.Zonename = "joyent-minimal", &yes, v.UUID
		v.InternalMetadata = map[string]string{}
		f(v)
		return v
	}
	const local = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n" +
		"ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
	tests := []struct {
		name                          string
		vm                            *vm.VM
		hosts, hostname, resolv       string
		hostsAt, hostnameAt, resolvAt string
	}{
		{"bare", docker(func(v *vm.VM) {}), local, baseVM().UUID + "\n", "", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"},
		{"full", docker(func(v *vm.VM) {
			v.Hostname, v.DNSDomain, v.Resolvers = "web", "local", []string{"8.8.8.8", "8.8.4.4"}
			v.Nics = []vm.NIC{{IPs: []string{"10.0.0.9/24"}}, {Primary: true, IPs: []string{"192.168.1.5/24", "fd00::5/64", "dhcp", "addrconf"}}}
			v.InternalMetadata["docker:extraHosts"] = `["db:10.0.0.2"]`
			v.InternalMetadata["docker:linkHosts"] = "10.0.0.3\tlinked alias\n"
			v.InternalMetadata["docker:dnssearch"] = `["a.example","b.example"]`
		}), "fd00::5\tweb\n192.168.1.5\tweb\n" + local + "10.0.0.2\tdb\n10.0.0.3\tlinked alias\n", "web\n",
			"nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch a.example b.example local\n", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"},
		{"moved, bad dnssearch ignored", docker(func(v *vm.VM) {
			v.InternalMetadata["docker:hostsFile"] = "etc/inet/../inet/hosts"
			v.InternalMetadata["docker:hostnameFile"] = "/etc/nodename"
			v.InternalMetadata["docker:resolvConfFile"] = "/run/resolv.conf"
			v.InternalMetadata["docker:dnssearch"] = `"x"`
		}), local, baseVM().UUID + "\n", "", "/etc/inet/hosts", "/etc/nodename", "/run/resolv.conf"},
	}
	for _, tt := range tests {
		files, err := DockerHostConf(tt.vm)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := map[string]HostConfFile{}
		for _, f := range files {
			got[f.Name] = f
		}
		for _, w := range []HostConfFile{{"hosts", tt.hostsAt, tt.hosts}, {"hostname", tt.hostnameAt, tt.hostname}, {"resolv.conf", tt.resolvAt, tt.resolv}} {
			if got[w.Name] != w {
				t.Errorf("%s: %s = %+v, want %+v", tt.name, w.Name, got[w.Name], w)
			}
		}
		s, err := Render(tt.vm, confInputs())
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []HostConfFile{{"hosts", tt.hostsAt, ""}, {"hostname", tt.hostnameAt, ""}, {"resolv.conf", tt.resolvAt, ""}} {
			if m := mount(s, w.Target); m == nil || m.Source != "/z/config/"+w.Name || m.Type != "bind" {
				t.Errorf("%s: mount of %s: %+v", tt.name, w.Target, m)
			}
		}
	}
	if _, err := DockerHostConf(docker(func(v *vm.VM) { v.InternalMetadata["docker:extraHosts"] = "[1]" })); err == nil {
		t.Error("bad extraHosts rendered")
	}
	// Only docker zones get them.
	s, _ := Render(baseVM(), confInputs())
	if mount(s, "/etc/hosts") != nil {
		t.Error("non-docker zone has /etc/hosts mounted")
	}
}

func confInputs() Inputs {
	in := testInputs()
	in.HostConf = "/z/config"
	return in
}
