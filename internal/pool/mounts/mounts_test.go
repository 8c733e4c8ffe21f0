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
