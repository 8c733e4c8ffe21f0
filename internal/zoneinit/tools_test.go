package zoneinit

import (
	"bytes"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestShutdownArgs(t *testing.T) {
	tests := []struct {
		args  string
		sig   syscall.Signal
		grace time.Duration
		yes   bool
		err   string
	}{
		{"-y -g0 -i5", HaltSignal, 0, true, ""},
		{"-y -g 30 -i 6", RebootSignal, 30 * time.Second, true, ""},
		{"-i0", HaltSignal, 60 * time.Second, false, ""},
		{"-h now", HaltSignal, 0, true, ""},
		{"-r now", RebootSignal, 0, true, ""},
		{"-y -i6 going down", RebootSignal, 60 * time.Second, true, ""},
		{"-y -g0", 0, 0, false, "init state s has no meaning in a zone"},
		{"-g", 0, 0, false, "option -g needs a value"},
		{"-g soon -i5", 0, 0, false, `bad grace period "soon"`},
		{"-x", 0, 0, false, "illegal option -x"},
	}
	for _, tt := range tests {
		sig, grace, yes, err := shutdownArgs(strings.Fields(tt.args))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || sig != tt.sig || grace != tt.grace || yes != tt.yes {
			t.Errorf("%q: %v %v %v %v, want %v %v %v", tt.args, sig, grace, yes, err, tt.sig, tt.grace, tt.yes)
		}
	}
}

// Outside a zone of hull's, the tools refuse: PID 1 is not hull's init.
func TestToolsRefuseOutsideAZone(t *testing.T) {
	for _, name := range []string{"halt", "poweroff", "reboot"} {
		var out, errb bytes.Buffer
		if code := ToolMain(name, nil, strings.NewReader(""), &out, &errb, false); code != 1 || !strings.Contains(errb.String(), "not in a zone of hull's") {
			t.Errorf("%s on the host: %d %q", name, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := ToolMain("shutdown", []string{"-y", "-g0"}, strings.NewReader(""), &out, &errb, false); code != 2 {
		t.Errorf("shutdown to single-user: %d %q", code, errb.String())
	}
	// Without -y, on a terminal, shutdown asks; no is no.
	if code := ToolMain("shutdown", []string{"-g0", "-i5"}, strings.NewReader("n\n"), &out, &errb, true); code != 1 || !strings.Contains(out.String(), "Do you want to continue?") {
		t.Errorf("shutdown answered no: %d %q", code, out.String())
	}
}
