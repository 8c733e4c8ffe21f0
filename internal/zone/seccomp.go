package zone

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hull/internal/priv"
)

// deniedSyscalls reach past the zone's namespaces into the host kernel:
// modules, kexec, swap, clocks, the kernel log, keyrings shared across
// namespaces, BPF and perf (kernel introspection), and file handles that
// bypass mount boundaries. They fail with EPERM inside a zone.
var deniedSyscalls = []string{
	"acct", "add_key", "adjtimex", "bpf", "clock_adjtime", "clock_settime",
	"create_module", "delete_module", "finit_module", "get_kernel_syms",
	"init_module", "ioperm", "iopl", "kcmp", "kexec_file_load",
	"kexec_load", "keyctl", "lookup_dcookie", "move_pages",
	"name_to_handle_at", "nfsservctl", "open_by_handle_at", "perf_event_open",
	"pivot_root", "query_module", "quotactl", "request_key",
	"settimeofday", "stime", "swapoff", "swapon", "_sysctl",
	"syslog", "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
	"fanotify_init", "lsm_set_self_attr",
}

// nativeArches are the syscall ABIs a process can use on each host
// architecture: its own and the compat ones the kernel also accepts.
var nativeArches = map[string][]specs.Arch{
	"amd64":   {specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
	"386":     {specs.ArchX86},
	"arm64":   {specs.ArchAARCH64, specs.ArchARM},
	"arm":     {specs.ArchARM},
	"ppc64le": {specs.ArchPPC64LE},
	"s390x":   {specs.ArchS390X, specs.ArchS390},
	"riscv64": {specs.ArchRISCV64},
}

// seccompFor is the seccomp filter of a zone with privileges privs:
// everything allowed except the syscalls above, for every ABI a process
// on this host can call in with. The user namespace already confines
// what the rest can touch; this closes what namespaces do not. (The
// filter covers only ABIs this host has: each one more is rules the
// runtime compiles at every boot.) Without net_access, socket(2) for
// IPv4 and IPv6 fails with EACCES, as on illumos; other families, unix
// sockets and netlink among them, stay.
func seccompFor(goarch string, privs priv.Set) *specs.LinuxSeccomp {
	eperm, eacces := uint(unix.EPERM), uint(unix.EACCES)
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: nativeArches[goarch],
		Syscalls: []specs.LinuxSyscall{{
			Names:    deniedSyscalls,
			Action:   specs.ActErrno,
			ErrnoRet: &eperm,
		}},
	}
	if !priv.NetAccess(privs) {
		for _, family := range []uint64{unix.AF_INET, unix.AF_INET6} {
			s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
				Names:    []string{"socket"},
				Action:   specs.ActErrno,
				ErrnoRet: &eacces,
				Args:     []specs.LinuxSeccompArg{{Index: 0, Value: family, Op: specs.OpEqualTo}},
			})
		}
	}
	return s
}
