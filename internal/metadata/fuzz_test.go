package metadata

import (
	"hull/internal/metadata/protocol"
	"strings"
	"testing"
)

// FuzzParseRequest feeds the frame parser arbitrary lines: it must never
// panic, a frame it accepts must survive re-encoding, and the server's
// answer to any line is whole lines that a client can parse.
//
//	go test -fuzz=FuzzParseRequest ./internal/metadata
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		"V2 25 136e7713 1a2b3c4d GET aG9zdG5hbWU=",
		"V2 25 136e7714 1a2b3c4d GET aG9zdG5hbWU=",
		"V2 26 136e7713 1a2b3c4d GET aG9zdG5hbWU=",
		strings.TrimSuffix(protocol.Frame("0000abcd PUT "+protocol.Encode(protocol.Encode("k")+" "+protocol.Encode("v"))), "\n"),
		strings.TrimSuffix(protocol.Frame("0000abcd KEYS"), "\n"),
		strings.TrimSuffix(protocol.Frame("0000abcd DELETE "+protocol.Encode("k")), "\n"),
		"V2 ", "V2 0 00000000 ", "V2 99999999999 0 x", "NEGOTIATE V2", "GET sdc:uuid", "KEYS", "",
		"\x00\xff", "V2 3 352441c2 abc",
	} {
		f.Add(seed)
	}
	s := &Server{Source: newFake(testVM(testUUID))}
	f.Fuzz(func(t *testing.T, line string) {
		req, err := protocol.ParseRequest(line)
		if err == nil && req.V2 {
			body := req.ReqID + " " + req.Cmd
			if req.Arg != "" {
				body += " " + protocol.Encode(req.Arg)
			}
			again, err := protocol.ParseRequest(strings.TrimSuffix(protocol.Frame(body), "\n"))
			if err != nil || again != req {
				t.Fatalf("re-encoded %+v parsed as %+v, %v", req, again, err)
			}
		}
		if strings.ContainsAny(line, "\n") {
			return // never one line on the wire
		}
		// Reads only: a fuzzed PUT would grow the fake VM without end.
		if req.Cmd == "PUT" || req.Cmd == "DELETE" {
			return
		}
		out := s.HandleLine(t.Context(), testUUID, line)
		if !strings.HasSuffix(out, "\n") {
			t.Fatalf("answer %q does not end a line", out)
		}
		if req.V2 {
			l := strings.TrimSuffix(out, "\n")
			if strings.Contains(l, "\n") {
				t.Fatalf("V2 answer spans lines: %q", out)
			}
			if _, _, err := protocol.ParseResponse(l, req.ReqID); err != nil {
				t.Fatalf("V2 answer %q does not parse: %v", out, err)
			}
		}
	})
}
