// Package priv is a zone's privilege limit (SmartOS limit_priv): the
// illumos privilege names, each brand's default, prohibited and required
// privileges, the zonecfg syntax ("default,-net_access,dtrace_user"), and
// what each privilege is on Linux (linux.go).
package priv

import (
	"fmt"
	"slices"
	"strings"
)

// Set is a set of privilege names (lower case, without "priv_").
type Set map[string]bool

// Has reports whether p is in the set.
func (s Set) Has(p string) bool { return s[p] }

// Names returns the set's privileges, sorted.
func (s Set) Names() []string {
	var l []string
	for p := range s {
		l = append(l, p)
	}
	slices.Sort(l)
	return l
}

// known are illumos's privileges (privileges(7)).
var known = list(`contract_event contract_identity contract_observer cpc_cpu
	dtrace_kernel dtrace_proc dtrace_user file_chown file_chown_self
	file_dac_execute file_dac_read file_dac_search file_dac_write
	file_downgrade_sl file_flag_set file_link_any file_owner file_read
	file_setid file_upgrade_sl file_write graphics_access graphics_map
	hyprlofs_control ipc_dac_read ipc_dac_write ipc_owner net_access
	net_bindmlp net_icmpaccess net_mac_aware net_mac_implicit net_mlp
	net_observability net_privaddr net_rawaccess proc_audit proc_chroot
	proc_clock_highres proc_exec proc_fork proc_info proc_lock_memory
	proc_owner proc_priocntl proc_prioup proc_secflags proc_session
	proc_setid proc_taskid proc_zone sys_acct sys_admin sys_audit
	sys_config sys_devices sys_dl_config sys_fs_import sys_ip_config
	sys_ipc_config sys_iptun_config sys_linkdir sys_mount sys_net_config
	sys_nfs sys_ppp_config sys_res_bind sys_res_config sys_resource
	sys_share sys_smb sys_suser_compat sys_time sys_trans_label
	virt_manage win_colormap win_config win_dac_read win_dac_write
	win_devices win_dga win_downgrade_sl win_fontpath win_mac_read
	win_mac_write win_selection win_upgrade_sl xvm_control`)

// basic is what every process has unless it is taken away.
var basic = list(`file_link_any file_read file_write net_access proc_exec
	proc_fork proc_info proc_secflags proc_session`)

// zoneDefault is the joyent brands' "default" (beyond basic), for a zone
// with its own IP stack, as every zone here has.
var zoneDefault = list(`contract_event contract_identity contract_observer
	file_chown file_chown_self file_dac_execute file_dac_read
	file_dac_search file_dac_write file_owner file_setid ipc_dac_read
	ipc_dac_write ipc_owner net_bindmlp net_icmpaccess net_mac_aware
	net_observability net_privaddr net_rawaccess proc_chroot sys_audit
	proc_audit proc_lock_memory proc_owner proc_setid proc_taskid sys_acct
	sys_admin sys_ip_config sys_iptun_config sys_mount sys_nfs sys_resource
	sys_ppp_config`)

// lxDefault is what the lx brand's default adds to it.
var lxDefault = list(`dtrace_proc dtrace_user proc_prioup proc_secflags
	sys_fs_import sys_smb`)

// prohibited may never be in a zone's set; required must be.
var (
	prohibited = list(`dtrace_kernel proc_zone sys_config sys_devices
		sys_linkdir sys_net_config sys_res_config sys_suser_compat
		xvm_control virt_manage`)
	required = list(`proc_exec proc_fork sys_ip_config sys_mount`)
)

// kept are basic privileges a zone here cannot be without: Linux has
// nothing that takes reading or writing permitted files away.
var kept = list(`file_read file_write`)

func list(s string) []string { return strings.Fields(s) }

// Default is the brand's "default" set.
func Default(brand string) Set {
	s := Set{}
	for _, l := range [][]string{basic, zoneDefault} {
		for _, p := range l {
			s[p] = true
		}
	}
	if brand == "lx" {
		for _, p := range lxDefault {
			s[p] = true
		}
	}
	return s
}

// Error is a limit_priv a zone cannot have, in zoneadm's words.
type Error struct {
	Kind string // "unknown", "prohibited", "required" or "kept"
	Priv string
}

func (e *Error) Error() string {
	switch e.Kind {
	case "unknown":
		return fmt.Sprintf("unknown privilege %q specified in the zone's privilege set", e.Priv)
	case "prohibited":
		return fmt.Sprintf("privilege %q is not permitted within the zone's privilege set", e.Priv)
	case "required":
		return fmt.Sprintf("required privilege %q is missing from the zone's privilege set", e.Priv)
	}
	return fmt.Sprintf("privilege %q cannot be removed from a zone on this node", e.Priv)
}

// Parse resolves a limit_priv (comma-separated; "" is "default") for a
// zone of brand, as zonecfg does: from left to right, names (with or
// without "priv_", any case) are added, names after "-" or "!" removed;
// "default" is the brand's default, "basic" the basic set, "all" and
// "zone" every privilege a zone may have, "none" nothing. The result
// must hold no prohibited privilege and every required one.
func Parse(limit, brand string) (Set, error) {
	s := Set{}
	toks := strings.Split(limit, ",")
	if strings.TrimSpace(limit) == "" {
		toks = []string{"default"}
	}
	for _, t := range toks {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" {
			continue
		}
		neg := strings.HasPrefix(t, "-") || strings.HasPrefix(t, "!")
		if neg {
			t = t[1:]
		}
		var add []string
		switch t {
		case "default":
			add = Default(brand).Names()
		case "basic":
			add = basic
		case "all", "zone":
			add = slices.DeleteFunc(slices.Clone(known), func(p string) bool { return slices.Contains(prohibited, p) })
		case "none":
			if !neg {
				clear(s)
			}
		default:
			p := strings.TrimPrefix(t, "priv_")
			if !slices.Contains(known, p) {
				return nil, &Error{"unknown", t}
			}
			add = []string{p}
		}
		for _, p := range add {
			if neg {
				delete(s, p)
			} else {
				s[p] = true
			}
		}
	}
	for _, p := range prohibited {
		if s[p] {
			return nil, &Error{"prohibited", p}
		}
	}
	for _, p := range required {
		if !s[p] {
			return nil, &Error{"required", p}
		}
	}
	for _, p := range kept {
		if !s[p] {
			return nil, &Error{"kept", p}
		}
	}
	return s, nil
}
