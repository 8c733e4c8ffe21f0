package image

import "testing"

// HumanSize writes sizes as SmartOS's imgadm (common.humanSizeFromBytes):
// one decimal, truncated, binary units.
func TestHumanSize(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1, "1.0 B"},
		{1023, "1023.0 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{1024*1024 - 1, "1023.9 KiB"},
		{503 << 20, "503.0 MiB"},
		{5<<30 + 900<<20, "5.8 GiB"},
		{3 << 40, "3.0 TiB"},
	} {
		if got := HumanSize(tt.n); got != tt.want {
			t.Errorf("HumanSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
