package svcadm

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"hull/internal/smf/control"
)

func status(fmri, state string, enabled bool, deps ...control.Dep) *control.Status {
	return &control.Status{FMRI: fmri, State: state, NextState: "none", Enabled: enabled, Deps: deps}
}

func req(grouping string, fmris ...string) control.Dep {
	return control.Dep{Grouping: grouping, Type: "service", FMRIs: fmris}
}

// world is a restarter as svcadm sees it: instances, and what each
// verb did.
var world = []*control.Status{
	status("svc:/site/up:default", "online", true),
	status("svc:/site/ill:default", "maintenance", true),
	status("svc:/site/off:default", "disabled", false),
	status("svc:/site/waits:default", "offline", true, req("require_all", "svc:/site/off")),
	status("svc:/site/chain:default", "offline", true, req("require_all", "svc:/site/waits:default")),
	status("svc:/site/soon:default", "offline", true, req("require_all", "svc:/site/up:default")),
	status("svc:/site/opt:default", "offline", true, req("optional_all", "svc:/site/off", "svc:/site/ill:default")),
	status("svc:/site/gone:default", "offline", true, req("require_all", "svc:/site/nowhere")),
	status("svc:/site/twin:a", "online", true),
	status("svc:/site/twin:b", "online", true),
}

func run(args ...string) (string, string, int, []control.Request) {
	var out, errb bytes.Buffer
	var reqs []control.Request
	call := func(r *control.Request) (*control.Response, error) {
		if r.Op == control.OpStatus {
			return &control.Response{Instances: world}, nil
		}
		reqs = append(reqs, *r)
		var got []string
		for _, p := range r.FMRIs {
			for _, s := range world {
				if matches(p, s.FMRI) {
					got = append(got, s.FMRI)
				}
			}
			if len(got) == 0 {
				return &control.Response{}, errors.New("Pattern '" + p + "' doesn't match any instances")
			}
		}
		return &control.Response{FMRIs: got}, nil
	}
	code := Main(args, Env{Stdout: &out, Stderr: &errb, Call: call, Poll: time.Millisecond})
	return out.String(), errb.String(), code, reqs
}

func TestSvcadm(t *testing.T) {
	tests := []struct {
		args         []string
		stdout, errs string
		code         int
	}{
		{nil, "", usage, 2},
		{[]string{"frobnicate", "x"}, "", usage, 2},
		{[]string{"-q", "enable", "x"}, "", usage, 2},
		{[]string{"enable"}, "", usage, 2},
		{[]string{"disable", "-r", "up"}, "", usage, 2},
		{[]string{"-v", "enable", "off", "up"}, "svc:/site/off:default enabled.\nsvc:/site/up:default enabled.\n", "", 0},
		{[]string{"-v", "disable", "-t", "up"}, "svc:/site/up:default temporarily disabled.\n", "", 0},
		{[]string{"-v", "restart", "up"}, "Action restart set for svc:/site/up:default.\n", "", 0},
		{[]string{"-v", "refresh", "up"}, "Action refresh set for svc:/site/up:default.\n", "", 0},
		{[]string{"-v", "clear", "ill"}, "Action maint_off set for svc:/site/ill:default.\n", "", 0},
		{[]string{"-v", "mark", "-It", "maintenance", "up"}, "Action maint_on_immtemp set for svc:/site/up:default.\n", "", 0},
		{[]string{"-v", "mark", "degraded", "up"}, "Action degraded set for svc:/site/up:default.\n", "", 0},
		{[]string{"mark", "-t", "degraded", "up"}, "", "svcadm: -t may not be used with degraded.\n", 2},
		{[]string{"mark", "broken", "up"}, "", usage, 2},
		{[]string{"restart", "nosuch", "up"}, "", "svcadm: Pattern 'nosuch' doesn't match any instances\n", 1},
		{[]string{"milestone", "multi-user"}, "", "", 0},
		{[]string{"milestone", "network"}, "", "\"network\" is not a valid major milestone.\n" + usageMilestone, 2},
		{[]string{"milestone", "-x", "all"}, "", usageMilestone, 2},
		// -s: done, or why not.
		{[]string{"enable", "-s", "up"}, "", "", 0},
		{[]string{"enable", "-s", "ill"}, "", "svcadm: Instance \"svc:/site/ill:default\" is in maintenance state.\n", 3},
		{[]string{"enable", "-s", "off"}, "", "svcadm: Instance \"svc:/site/off:default\" has been disabled by another entity.\n", 3},
		{[]string{"enable", "-s", "waits"}, "", "svcadm: Instance \"svc:/site/waits:default\" has unsatisfied dependencies.\n", 4},
		{[]string{"enable", "-s", "chain"}, "", "svcadm: Instance \"svc:/site/chain:default\" has unsatisfied dependencies.\n", 4},
		{[]string{"enable", "-s", "gone"}, "", "svcadm: Instance \"svc:/site/gone:default\" has unsatisfied dependencies.\n", 4},
		{[]string{"enable", "-s", "ill", "waits"}, "", "svcadm: Instance \"svc:/site/ill:default\" is in maintenance state.\n" +
			"svcadm: Instance \"svc:/site/waits:default\" has unsatisfied dependencies.\n", 3},
		{[]string{"disable", "-s", "off"}, "", "", 0},
		{[]string{"disable", "-s", "up"}, "", "svcadm: Instance \"svc:/site/up:default\" has been enabled by another entity.\n", 3},
		{[]string{"enable", "-s", "nosuch"}, "", "svcadm: Pattern 'nosuch' doesn't match any instances\n", 1},
	}
	for _, tt := range tests {
		out, errs, code, _ := run(tt.args...)
		if out != tt.stdout || errs != tt.errs || code != tt.code {
			t.Errorf("svcadm %v = %d\n%q\n%q\nwant %d\n%q\n%q", tt.args, code, out, errs, tt.code, tt.stdout, tt.errs)
		}
	}
}

// TestRequests checks what svcadm asks the restarter for.
func TestRequests(t *testing.T) {
	tests := []struct {
		args []string
		want control.Request
	}{
		{[]string{"enable", "-rt", "up"}, control.Request{Op: "enable", FMRIs: []string{"up"}, Recursive: true, Temporary: true}},
		{[]string{"mark", "-I", "maintenance", "up"}, control.Request{Op: "mark", FMRIs: []string{"up"}, State: "maintenance", Immediate: true}},
		{[]string{"milestone", "-d", "svc:/milestone/single-user:default"}, control.Request{Op: "milestone", Milestone: "svc:/milestone/single-user:default"}},
		{[]string{"milestone", "none"}, control.Request{Op: "milestone", Milestone: "none", Temporary: true}},
	}
	for _, tt := range tests {
		_, errs, _, reqs := run(tt.args...)
		if len(reqs) != 1 || !equal(reqs[0], tt.want) {
			t.Errorf("svcadm %v sent %+v (%s), want %+v", tt.args, reqs, errs, tt.want)
		}
	}
}

func equal(a, b control.Request) bool {
	return a.Op == b.Op && strings.Join(a.FMRIs, ",") == strings.Join(b.FMRIs, ",") && a.Recursive == b.Recursive &&
		a.Temporary == b.Temporary && a.Immediate == b.Immediate && a.State == b.State && a.Milestone == b.Milestone
}
