package zone

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hull/internal/priv"
	"hull/internal/vm"
)

func testInputs() Inputs {
	return Inputs{RootFS: "/r/rootfs", HullBinary: "/r/bin/hull", HostID: 1 << 24, CgroupsPath: "/hull/u", HostRO: []string{"/usr"}}
}

func baseVM() *vm.VM {
	tmpfs := int64(128)
	return &vm.VM{UUID: "0a1b2c3d-0000-4000-8000-000000000001", Brand: "joyent", MaxPhysicalMemory: 256,
		MaxSwap: 512, MaxLwps: 2000, CPUShares: 100, ZFSIOPriority: 100, Tmpfs: &tmpfs, MaxLockedMemory: 256}
}

func mount(s *specs.Spec, dst string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dst {
			return &s.Mounts[i]
		}
	}
	return nil
}

func TestRenderIsolation(t *testing.T) {
	s, err := Render(baseVM(), testInputs())
	if err != nil {
		t.Fatal(err)
	}
	var ns []specs.LinuxNamespaceType
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, n.Type)
	}
	for _, want := range []specs.LinuxNamespaceType{"pid", "ipc", "uts", "mount", "network", "cgroup", "user"} {
		if !slices.Contains(ns, want) {
			t.Errorf("namespace %s missing", want)
		}
	}
	if m := s.Linux.UIDMappings; len(m) != 1 || m[0].HostID != 1<<24 || m[0].ContainerID != 0 || m[0].Size != 65536 {
		t.Errorf("uid map %+v", m)
	}
	for _, c := range []string{"CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_TIME", "CAP_SYSLOG", "CAP_BPF"} {
		if slices.Contains(s.Process.Capabilities.Bounding, c) {
			t.Errorf("%s in bounding set", c)
		}
	}
	if !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sysrq-trigger") || !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") {
		t.Error("proc paths not protected")
	}
	if s.Linux.Seccomp == nil || !slices.Contains(s.Linux.Seccomp.Syscalls[0].Names, "init_module") {
		t.Error("seccomp does not deny init_module")
	}
	if got := s.Process.Args; !slices.Equal(got, []string{HullBin, "svc.startd"}) {
		t.Errorf("init %v", got)
	}
	if m := mount(s, HullBin); m == nil || !slices.Contains(m.Options, "ro") {
		t.Errorf("hull binary mount %+v", m)
	}
	if mount(s, "/usr") != nil {
		t.Error("joyent zone shares host /usr")
	}
}

func TestRenderResources(t *testing.T) {
	v := baseVM()
	v.CPUCap = 150
	s, err := Render(v, testInputs())
	if err != nil {
		t.Fatal(err)
	}
	r := s.Linux.Resources
	if *r.Memory.Limit != 256<<20 || *r.Memory.Swap != 512<<20 {
		t.Errorf("memory %d swap %d", *r.Memory.Limit, *r.Memory.Swap)
	}
	if r.Pids.Limit != 2000 {
		t.Errorf("pids %d", r.Pids.Limit)
	}
	if *r.CPU.Quota != 150000 || *r.CPU.Period != 100000 || *r.CPU.Shares != 1024 {
		t.Errorf("cpu %+v", r.CPU)
	}
	if m := mount(s, "/tmp"); m == nil || !slices.Contains(m.Options, "size=128m") {
		t.Errorf("tmp %+v", m)
	}
	if l := s.Process.Rlimits[len(s.Process.Rlimits)-1]; l.Type != "RLIMIT_MEMLOCK" || l.Hard != 256<<20 {
		t.Errorf("memlock %+v", l)
	}
}

func TestRenderBrands(t *testing.T) {
	tests := []struct {
		brand, init string
		usr         bool
	}{
		{"joyent", HullBin, false},
		{"joyent-minimal", HullBin, false},
		{"sparse", HullBin, true},
		{"lx", "/sbin/init", false},
	}
	for _, tt := range tests {
		v := baseVM()
		v.Brand = tt.brand
		s, err := Render(v, testInputs())
		if err != nil {
			t.Fatal(err)
		}
		if s.Process.Args[0] != tt.init {
			t.Errorf("%s: init %v", tt.brand, s.Process.Args)
		}
		m := mount(s, "/usr")
		if (m != nil) != tt.usr {
			t.Errorf("%s: /usr mount %+v", tt.brand, m)
		}
		if m != nil && !slices.Contains(m.Options, "ro") {
			t.Errorf("%s: /usr not read-only", tt.brand)
		}
	}
}

// The mdata tools are where SmartOS has them in every brand: bind mounts
// of the hull binary, or in sparse zones (whose /usr/sbin is the host's)
// a read-only overlay of the tool links over the host's /usr/sbin.
func TestRenderMdataTools(t *testing.T) {
	in := testInputs()
	in.Zonecontrol, in.ToolLinks = "/r/run/zonecontrol/u", "/r/share/sbin"
	for brand, want := range map[string]string{
		"joyent": "/usr/sbin/mdata-get", "lx": "/native/usr/sbin/mdata-get", "sparse": "/usr/sbin",
	} {
		v := baseVM()
		v.Brand = brand
		s, err := Render(v, in)
		if err != nil {
			t.Fatal(err)
		}
		m := mount(s, want)
		switch {
		case m == nil:
			t.Errorf("%s: no mount at %s", brand, want)
		case brand == "sparse":
			if m.Type != "overlay" || !slices.Equal(m.Options, []string{"ro", "nosuid", "nodev", "lowerdir=/r/share/sbin:/usr/sbin"}) {
				t.Errorf("sparse /usr/sbin: %+v", m)
			}
		case m.Source != in.HullBinary || !slices.Contains(m.Options, "ro"):
			t.Errorf("%s: %+v", brand, m)
		}
	}
}

func TestRenderTmpfsZeroHasNoTmpfs(t *testing.T) {
	v := baseVM()
	zero := int64(0)
	v.Tmpfs = &zero
	s, _ := Render(v, testInputs())
	if mount(s, "/tmp") != nil {
		t.Error("tmpfs=0 still mounts /tmp")
	}
}

func TestRenderFilesystems(t *testing.T) {
	v := baseVM()
	v.Filesystems = []vm.Filesystem{{Type: "lofs", Source: "/srv/data", Target: "/data", Options: []string{"ro", "nodevices"}}}
	s, _ := Render(v, testInputs())
	m := mount(s, "/data")
	if m == nil || m.Type != "bind" || !slices.Equal(m.Options, []string{"rbind", "ro", "nodev"}) {
		t.Errorf("lofs mount %+v", m)
	}
}

func TestRenderDelegated(t *testing.T) {
	v := baseVM()
	dest := "/zones/" + v.UUID + "/data"
	s, _ := Render(v, testInputs())
	if mount(s, dest) != nil {
		t.Errorf("%s mounted without a delegated dataset", dest)
	}
	in := testInputs()
	in.Delegated = "/run/hull/rootfs/x/data"
	s, _ = Render(v, in)
	m := mount(s, dest)
	if m == nil || m.Type != "bind" || m.Source != in.Delegated || slices.Contains(m.Options, "ro") {
		t.Errorf("delegated dataset mount %+v", m)
	}
}

func TestRenderRejectsIncompleteInputs(t *testing.T) {
	if _, err := Render(baseVM(), Inputs{}); err == nil {
		t.Fatal("want error")
	}
	if _, err := Render(&vm.VM{}, testInputs()); err == nil {
		t.Fatal("want error")
	}
}

func TestCPUShares(t *testing.T) {
	for in, want := range map[int64]uint64{100: 1024, 1: 10, 0: 2, 65535: 262144, 50: 512} {
		if got := CPUSharesToKernel(in); got != want {
			t.Errorf("%d → %d, want %d", in, got, want)
		}
	}
}

func TestHostROFor(t *testing.T) {
	got := HostROFor(func(p string) bool { return p == "/usr" || p == "/lib64" })
	if !slices.Equal(got, []string{"/usr", "/lib64"}) {
		t.Errorf("%v", got)
	}
}

func TestRenderDocker(t *testing.T) {
	yes := true
	tests := []struct {
		name   string
		md     map[string]string
		init   string
		argv   []string
		cwd    string
		envHas []string
		envNot []string
	}{
		{name: "entrypoint+cmd", md: map[string]string{
			"docker:entrypoint": `["/app/run.sh"]`, "docker:cmd": `["a b","c"]`,
			"docker:env": `["GREETING=hi","PATH=/bin"]`, "docker:workdir": "/app"},
			argv: []string{HullBin, "dockerinit", "--", "/app/run.sh", "a b", "c"}, cwd: "/app",
			envHas: []string{"GREETING=hi", "PATH=/bin", "HOSTNAME=0a1b2c3d-0000-4000-8000-000000000001", "container=hull"},
			envNot: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		{name: "cmd only, user", md: map[string]string{"docker:cmd": `["sh"]`, "docker:user": "nobody:nogroup", "docker:workdir": "relative"},
			argv: []string{HullBin, "dockerinit", "-u", "nobody:nogroup", "--", "sh"}, cwd: "/"},
		{name: "tty, open stdin", md: map[string]string{"docker:cmd": `["sh"]`, "docker:tty": "true", "docker:open_stdin": "true"},
			argv: []string{HullBin, "dockerinit", "-t", "-i", "--", "sh"}, cwd: "/"},
		{name: "tty false", md: map[string]string{"docker:cmd": `["sh"]`, "docker:tty": "false"},
			argv: []string{HullBin, "dockerinit", "--", "sh"}, cwd: "/"},
		{name: "init_name wins", md: map[string]string{"docker:cmd": `["sh"]`}, init: "/bin/other",
			argv: []string{HullBin, "svc.startd"}, cwd: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := baseVM()
			v.Docker, v.InternalMetadata, v.InitName = &yes, tt.md, tt.init
			s, err := Render(v, testInputs())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Process.Args, tt.argv) || s.Process.Cwd != tt.cwd {
				t.Errorf("args %q cwd %q, want %q %q", s.Process.Args, s.Process.Cwd, tt.argv, tt.cwd)
			}
			for _, e := range tt.envHas {
				if !slices.Contains(s.Process.Env, e) {
					t.Errorf("env %q lacks %q", s.Process.Env, e)
				}
			}
			for _, e := range tt.envNot {
				if slices.Contains(s.Process.Env, e) {
					t.Errorf("env %q has %q", s.Process.Env, e)
				}
			}
		})
	}
	// Not docker: unchanged.
	s, _ := Render(baseVM(), testInputs())
	if s.Process.Args[1] != "svc.startd" || s.Process.Cwd != "/" {
		t.Errorf("non-docker zone: %q %q", s.Process.Args, s.Process.Cwd)
	}
}

// TestSeccompArches: the filter names every ABI the host's processes can
// call in with, and only those.
func TestSeccompArches(t *testing.T) {
	for _, c := range []struct {
		goarch string
		want   []specs.Arch
	}{
		{"amd64", []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}},
		{"arm64", []specs.Arch{specs.ArchAARCH64, specs.ArchARM}},
	} {
		if got := seccompFor(c.goarch, priv.Default("joyent")).Architectures; !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.goarch, got, c.want)
		}
	}
	if len(seccompFor(runtime.GOARCH, priv.Default("joyent")).Architectures) == 0 {
		t.Errorf("no seccomp architectures for this host (%s)", runtime.GOARCH)
	}
}

// TestRenderLimitPriv: limit_priv shapes the zone's capabilities, its
// /proc and its seccomp filter; one a zone cannot have fails the render.
func TestRenderLimitPriv(t *testing.T) {
	def, err := Render(baseVM(), testInputs())
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(mount(def, "/proc").Options, "hidepid=2") || len(def.Linux.Seccomp.Syscalls) != 1 {
		t.Errorf("default zone: /proc %v, seccomp %+v", mount(def, "/proc").Options, def.Linux.Seccomp.Syscalls)
	}
	if c := def.Process.Capabilities; !slices.Contains(c.Bounding, "CAP_CHOWN") || !slices.Equal(c.Bounding, c.Effective) || !slices.Equal(c.Bounding, c.Permitted) {
		t.Errorf("default zone caps %+v", c)
	}

	v := baseVM()
	v.LimitPriv = "default,-file_chown,-net_access,-proc_info"
	s, err := Render(v, testInputs())
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(s.Process.Capabilities.Bounding, "CAP_CHOWN") || len(s.Process.Capabilities.Bounding) != len(def.Process.Capabilities.Bounding)-1 {
		t.Errorf("caps %v", s.Process.Capabilities.Bounding)
	}
	if !slices.Contains(mount(s, "/proc").Options, "hidepid=2") {
		t.Errorf("/proc %v", mount(s, "/proc").Options)
	}
	var families []uint64
	for _, sc := range s.Linux.Seccomp.Syscalls[1:] {
		if slices.Equal(sc.Names, []string{"socket"}) && *sc.ErrnoRet == 13 && len(sc.Args) == 1 && sc.Args[0].Index == 0 {
			families = append(families, sc.Args[0].Value)
		}
	}
	if !slices.Equal(families, []uint64{2, 10}) {
		t.Errorf("seccomp %+v", s.Linux.Seccomp.Syscalls)
	}

	v.LimitPriv = "default,sys_config"
	if _, err := Render(v, testInputs()); err == nil || !strings.Contains(err.Error(), `privilege "sys_config" is not permitted`) {
		t.Errorf("prohibited privilege rendered: %v", err)
	}
}
