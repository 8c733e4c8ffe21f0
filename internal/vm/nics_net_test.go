package vm

import "testing"

func TestValidMaxBW(t *testing.T) {
	for s, want := range map[string]bool{"100M": true, "1G": true, "100": true, "0": true, "1k": false, "fast": false, "1T": false} {
		if got := validMaxBW(s); got != want {
			t.Errorf("validMaxBW(%q) = %v, want %v", s, got, want)
		}
	}
}
