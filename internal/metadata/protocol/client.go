package protocol

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Client timeouts, as mdata-client's: short until V2 is negotiated, long
// after (the host may be busy updating the VM).
const (
	NegotiateTimeout = 6 * time.Second
	RequestTimeout   = 45 * time.Second
)

// ErrV1Host is returned for PUT and DELETE on a host that speaks V1 only.
var ErrV1Host = errors.New("host does not support V2")

// Client speaks the protocol from the zone's side.
type Client struct {
	conn io.ReadWriter
	br   *bufio.Reader
	// V2 is set once the host accepted NEGOTIATE V2.
	V2 bool
}

// Dial connects to a metadata socket and negotiates V2 (falling back to
// V1 when the host answers anything but V2_OK).
func Dial(path string) (*Client, error) {
	c, err := dialUnix(path)
	if err != nil {
		return nil, err
	}
	cl := NewClient(c)
	if err := cl.Negotiate(); err != nil {
		c.Close()
		return nil, err
	}
	return cl, nil
}

// NewClient wraps a connected stream; call Negotiate before requests.
func NewClient(rw io.ReadWriter) *Client {
	return &Client{conn: rw, br: bufio.NewReaderSize(rw, 4096)}
}

// Close closes the connection, if it can be closed.
func (c *Client) Close() error {
	if cl, ok := c.conn.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

func (c *Client) deadline(d time.Duration) {
	if dl, ok := c.conn.(Deadliner); ok {
		dl.SetReadDeadline(time.Now().Add(d))
		dl.SetWriteDeadline(time.Now().Add(d))
	}
}

func (c *Client) readLine() (string, error) {
	l, err := c.br.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r"), nil
}

// Negotiate asks for V2.
func (c *Client) Negotiate() error {
	c.deadline(NegotiateTimeout)
	if _, err := io.WriteString(c.conn, "NEGOTIATE V2\n"); err != nil {
		return err
	}
	l, err := c.readLine()
	if err != nil {
		return fmt.Errorf("negotiate: %w", err)
	}
	c.V2 = l == V2OK
	return nil
}

// resetTries bounds Reset's attempts.
const resetTries = 3

// Reset sends a bare newline and expects "invalid command", as serial
// clients do to find the start of a line on a shared stream. Leftover
// bytes from an earlier client join that newline's line and get another
// answer (FAILURE): then it tries again, as mdata-client does.
func (c *Client) Reset() error {
	var last string
	for range resetTries {
		c.deadline(NegotiateTimeout)
		if _, err := io.WriteString(c.conn, "\n"); err != nil {
			return err
		}
		l, err := c.readLine()
		if err != nil {
			return err
		}
		if l == Invalid {
			return nil
		}
		last = l
	}
	return fmt.Errorf("reset: host answered %q, not %q", last, Invalid)
}

// Do sends one request and returns the host's reply. Code is SUCCESS,
// NOTFOUND, FAILURE or (V1) "invalid command".
func (c *Client) Do(cmd, arg string) (Reply, error) {
	if c.V2 {
		return c.doV2(cmd, arg)
	}
	return c.doV1(cmd, arg)
}

func (c *Client) doV2(cmd, arg string) (Reply, error) {
	var id [4]byte
	rand.Read(id[:])
	reqid := hex.EncodeToString(id[:])
	body := reqid + " " + cmd
	if arg != "" {
		body += " " + base64.StdEncoding.EncodeToString([]byte(arg))
	}
	c.deadline(RequestTimeout)
	if _, err := io.WriteString(c.conn, Frame(body)); err != nil {
		return Reply{}, err
	}
	for {
		l, err := c.readLine()
		if err != nil {
			return Reply{}, err
		}
		code, data, err := ParseResponse(l, reqid)
		if err != nil {
			// Not ours, or damaged: mdata-client drops such frames.
			continue
		}
		return Reply{Code: code, Data: data}, nil
	}
}

func (c *Client) doV1(cmd, arg string) (Reply, error) {
	line := cmd
	if arg != "" {
		line += " " + arg
	}
	c.deadline(RequestTimeout)
	if _, err := io.WriteString(c.conn, line+"\n"); err != nil {
		return Reply{}, err
	}
	l, err := c.readLine()
	if err != nil {
		return Reply{}, err
	}
	switch l {
	case Success:
	case NotFound, Invalid:
		return Reply{Code: l}, nil
	default:
		// FAILURE or anything unexpected: mdata-client reports the
		// line itself as the error.
		return Reply{Code: l, Data: l}, nil
	}
	var data []string
	for {
		l, err := c.readLine()
		if err != nil {
			return Reply{}, err
		}
		if l == "." {
			return Reply{Code: Success, Data: strings.Join(data, "\n")}, nil
		}
		data = append(data, DotUnstuff(l))
	}
}

// Get fetches one key.
func (c *Client) Get(key string) (Reply, error) { return c.Do("GET", key) }

// Keys lists the keys.
func (c *Client) Keys() (Reply, error) { return c.Do("KEYS", "") }

// Put sets key to value; the argument is base64(key) SP base64(value),
// which the V2 frame encodes again.
func (c *Client) Put(key, value string) (Reply, error) {
	if !c.V2 {
		return Reply{}, ErrV1Host
	}
	enc := base64.StdEncoding
	return c.Do("PUT", enc.EncodeToString([]byte(key))+" "+enc.EncodeToString([]byte(value)))
}

// Delete removes key.
func (c *Client) Delete(key string) (Reply, error) {
	if !c.V2 {
		return Reply{}, ErrV1Host
	}
	return c.Do("DELETE", key)
}
