package protocol

import (
	"strings"
	"testing"

	"hull/internal/metadata/metadatatest"
)

// v2Client is a client that has negotiated V2 with a scripted host:
// answer gets each request line and its parse (nil stops the host).
func v2Client(t *testing.T, answer func(line string, req Request) (string, bool)) *Client {
	t.Helper()
	c := NewClient(metadatatest.Host(func(l string) (string, bool) {
		if l == "NEGOTIATE V2" {
			return V2OK + "\n", true
		}
		req, err := ParseRequest(l)
		if err != nil {
			return "", false
		}
		return answer(l, req)
	}))
	t.Cleanup(func() { c.Close() })
	if err := c.Negotiate(); err != nil || !c.V2 {
		t.Fatalf("negotiate: %v %v", c.V2, err)
	}
	return c
}

// The client drops frames that are not the answer to its request — for
// another request id, or damaged — and takes the one that is, as
// mdata-client does.
func TestClientDropsOtherFrames(t *testing.T) {
	c := v2Client(t, func(_ string, req Request) (string, bool) {
		if !req.V2 || req.Cmd != "GET" || req.Arg != "sdc:alias" {
			return "", false
		}
		other := Reply{Code: Success, Data: "not yours"}.V2("0badf00d")
		damaged := strings.Replace(Reply{Code: Success, Data: "damaged"}.V2(req.ReqID), "ZGFt", "ZGFu", 1)
		noise := "V2 garbage\n"
		return other + damaged + noise + Reply{Code: Success, Data: "web"}.V2(req.ReqID), true
	})
	if r, err := c.Get("sdc:alias"); err != nil || r != (Reply{Code: Success, Data: "web"}) {
		t.Errorf("GET = %+v %v", r, err)
	}
}

// Request ids are 8 random hex digits, a new one for every request.
func TestClientRequestIDs(t *testing.T) {
	seen := map[string]bool{}
	c := v2Client(t, func(_ string, req Request) (string, bool) {
		if len(req.ReqID) != 8 || strings.ToLower(req.ReqID) != req.ReqID || seen[req.ReqID] {
			t.Errorf("request id %q", req.ReqID)
		}
		seen[req.ReqID] = true
		return Reply{Code: NotFound}.V2(req.ReqID), true
	})
	for range 50 {
		if r, err := c.Get("k"); err != nil || r.Code != NotFound {
			t.Fatalf("GET = %+v %v", r, err)
		}
	}
}

// PUT's argument is base64(key) SP base64(value), base64'd again in the
// frame, as mdata-client sends it; DELETE's is the key.
func TestClientPutDeleteFrames(t *testing.T) {
	var got []string
	c := v2Client(t, func(l string, req Request) (string, bool) {
		_, body, _ := strings.Cut(strings.SplitN(l, " ", 4)[3], " ")
		got = append(got, body)
		return Reply{Code: Success}.V2(req.ReqID), true
	})
	c.Put("color", "blue")
	c.Delete("color")
	want := []string{"PUT WTI5c2IzST0gWW14MVpRPT0=", "DELETE Y29sb3I="}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("frames' bodies after the request id: %q, want %q", got, want)
	}
}
