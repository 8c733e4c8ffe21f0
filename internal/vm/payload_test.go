package vm

import "testing"

func TestReprovisionImage(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{`{"image_uuid": "7e570000-0000-4000-8000-000000000001"}`, "7e570000-0000-4000-8000-000000000001", ""},
		{`{"image_uuid": "x", "alias": "ignored"}`, "x", ""},
		{`{"image_uuid": 5}`, "5", ""},
		{`{}`, "<nil>", ""},
		{``, "", "Invalid JSON payload: EOF"},
		{`[1]`, "", "Invalid JSON payload: payload is not a JSON object"},
		{`{"image_uuid": "x"} {}`, "", "Invalid JSON payload: trailing data after JSON object"},
	} {
		got, err := ReprovisionImage([]byte(tc.in))
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: %v, want %s", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case got == nil && tc.want != "<nil>", got != nil && *got != tc.want:
			t.Errorf("%s: %v, want %s", tc.in, got, tc.want)
		}
	}
}
