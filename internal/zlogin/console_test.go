package zlogin

import (
	"bytes"
	"strings"
	"testing"
)

func TestForwardInputEscapes(t *testing.T) {
	tests := []struct {
		in       string
		esc      int
		want     string
		detached bool
	}{
		{"ls\r~.rest", '~', "ls\r", true},         // ~. at line start detaches
		{"a~.b\r", '~', "a~.b\r", false},          // not at line start: passed through
		{"~x\r", '~', "x\r", false},               // escape then another key: that key only
		{"~~\r", '~', "~\r", false},               // so ~~ sends one ~
		{"echo hi\x1dmore", '~', "echo hi", true}, // CTRL-] detaches
		{"~.", '~', "", true},                     // at the very start
		{"x\x03~.", '~', "x\x03", true},           // after CTRL-C a line starts
		{"x\x15~\x04", '~', "x\x15", true},        // after CTRL-U; escape CTRL-D
		{"ls\r#.", '#', "ls\r", true},             // -e #
		{"ls\r~.", '#', "ls\r~.", false},          // ~ is plain with -e #
		{"~.\x1d", -1, "~.\x1d", false},           // -E: no escapes at all
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if d := forwardInput(strings.NewReader(tt.in), &out, false, tt.esc); out.String() != tt.want || d != tt.detached {
			t.Errorf("%q (esc %d) → %q detached %v, want %q %v", tt.in, tt.esc, out.String(), d, tt.want, tt.detached)
		}
		out.Reset()
		forwardInput(strings.NewReader(tt.in), &out, true, tt.esc)
		if want := strings.ReplaceAll(tt.want, "\r", "\n"); out.String() != want {
			t.Errorf("raw %q → %q, want %q", tt.in, out.String(), want)
		}
	}
}

func TestOnlcr(t *testing.T) {
	for in, want := range map[string]string{"a\nb": "a\r\nb", "a\r\nb": "a\r\nb", "\n\n": "\r\n\r\n", "": ""} {
		if got := string(onlcr([]byte(in))); got != want {
			t.Errorf("onlcr(%q) = %q, want %q", in, got, want)
		}
	}
}
