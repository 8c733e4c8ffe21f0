package zone

import (
	"encoding/json"
	"net/netip"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hull/internal/vm"
)

// A docker zone's name-service files are the host's, as on SmartOS: its
// hosts, hostname and resolv.conf are written from the VM object into
// the zonepath's config/ and bind-mounted over the image's own (which
// stay as the image has them). docker:hostsFile, docker:hostnameFile and
// docker:resolvConfFile move a file elsewhere in the zone.

// HostConfFile is one of a docker zone's name-service files.
type HostConfFile struct {
	Name     string // in the zonepath's config/
	Target   string // where the zone sees it
	Contents string
}

// dockerHosts is the start of every docker zone's /etc/hosts.
var dockerHosts = []vm.HostEntry{
	{IP: "127.0.0.1", Names: "localhost"},
	{IP: "::1", Names: "localhost ip6-localhost ip6-loopback"},
	{IP: "fe00::0", Names: "ip6-localnet"},
	{IP: "ff00::0", Names: "ip6-mcastprefix"},
	{IP: "ff02::1", Names: "ip6-allnodes"},
	{IP: "ff02::2", Names: "ip6-allrouters"},
}

// hostConfTargets are the three files' places in the zone.
func hostConfTargets(v *vm.VM) (hosts, hostname, resolv string) {
	at := func(key, def string) string {
		if p := v.InternalMetadata[key]; p != "" {
			// SmartOS joins the path to the zone's root: relative is
			// as absolute.
			return path.Join("/", p)
		}
		return def
	}
	return at("docker:hostsFile", "/etc/hosts"), at("docker:hostnameFile", "/etc/hostname"),
		at("docker:resolvConfFile", "/etc/resolv.conf")
}

// DockerHostConf renders a docker zone's hosts, hostname and resolv.conf
// as SmartOS's VM.js does: hosts names the hostname at each static
// address of the primary NIC, then localhost and the IPv6 names, then
// docker:extraHosts, then docker:linkHosts as it is; resolv.conf has the
// resolvers and a search line of docker:dnssearch and the dns_domain.
func DockerHostConf(v *vm.VM) ([]HostConfFile, error) {
	extra, err := vm.DockerExtraHosts(v.InternalMetadata)
	if err != nil {
		return nil, err
	}
	// The zone's own hostname (SmartOS's is the hostname or the uuid;
	// the zonename, which is the uuid unless set, comes between).
	name := Hostname(v)
	var hosts []vm.HostEntry
	for _, nic := range v.Nics {
		if !nic.Primary {
			continue
		}
		for _, ip := range nic.IPs {
			if p, err := netip.ParsePrefix(ip); err == nil {
				// SmartOS puts each in front of the last.
				hosts = append([]vm.HostEntry{{IP: p.Addr().String(), Names: name}}, hosts...)
			}
		}
	}
	hosts = append(append(hosts, dockerHosts...), extra...)
	var h strings.Builder
	for _, e := range hosts {
		h.WriteString(e.IP + "\t" + e.Names + "\n")
	}
	h.WriteString(v.InternalMetadata["docker:linkHosts"])

	var search []string
	if s := v.InternalMetadata["docker:dnssearch"]; s != "" {
		// SmartOS ignores a value that is not a JSON array.
		_ = json.Unmarshal([]byte(s), &search)
	}
	if v.DNSDomain != "" {
		search = append(search, v.DNSDomain)
	}
	var rc strings.Builder
	for _, r := range v.Resolvers {
		rc.WriteString("nameserver " + r + "\n")
	}
	if len(search) > 0 {
		rc.WriteString("search " + strings.Join(search, " ") + "\n")
	}

	hostsAt, hostnameAt, resolvAt := hostConfTargets(v)
	return []HostConfFile{
		{Name: "resolv.conf", Target: resolvAt, Contents: rc.String()},
		{Name: "hosts", Target: hostsAt, Contents: h.String()},
		{Name: "hostname", Target: hostnameAt, Contents: name + "\n"},
	}, nil
}

// hostConfMounts bind-mount a docker zone's name-service files from dir
// (the zonepath's config/). The zone may write them, as a docker
// container may.
func hostConfMounts(v *vm.VM, dir string) []specs.Mount {
	if !IsDocker(v) || dir == "" {
		return nil
	}
	hosts, hostname, resolv := hostConfTargets(v)
	var ms []specs.Mount
	for _, f := range []struct{ name, target string }{{"resolv.conf", resolv}, {"hosts", hosts}, {"hostname", hostname}} {
		ms = append(ms, specs.Mount{Destination: f.target, Type: "bind", Source: path.Join(dir, f.name),
			Options: []string{"bind", "rw", "nosuid", "nodev", "noexec"}})
	}
	return ms
}
