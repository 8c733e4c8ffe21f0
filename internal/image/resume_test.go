package image

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestResumedBody: an answer to "Range: bytes=N-" is read as the file
// from byte N on, whether the server sent that part (206, which must
// start at N) or the whole file (200, read past its first N bytes).
func TestResumedBody(t *testing.T) {
	const file = "0123456789"
	for _, tc := range []struct {
		name   string
		status int
		cr     string // Content-Range
		body   string
		offset int64
		want   string
		size   int64
		err    string
	}{
		{"from the start", 200, "", file, 0, file, 10, ""},
		{"the part asked", 206, "bytes 4-9/10", file[4:], 4, "456789", 10, ""},
		{"size unknown", 206, "bytes 4-9/*", file[4:], 4, "456789", -1, ""},
		{"range ignored", 200, "", file, 4, "456789", 10, ""},
		{"another part", 206, "bytes 2-9/10", file[2:], 4, "", 0, `asked for the file from byte 4, the server sent Content-Range "bytes 2-9/10"`},
		{"no range said", 206, "", file[4:], 4, "", 0, `asked for the file from byte 4, the server sent Content-Range ""`},
		{"shorter than the offset", 200, "", "012", 4, "", 0, "EOF"},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tc.body)),
			ContentLength: int64(len(tc.body))}
		if tc.cr != "" {
			resp.Header.Set("Content-Range", tc.cr)
		}
		if tc.status == 200 {
			resp.Header.Set("Content-Length", strconv.Itoa(len(tc.body)))
		}
		rc, err := resumedBody(resp, tc.offset)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: %v, want %s", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, _ := io.ReadAll(rc)
		if string(got) != tc.want || rc.(FileInfo).FileSize() != tc.size {
			t.Errorf("%s: %q of a %d-byte file, want %q of %d", tc.name, got, rc.(FileInfo).FileSize(), tc.want, tc.size)
		}
	}
}
