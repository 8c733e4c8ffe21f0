// Package protocol is SmartOS's metadata protocol on the wire: V1 request
// lines, V2 frames with a length, a CRC-32 and a request id, and the
// client the in-zone mdata tools speak it with. It holds no server code,
// so the tools stay small.
package protocol

import (
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Response codes, as they appear on the wire.
const (
	Success  = "SUCCESS"
	NotFound = "NOTFOUND"
	Failure  = "FAILURE"
	// Invalid is the V1 answer to a line the host does not understand;
	// serial clients send a bare newline and expect it.
	Invalid = "invalid command"
	// V2OK answers "NEGOTIATE V2".
	V2OK = "V2_OK"
)

// Checksum is the V2 frame checksum of body: CRC-32 (IEEE), as 8
// lower-case hex digits.
func Checksum(body string) string {
	return fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(body)))
}

// Frame wraps a V2 body into a complete line:
// "V2 <len> <crc32> <body>\n".
func Frame(body string) string {
	return "V2 " + strconv.Itoa(len(body)) + " " + Checksum(body) + " " + body + "\n"
}

// Body builds a V2 body: "<reqid> <code>[ <base64 data>]". As SmartOS's
// agent does, an empty data string sends no payload field at all.
func Body(reqid, code, data string) string {
	if data == "" {
		return reqid + " " + code
	}
	return reqid + " " + code + " " + base64.StdEncoding.EncodeToString([]byte(data))
}

// Request is one parsed request line.
type Request struct {
	V2    bool
	ReqID string // V2 only
	Cmd   string
	// Arg is the decoded payload (V2) or the rest of the line (V1).
	Arg string
}

// FrameError is a V2 line that is not a valid frame. ReqID is set when
// the body's request id could be read, so the host can answer FAILURE
// to the request it belongs to.
type FrameError struct {
	ReqID string
	Msg   string
}

func (e *FrameError) Error() string { return e.Msg }

// Frame errors.
var (
	errHeader   = "malformed V2 frame header"
	errLength   = "body length mismatch"
	errChecksum = "body checksum did not match"
	errBody     = "malformed V2 frame body"
	errBase64   = "payload is not valid base64"
)

// ParseRequest parses one request line, without its newline. A line
// starting with "V2 " is a V2 frame; anything else is a V1 command.
func ParseRequest(line string) (Request, error) {
	if !strings.HasPrefix(line, "V2 ") {
		return parseV1(line), nil
	}
	rest := line[3:]
	lenStr, rest, ok1 := strings.Cut(rest, " ")
	crc, body, ok2 := strings.Cut(rest, " ")
	reqid := bodyReqID(body)
	if !ok1 || !ok2 || !decimal(lenStr) || len(crc) != 8 || !isHex(crc) {
		return Request{}, &FrameError{ReqID: reqid, Msg: errHeader}
	}
	n, err := strconv.Atoi(lenStr)
	if err != nil || n != len(body) {
		return Request{}, &FrameError{ReqID: reqid, Msg: errLength}
	}
	if !strings.EqualFold(crc, Checksum(body)) {
		return Request{}, &FrameError{ReqID: reqid, Msg: errChecksum}
	}
	return ParseBody(body)
}

// parseV1 splits a V1 line as SmartOS's agent does: trailing white
// space is dropped, the command runs to the first white space, and one
// white space character separates it from the argument. A line that is
// empty or starts with white space has no command (Cmd "").
func parseV1(line string) Request {
	line = strings.TrimRightFunc(line, unicode.IsSpace)
	i := strings.IndexFunc(line, unicode.IsSpace)
	switch {
	case i == 0:
		return Request{}
	case i < 0:
		return Request{Cmd: line}
	}
	_, n := utf8.DecodeRuneInString(line[i:])
	return Request{Cmd: line[:i], Arg: line[i+n:]}
}

// ParseBody parses a V2 body "<reqid> <CMD>[ <base64 payload>]".
func ParseBody(body string) (Request, error) {
	f := strings.Split(body, " ")
	if len(f) < 2 || len(f) > 3 || !ValidReqID(f[0]) || f[1] == "" {
		return Request{}, &FrameError{ReqID: bodyReqID(body), Msg: errBody}
	}
	r := Request{V2: true, ReqID: f[0], Cmd: f[1]}
	if len(f) == 3 {
		b, err := base64.StdEncoding.DecodeString(f[2])
		if err != nil {
			return Request{}, &FrameError{ReqID: f[0], Msg: errBase64}
		}
		r.Arg = string(b)
	}
	return r, nil
}

// ParseResponse parses a V2 response line (without newline) for the
// request reqid: its code and decoded payload. Frames for other requests
// or with a bad length or checksum are errors the caller skips.
func ParseResponse(line, reqid string) (code, data string, err error) {
	r, err := ParseRequest(line)
	if err != nil {
		return "", "", err
	}
	if !r.V2 {
		return "", "", errors.New("not a V2 frame")
	}
	if r.ReqID != reqid {
		return "", "", fmt.Errorf("request id mismatch (expected %s, got %s)", reqid, r.ReqID)
	}
	return r.Cmd, r.Arg, nil
}

// bodyReqID returns the request id at the start of a (possibly damaged)
// body, or "" when there is none.
func bodyReqID(body string) string {
	id, _, _ := strings.Cut(body, " ")
	if ValidReqID(id) {
		return id
	}
	return ""
}

// ValidReqID accepts mdata-client's and cloud-init's 8 hex digits and,
// being liberal, any short run of hex digits; the id is echoed back, so
// it must never hold a space or newline.
func ValidReqID(s string) bool { return len(s) >= 1 && len(s) <= 32 && isHex(s) }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func decimal(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Reply is a command's outcome: a code and, for SUCCESS and FAILURE, data.
type Reply struct {
	Code string
	Data string
}

// V1 renders r in the V1 protocol: SUCCESS carries its data as
// dot-stuffed lines ended by a lone "."; FAILURE carries none.
func (r Reply) V1() string {
	if r.Code != Success {
		return r.Code + "\n"
	}
	return "SUCCESS\n" + DotStuff(r.Data) + "\n.\n"
}

// V2 renders r as a V2 frame answering reqid.
func (r Reply) V2(reqid string) string { return Frame(Body(reqid, r.Code, r.Data)) }

// DotStuff doubles a leading "." on every line, as SMTP does, so a line
// holding only "." cannot end the data early.
func DotStuff(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") {
			lines[i] = "." + l
		}
	}
	return strings.Join(lines, "\n")
}

// DotUnstuff reverses DotStuff on data lines.
func DotUnstuff(line string) string { return strings.TrimPrefix(line, ".") }

// Decode is standard base64 decoding, to a string.
func Decode(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	return string(b), err
}

// Encode is standard base64 encoding, with padding.
func Encode(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
