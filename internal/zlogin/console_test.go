package zlogin

import (
	"bytes"
	"strings"
	"testing"
)

func TestForwardInputEscapes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ls\r~.rest", "ls\r"},         // ~. at line start detaches
		{"a~.b\r", "a~.b\r"},           // not at line start: passed through
		{"~x\r", "~x\r"},               // ~ then another key: both sent
		{"echo hi\x1dmore", "echo hi"}, // CTRL-] detaches
		{"~.", ""},                     // at the very start
	}
	for _, tt := range tests {
		var out bytes.Buffer
		forwardInput(strings.NewReader(tt.in), &out, false)
		if out.String() != tt.want {
			t.Errorf("%q → %q, want %q", tt.in, out.String(), tt.want)
		}
		out.Reset()
		forwardInput(strings.NewReader(tt.in), &out, true)
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
