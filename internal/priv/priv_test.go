package priv

import (
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		limit, brand string
		has, hasnt   []string
		err          string
	}{
		{limit: "", brand: "joyent", has: []string{"proc_fork", "net_access", "file_chown", "sys_ip_config"}, hasnt: []string{"dtrace_proc", "sys_time"}},
		{limit: "default", brand: "lx", has: []string{"dtrace_proc", "dtrace_user", "sys_smb"}},
		{limit: "default,dtrace_user", brand: "joyent", has: []string{"dtrace_user", "file_owner"}},
		{limit: "default,-file_link_any,-net_access", brand: "joyent", has: []string{"file_owner"}, hasnt: []string{"file_link_any", "net_access"}},
		{limit: " Default , !PRIV_NET_ACCESS,proc_priocntl", brand: "joyent", has: []string{"proc_priocntl"}, hasnt: []string{"net_access"}},
		{limit: "basic,proc_setid,sys_mount,sys_ip_config", brand: "joyent", has: []string{"proc_setid", "proc_info"}, hasnt: []string{"file_chown"}},
		{limit: "all", brand: "joyent", has: []string{"sys_time", "dtrace_user", "win_config"}, hasnt: []string{"sys_config", "dtrace_kernel"}},
		{limit: "zone,-sys_time", brand: "joyent", hasnt: []string{"sys_time"}},
		{limit: "default,frobnicate", brand: "joyent", err: `unknown privilege "frobnicate" specified in the zone's privilege set`},
		{limit: "default,sys_config", brand: "joyent", err: `privilege "sys_config" is not permitted within the zone's privilege set`},
		{limit: "default,dtrace_kernel", brand: "lx", err: `privilege "dtrace_kernel" is not permitted within the zone's privilege set`},
		{limit: "default,-proc_fork", brand: "joyent", err: `required privilege "proc_fork" is missing from the zone's privilege set`},
		{limit: "default,-sys_ip_config", brand: "joyent", err: `required privilege "sys_ip_config" is missing from the zone's privilege set`},
		{limit: "none", brand: "joyent", err: `required privilege "proc_exec" is missing from the zone's privilege set`},
		{limit: "none,proc_exec,proc_fork,sys_ip_config,sys_mount", brand: "joyent", err: `privilege "file_read" cannot be removed from a zone on this node`},
		{limit: "default,-file_write", brand: "joyent", err: `privilege "file_write" cannot be removed from a zone on this node`},
	} {
		s, err := Parse(c.limit, c.brand)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%q: error %v, want %s", c.limit, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.limit, err)
			continue
		}
		for _, p := range c.has {
			if !s.Has(p) {
				t.Errorf("%q (%s): %s missing", c.limit, c.brand, p)
			}
		}
		for _, p := range c.hasnt {
			if s.Has(p) {
				t.Errorf("%q (%s): %s present", c.limit, c.brand, p)
			}
		}
	}
}

func TestCapabilities(t *testing.T) {
	caps := func(limit string) []string {
		s, err := Parse(limit, "joyent")
		if err != nil {
			t.Fatal(err)
		}
		return Capabilities(s)
	}
	def := caps("default")
	// What a zone has had: an OS container's, its own network stack's.
	for _, c := range []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE", "CAP_NET_ADMIN", "CAP_SYS_BOOT", "CAP_IPC_OWNER"} {
		if !slices.Contains(def, c) {
			t.Errorf("default: %s missing", c)
		}
	}
	// Nothing that reaches the host, whatever the limit.
	for _, c := range []string{"CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_TIME", "CAP_SYSLOG", "CAP_BPF", "CAP_PERFMON", "CAP_MAC_ADMIN"} {
		if slices.Contains(caps("all"), c) {
			t.Errorf("all: %s present", c)
		}
	}
	for _, c := range []struct {
		limit string
		gone  []string
		added []string
	}{
		{"default,-file_chown", []string{"CAP_CHOWN"}, nil},
		{"default,-file_dac_write", []string{"CAP_DAC_OVERRIDE"}, nil},
		{"default,-file_link_any", []string{"CAP_FOWNER"}, nil},
		{"default,-net_rawaccess", []string{"CAP_NET_RAW"}, nil},
		{"default,-proc_setid", []string{"CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"}, nil},
		{"default,-proc_session", []string{"CAP_SYS_PTRACE"}, nil},
		{"default,-net_privaddr", []string{"CAP_NET_BIND_SERVICE"}, nil},
		{"default,proc_priocntl", nil, []string{"CAP_SYS_NICE"}},
	} {
		got := caps(c.limit)
		for _, g := range c.gone {
			if slices.Contains(got, g) {
				t.Errorf("%s: %s still there", c.limit, g)
			}
		}
		for _, a := range c.added {
			if !slices.Contains(got, a) {
				t.Errorf("%s: no %s", c.limit, a)
			}
		}
		if len(got)+len(c.gone)-len(c.added) != len(def) {
			t.Errorf("%s: %v, from %v", c.limit, got, def)
		}
	}
}

func TestNetAccessAndSeeAll(t *testing.T) {
	s, _ := Parse("default", "joyent")
	if !NetAccess(s) || !SeeAll(s) {
		t.Error("default withholds net_access or proc_info")
	}
	s, _ = Parse("default,-net_access,-proc_info", "joyent")
	if NetAccess(s) || SeeAll(s) {
		t.Error("net_access or proc_info still there")
	}
}
