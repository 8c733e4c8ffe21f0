package mounts

import "testing"

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		"/plain":          "/plain",
		`/a\040b`:         "/a b",
		`/tab\011x\134`:   "/tab\tx\\",
		`/not\08`:         `/not\08`,
		`/short\04`:       `/short\04`,
		`/big\400`:        `/big\400`,
		`\040\040`:        "  ",
		`/end\`:           `/end\`,
		`/newline\012end`: "/newline\nend",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOverlayUpperIn(t *testing.T) {
	table := []Entry{
		{Target: "/", FSType: "ext4"},
		{Target: "/z/a", FSType: "overlay", Upper: "/s/layers/1"},
		{Target: "/z/b", FSType: "overlay"},                       // no upper: read-only
		{Target: "/z/a", FSType: "overlay", Upper: "/s/layers/2"}, // mounted over the first
		{Target: "/z/c", FSType: "btrfs"},
		{Target: "/z/ab", FSType: "overlay", Upper: "/s/layers/3"},
	}
	for _, tt := range []struct{ dir, want string }{
		{"/z/a", "/s/layers/2"},
		{"/z/a/root", "/s/layers/2/root"},
		{"/z/a/root/etc", "/s/layers/2/root/etc"},
		{"/z/ab/root", "/s/layers/3/root"},
		{"/z/b/root", ""},
		{"/z/c/root", ""},
		{"/z", ""},
		{"/elsewhere", ""},
	} {
		if got := overlayUpperIn(table, tt.dir); got != tt.want {
			t.Errorf("overlayUpperIn(%s) = %q, want %q", tt.dir, got, tt.want)
		}
	}
}
