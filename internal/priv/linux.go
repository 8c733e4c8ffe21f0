package priv

// capabilities are the Linux capabilities a zone's processes may hold,
// each with the privileges it stands for. A capability is given only
// when the set holds all of them: it grants each of their powers, and a
// zone must not have a power its limit took away. (A capability in a
// zone's user namespace reaches only what the zone owns.)
var capabilities = []struct {
	cap   string
	needs []string
}{
	{"CAP_AUDIT_WRITE", list("proc_audit")},
	{"CAP_CHOWN", list("file_chown")},
	{"CAP_DAC_OVERRIDE", list("file_dac_execute file_dac_read file_dac_search file_dac_write")},
	{"CAP_DAC_READ_SEARCH", list("file_dac_read file_dac_search")},
	// With fs.protected_hardlinks, CAP_FOWNER is also what lets a
	// process link to another user's file (file_link_any).
	{"CAP_FOWNER", list("file_owner file_link_any")},
	{"CAP_FSETID", list("file_setid")},
	{"CAP_IPC_LOCK", list("proc_lock_memory")},
	{"CAP_IPC_OWNER", list("ipc_dac_read ipc_dac_write ipc_owner")},
	{"CAP_KILL", list("proc_owner")},
	// In a user namespace the kernel makes no device nodes, only
	// overlayfs whiteouts: a file operation.
	{"CAP_MKNOD", list("file_owner")},
	{"CAP_NET_ADMIN", list("sys_ip_config")},
	{"CAP_NET_BIND_SERVICE", list("net_privaddr")},
	{"CAP_NET_RAW", list("net_icmpaccess net_rawaccess")},
	{"CAP_SETFCAP", list("file_setid")},
	{"CAP_SETGID", list("proc_setid")},
	{"CAP_SETPCAP", list("proc_setid")},
	{"CAP_SETUID", list("proc_setid")},
	// Rebooting or halting the zone from inside it (zone_uadmin) is
	// sys_admin's.
	{"CAP_SYS_BOOT", list("sys_admin")},
	{"CAP_SYS_CHROOT", list("proc_chroot")},
	{"CAP_SYS_NICE", list("proc_priocntl")},
	// Controlling (and examining) processes of other users, in or out
	// of the session.
	{"CAP_SYS_PTRACE", list("proc_owner proc_session")},
	{"CAP_SYS_RESOURCE", list("sys_resource")},
}

// Capabilities are the Linux capabilities s gives, in a fixed order.
// None reaches the host: CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_RAWIO,
// CAP_SYS_TIME, CAP_SYSLOG, CAP_MAC_*, CAP_BPF and CAP_PERFMON are never
// in a zone (their privileges are prohibited in zones, or are the
// zone's own on illumos but the host's on Linux).
func Capabilities(s Set) []string {
	var caps []string
	for _, c := range capabilities {
		all := true
		for _, p := range c.needs {
			all = all && s[p]
		}
		if all {
			caps = append(caps, c.cap)
		}
	}
	return caps
}

// NetAccess reports whether the zone's processes may open TCP, UDP or
// SCTP endpoints (net_access): without it socket(2) for IPv4 and IPv6
// fails with EACCES, as illumos's does.
func NetAccess(s Set) bool { return s["net_access"] }

// SeeAll reports whether the zone's processes may examine processes
// they cannot signal (proc_info): without it the zone's /proc hides
// other users' processes (hidepid), from all but those with
// CAP_SYS_PTRACE.
func SeeAll(s Set) bool { return s["proc_info"] }
