package protocol

import (
	"errors"
	"strings"
	"testing"
)

// Frames checked against zlib's crc32 and the reference example of
// mdata-client's proto.c.
func TestFrameExact(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"1a2b3c4d GET aG9zdG5hbWU=", "V2 25 136e7713 1a2b3c4d GET aG9zdG5hbWU=\n"},
		{Body("1a2b3c4d", Success, "web01"), "V2 25 505ea93e 1a2b3c4d SUCCESS d2ViMDE=\n"},
		{Body("1a2b3c4d", NotFound, ""), "V2 17 b68286f0 1a2b3c4d NOTFOUND\n"},
		{Body("dc0ffee1", Failure, `Cannot update the "sdc" Namespace.`),
			"V2 65 4f8e3bf5 dc0ffee1 FAILURE Q2Fubm90IHVwZGF0ZSB0aGUgInNkYyIgTmFtZXNwYWNlLg==\n"},
	} {
		if got := Frame(tc.body); got != tc.want {
			t.Errorf("Frame(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Request
		err  string // FrameError message; "" for none
		id   string // FrameError request id
	}{
		{line: "GET hostname", want: Request{Cmd: "GET", Arg: "hostname"}},
		{line: "GET user data", want: Request{Cmd: "GET", Arg: "user data"}},
		{line: "KEYS", want: Request{Cmd: "KEYS"}},
		{line: "NEGOTIATE V2", want: Request{Cmd: "NEGOTIATE", Arg: "V2"}},
		{line: "", want: Request{}},
		// As SmartOS's agent splits a V1 line: trailing white space
		// dropped, one white space character after the command.
		{line: "GET hostname \t", want: Request{Cmd: "GET", Arg: "hostname"}},
		{line: "GET  hostname", want: Request{Cmd: "GET", Arg: " hostname"}},
		{line: "GET\thostname", want: Request{Cmd: "GET", Arg: "hostname"}},
		{line: "KEYS ", want: Request{Cmd: "KEYS"}},
		{line: " GET hostname", want: Request{}},
		{line: " \t", want: Request{}},
		{line: "V2 25 136e7713 1a2b3c4d GET aG9zdG5hbWU=", want: Request{V2: true, ReqID: "1a2b3c4d", Cmd: "GET", Arg: "hostname"}},
		{line: "V2 25 136E7713 1a2b3c4d GET aG9zdG5hbWU=", want: Request{V2: true, ReqID: "1a2b3c4d", Cmd: "GET", Arg: "hostname"}},
		{line: strings.TrimSuffix(Frame("0badcafe KEYS"), "\n"), want: Request{V2: true, ReqID: "0badcafe", Cmd: "KEYS"}},
		{line: "V2 26 136e7713 1a2b3c4d GET aG9zdG5hbWU=", err: errLength, id: "1a2b3c4d"},
		{line: "V2 25 136e7714 1a2b3c4d GET aG9zdG5hbWU=", err: errChecksum, id: "1a2b3c4d"},
		{line: "V2 25 136e771 1a2b3c4d GET aG9zdG5hbWU=", err: errHeader, id: "1a2b3c4d"},
		{line: "V2 -5 136e7713 1a2b3c4d GET aG9zdG5hbWU=", err: errHeader, id: "1a2b3c4d"},
		{line: "V2 25 zzzzzzzz 1a2b3c4d GET aG9zdG5hbWU=", err: errHeader, id: "1a2b3c4d"},
		{line: "V2 99999999999 136e7713 1a2b3c4d GET", err: errHeader, id: "1a2b3c4d"},
		{line: "V2 ", err: errHeader},
		{line: "V2 5", err: errHeader},
		{line: strings.TrimSuffix(Frame("1a2b3c4d GET !!!"), "\n"), err: errBase64, id: "1a2b3c4d"},
		{line: strings.TrimSuffix(Frame("1a2b3c4d"), "\n"), err: errBody, id: "1a2b3c4d"},
		{line: strings.TrimSuffix(Frame("1a2b3c4d GET a b"), "\n"), err: errBody, id: "1a2b3c4d"},
		{line: strings.TrimSuffix(Frame("xyz GET aG9zdG5hbWU="), "\n"), err: errBody},
		{line: strings.TrimSuffix(Frame("1a2b3c4d  GET"), "\n"), err: errBody, id: "1a2b3c4d"},
	} {
		got, err := ParseRequest(tc.line)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("ParseRequest(%q) = %+v, %v; want %+v", tc.line, got, err, tc.want)
			}
			continue
		}
		var fe *FrameError
		if !errors.As(err, &fe) || fe.Msg != tc.err || fe.ReqID != tc.id {
			t.Errorf("ParseRequest(%q) error = %#v, want %q (reqid %q)", tc.line, err, tc.err, tc.id)
		}
	}
}

func TestReplyV1(t *testing.T) {
	for _, tc := range []struct {
		r    Reply
		want string
	}{
		{Reply{Code: Success, Data: "web01"}, "SUCCESS\nweb01\n.\n"},
		{Reply{Code: Success, Data: ".\n..x\nend."}, "SUCCESS\n..\n...x\nend.\n.\n"},
		{Reply{Code: Success, Data: ""}, "SUCCESS\n\n.\n"},
		{Reply{Code: NotFound}, "NOTFOUND\n"},
		{Reply{Code: Failure, Data: "not shown in V1"}, "FAILURE\n"},
	} {
		if got := tc.r.V1(); got != tc.want {
			t.Errorf("%+v.V1() = %q, want %q", tc.r, got, tc.want)
		}
	}
}

func TestParseResponse(t *testing.T) {
	line := strings.TrimSuffix(Reply{Code: Success, Data: "web01"}.V2("1a2b3c4d"), "\n")
	if code, data, err := ParseResponse(line, "1a2b3c4d"); err != nil || code != Success || data != "web01" {
		t.Errorf("ParseResponse = %q %q %v", code, data, err)
	}
	if _, _, err := ParseResponse(line, "00000000"); err == nil {
		t.Error("a frame for another request id was accepted")
	}
	bad := strings.Replace(line, "505ea93e", "505ea93f", 1)
	if _, _, err := ParseResponse(bad, "1a2b3c4d"); err == nil {
		t.Error("a frame with a bad checksum was accepted")
	}
}
