// Package zone turns a VM object into a running zone: it renders the OCI
// runtime spec from the VM (pure, testable without root), prepares the
// zone's root filesystem, and drives the OCI runtime (runc or crun).
package zone

import (
	"fmt"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hull/internal/priv"
	"hull/internal/vm"
)

// In-zone paths of what hull puts into every zone.
const (
	// HullDir holds the host's hull binary, bind-mounted read-only. The
	// binary is static, so it runs in images with no libc.
	HullDir = "/.hull"
	// HullBin is the in-zone path of the hull binary.
	HullBin = HullDir + "/hull"
	// IDRange is the size of every zone's uid/gid range.
	IDRange = 65536
	// CPUPeriod is the CFS period used for cpu_cap (100 = one CPU).
	CPUPeriod = 100000
)

// Inputs is everything besides the VM object that the spec depends on:
// host facts and paths chosen by the node. Keeping them explicit keeps
// Render pure.
type Inputs struct {
	// RootFS is the host path of the zone's root as the runtime sees it
	// (the idmapped mount of the dataset's root/).
	RootFS string
	// HullBinary is the host path of the static hull binary.
	HullBinary string
	// HostID is the first host uid/gid of the zone's range.
	HostID uint32
	// CgroupsPath is the runtime's cgroupsPath ("/hull/<uuid>").
	CgroupsPath string
	// HostRO lists host directories mounted read-only into sparse zones,
	// with whether each is a real directory (symlinks are recreated in
	// the zone's skeleton instead of mounted).
	HostRO []string
	// MemlockHard is the host's hard RLIMIT_MEMLOCK that the runtime runs
	// with: a zone's limit can only be lowered from it (0: no cap).
	MemlockHard uint64
	// Zonecontrol is the host directory holding the zone's metadata
	// socket, mounted at /.zonecontrol ("" for none).
	Zonecontrol string
	// ToolLinks is a host directory of symlinks named after MdataTools
	// and zoneinit.ShutdownTools, each pointing at HullBin: in sparse zones it is
	// laid over the host's /usr/sbin, so the tools are where SmartOS has
	// them.
	ToolLinks string
	// HostConf is the host directory holding a docker zone's hosts,
	// hostname and resolv.conf (DockerHostConf), mounted over the
	// image's ("" for none).
	HostConf string
	// Delegated is the host path, as the runtime sees it (idmapped), of
	// the zone's delegated dataset, mounted where SmartOS's zone finds
	// it: /zones/<uuid>/data ("" for none).
	Delegated string
}

// SparseHostDirs are the host trees a sparse zone shares read-only.
var SparseHostDirs = []string{"/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin"}

// Init returns the argv of the zone's PID 1 for its brand.
func Init(v *vm.VM) []string {
	if IsDocker(v) && v.InitName == "" {
		return DockerInit(v)
	}
	switch v.Brand {
	case "lx":
		if v.InitName != "" {
			return []string{v.InitName}
		}
		return []string{"/sbin/init"}
	default:
		return []string{HullBin, "svc.startd"}
	}
}

// Hostname is the zone's hostname: the VM's, else its zonename.
func Hostname(v *vm.VM) string {
	if v.Hostname != "" {
		return v.Hostname
	}
	if v.Zonename != "" {
		return v.Zonename
	}
	return v.UUID
}

// Render builds the OCI runtime spec for a VM. It is pure: the same VM and
// inputs always give the same spec.
func Render(v *vm.VM, in Inputs) (*specs.Spec, error) {
	if v.UUID == "" {
		return nil, fmt.Errorf("render %q: VM has no uuid", v.Alias)
	}
	if in.RootFS == "" || in.HullBinary == "" || in.HostID == 0 {
		return nil, fmt.Errorf("render %s: incomplete inputs", v.UUID)
	}
	hostname := Hostname(v)
	// The zone's limit_priv, as zoneadm checks it at boot; what each
	// privilege is on Linux is priv's.
	privs, err := priv.Parse(v.LimitPriv, v.Brand)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", v.UUID, err)
	}
	caps := priv.Capabilities(privs)
	s := &specs.Spec{
		Version: "1.0.2",
		Root:    &specs.Root{Path: in.RootFS},
		Process: &specs.Process{
			Args: Init(v),
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"HULL_HOSTNAME=" + hostname,
				"HULL_UUID=" + v.UUID,
				"container=hull",
			},
			Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps,
				Effective: caps,
				Permitted: caps,
			},
		},
		Hostname: hostname,
		Mounts:   mounts(v, in, privs),
		Annotations: map[string]string{
			"org.hull.uuid":  v.UUID,
			"org.hull.brand": v.Brand,
		},
		Linux: &specs.Linux{
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: in.HostID, Size: IDRange}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: in.HostID, Size: IDRange}},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
				{Type: specs.NetworkNamespace}, {Type: specs.CgroupNamespace},
				{Type: specs.UserNamespace},
			},
			CgroupsPath:   in.CgroupsPath,
			Resources:     Resources(v),
			Sysctl:        IPCSysctls(v, os.Getpagesize()),
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
			Seccomp:       seccompFor(runtime.GOARCH, privs),
		},
	}
	if len(v.Nics) > 0 {
		// The node plumbs the NICs once the zone's namespaces exist; the
		// zone's init waits for them (startd's waitNetwork).
		var names []string
		for i, n := range v.Nics {
			if n.Interface == "" {
				n.Interface = fmt.Sprintf("net%d", i)
			}
			names = append(names, n.Interface)
		}
		s.Process.Env = append(s.Process.Env, "HULL_NET_WAIT="+strings.Join(names, ","))
	}
	applyDocker(v, s)
	if v.MaxLockedMemory > 0 {
		b := uint64(v.MaxLockedMemory) << 20
		if in.MemlockHard > 0 {
			b = min(b, in.MemlockHard)
		}
		s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_MEMLOCK", Hard: b, Soft: b})
	}
	return s, nil
}

// Resources maps the VM's resource controls onto cgroup limits. It is also
// what a live update hands the runtime.
func Resources(v *vm.VM) *specs.LinuxResources {
	r := &specs.LinuxResources{Devices: deviceRules()}
	if v.MaxPhysicalMemory > 0 {
		mem := v.MaxPhysicalMemory << 20
		r.Memory = &specs.LinuxMemory{Limit: &mem}
		if v.MaxSwap > 0 {
			// SmartOS max_swap caps memory+swap together, as the
			// runtime's swap value does.
			sw := max(v.MaxSwap, v.MaxPhysicalMemory) << 20
			r.Memory.Swap = &sw
		}
	}
	if v.MaxLwps > 0 {
		r.Pids = &specs.LinuxPids{Limit: v.MaxLwps}
	}
	cpu := &specs.LinuxCPU{}
	if v.CPUShares > 0 {
		sh := CPUSharesToKernel(v.CPUShares)
		cpu.Shares = &sh
	}
	if v.CPUCap > 0 {
		q := v.CPUCap * CPUPeriod / 100
		p := uint64(CPUPeriod)
		cpu.Quota, cpu.Period = &q, &p
	}
	if cpu.Shares != nil || cpu.Quota != nil {
		r.CPU = cpu
	}
	return r
}

// CPUSharesToKernel scales SmartOS cpu_shares (default 100) to the kernel's
// cpu.shares (default 1024), so a default zone weighs like any other
// cgroup on the host and ratios between zones are kept.
func CPUSharesToKernel(shares int64) uint64 {
	k := uint64(shares) * 1024 / 100
	return min(max(k, 2), 262144)
}

func mounts(v *vm.VM, in Inputs, privs priv.Set) []specs.Mount {
	procOpts := []string{"nosuid", "noexec", "nodev"}
	if !priv.SeeAll(privs) {
		// proc_info withheld: a process sees only its own user's.
		procOpts = append(procOpts, "hidepid=2")
	}
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: procOpts},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
	if v.Brand == "sparse" {
		for _, d := range in.HostRO {
			ms = append(ms, specs.Mount{Destination: d, Type: "bind", Source: d,
				Options: []string{"rbind", "ro", "nosuid", "nodev"}})
		}
	}
	if v.Tmpfs == nil || *v.Tmpfs > 0 {
		size := v.MaxPhysicalMemory
		if v.Tmpfs != nil {
			size = *v.Tmpfs
		}
		opts := []string{"nosuid", "nodev", "mode=1777"}
		if size > 0 {
			opts = append(opts, fmt.Sprintf("size=%dm", size))
		}
		ms = append(ms, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "swap", Options: opts})
	}
	ms = append(ms, hostConfMounts(v, in.HostConf)...)
	for _, fs := range v.Filesystems {
		ms = append(ms, filesystemMount(fs))
	}
	if in.Delegated != "" {
		ms = append(ms, specs.Mount{Destination: DelegatedPath(v.UUID), Type: "bind", Source: in.Delegated,
			Options: []string{"rbind", "nosuid", "nodev"}})
	}
	ms = append(ms, specs.Mount{Destination: HullBin, Type: "bind", Source: in.HullBinary,
		Options: []string{"bind", "ro", "nosuid", "nodev"}})
	return append(ms, metadataMounts(v, in)...)
}

// DelegatedPath is where a zone sees its delegated dataset: its default
// mountpoint in a SmartOS zone.
func DelegatedPath(uuid string) string { return "/zones/" + uuid + "/data" }

// MdataTools are the in-zone metadata commands, the hull binary under
// their names.
var MdataTools = []string{"mdata-get", "mdata-put", "mdata-delete", "mdata-list"}

// SMFTools are the service manager's commands, the hull binary under
// their names, with the directory (under a zone's root) SmartOS has each
// in.
var SMFTools = []struct{ Dir, Name string }{
	{"usr/bin", "svcs"}, {"usr/sbin", "svcadm"}, {"usr/sbin", "svccfg"},
}

// metadataMounts give the zone its metadata socket's directory where
// SmartOS clients look (/native/... in lx zones) and the mdata tools in
// /usr/sbin. A sparse zone's /usr/sbin is the host's, read-only, where no
// file can be bind-mounted over a name that does not exist: there a
// read-only overlay shows the host's /usr/sbin with the tools' links on
// top (the host's directory is never written).
func metadataMounts(v *vm.VM, in Inputs) []specs.Mount {
	if in.Zonecontrol == "" {
		return nil
	}
	prefix := ""
	if v.Brand == "lx" {
		prefix = "/native"
	}
	ms := []specs.Mount{{Destination: prefix + "/.zonecontrol", Type: "bind", Source: in.Zonecontrol,
		Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}}}
	if v.Brand == "sparse" {
		if in.ToolLinks == "" || !slices.Contains(in.HostRO, "/usr") {
			return ms
		}
		return append(ms, specs.Mount{Destination: "/usr/sbin", Type: "overlay", Source: "overlay",
			Options: []string{"ro", "nosuid", "nodev", "lowerdir=" + in.ToolLinks + ":/usr/sbin"}})
	}
	for _, t := range MdataTools {
		ms = append(ms, specs.Mount{Destination: prefix + "/usr/sbin/" + t, Type: "bind", Source: in.HullBinary,
			Options: []string{"bind", "ro", "nosuid", "nodev"}})
	}
	return ms
}

// filesystemMount maps a SmartOS filesystems entry: lofs is a bind mount;
// other types are mounted by type.
func filesystemMount(fs vm.Filesystem) specs.Mount {
	m := specs.Mount{Destination: path.Clean(fs.Target), Source: fs.Source}
	opts := append([]string(nil), fs.Options...)
	switch fs.Type {
	case "lofs", "", "bind":
		m.Type = "bind"
		opts = append([]string{"rbind"}, opts...)
	default:
		m.Type = fs.Type
		if m.Source == "" {
			m.Source = fs.Type
		}
	}
	for i, o := range opts {
		// SmartOS spells "nodevices"; Linux "nodev".
		if o == "nodevices" {
			opts[i] = "nodev"
		}
	}
	m.Options = opts
	return m
}

// deviceRules allows the standard set of character devices and nothing
// else: no host block devices, no /dev/kmsg, no /dev/mem.
func deviceRules() []specs.LinuxDeviceCgroup {
	rwm := "rwm"
	c := func(major, minor int64) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: rwm}
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: rwm},
		c(1, 3), c(1, 5), c(1, 7), c(1, 8), c(1, 9), // null zero full random urandom
		c(5, 0), c(5, 1), c(5, 2), // tty console ptmx
		{Allow: true, Type: "c", Major: ptr(int64(136)), Access: rwm}, // pts
	}
}

func ptr[T any](v T) *T { return &v }

var maskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", "/sys/devices/virtual/powercap", "/sys/kernel/debug",
}

var readonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// HostROFor returns the sparse brand's host directories that exist as real
// directories on this host, given a stat function (injected for tests).
func HostROFor(isDir func(string) bool) []string {
	var out []string
	for _, d := range SparseHostDirs {
		if isDir(d) {
			out = append(out, d)
		}
	}
	return out
}

// CgroupsPath is the cgroup (relative to each hierarchy) of a zone.
func CgroupsPath(uuid string) string { return "/hull/" + uuid }

// ContainerID is the runtime's id for a zone: its uuid.
func ContainerID(uuid string) string { return strings.ToLower(uuid) }
