package hulld

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"hull/internal/node"
	"hull/internal/vm"
)

// Client talks to a running hulld over its unix socket.
type Client struct {
	http *http.Client
}

// Dial returns a client when a hulld answers on socket, or nil when none
// does (the caller then acts on the node itself).
func Dial(socket string) *Client {
	c := &Client{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://hulld/ping", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	return c
}

// apiError carries hulld's message, which is the node's own error text.
type apiError struct{ msg string }

func (e *apiError) Error() string { return e.msg }

func (c *Client) do(method, path string, body []byte) (*vm.VM, error) {
	req, err := http.NewRequest(method, "http://hulld"+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("hulld: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Message, Code string }
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			switch e.Code {
			case codeAlreadyRunning:
				return nil, node.ErrAlreadyRunning
			case codeNotRunning:
				return nil, node.ErrNotRunning
			}
			return nil, &apiError{e.Message}
		}
		return nil, errors.New(resp.Status)
	}
	var v vm.VM
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("hulld reply: %w", err)
	}
	return &v, nil
}

// Create creates a VM from a payload.
func (c *Client) Create(payload []byte) (*vm.VM, error) {
	return c.do(http.MethodPost, "/vms", payload)
}

// Action runs start, stop, reboot or update on a VM.
func (c *Client) Action(uuid, action string, force bool, timeout time.Duration, body []byte) (*vm.VM, error) {
	q := url.Values{"action": {action}}
	if force {
		q.Set("force", "true")
	}
	if timeout > 0 {
		q.Set("timeout", strconv.Itoa(int(timeout/time.Second)))
	}
	return c.do(http.MethodPost, "/vms/"+url.PathEscape(uuid)+"?"+q.Encode(), body)
}

// Delete deletes a VM.
func (c *Client) Delete(uuid string) error {
	_, err := c.do(http.MethodDelete, "/vms/"+url.PathEscape(uuid), nil)
	return err
}
