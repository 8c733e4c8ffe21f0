// Package control is the protocol between svcs/svcadm/svccfg and the
// restarter: one JSON request and one JSON response per connection on a
// unix socket. It holds the wire types and imports no restarter code,
// so clients and the server share it safely.
package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// DefaultSocket is where the restarter listens; SMF_SOCKET overrides it
// (the host's restarter of node services uses its own).
const DefaultSocket = "/etc/svc/volatile/svc.startd.sock"

// Socket returns the socket path to use.
func Socket() string {
	if s := os.Getenv("SMF_SOCKET"); s != "" {
		return s
	}
	return DefaultSocket
}

// Request is one command. Op is one of the Op* constants.
type Request struct {
	Op        string   `json:"op"`
	FMRIs     []string `json:"fmris,omitempty"`
	Temporary bool     `json:"temporary,omitempty"`
	Recursive bool     `json:"recursive,omitempty"`
	Immediate bool     `json:"immediate,omitempty"`
	Force     bool     `json:"force,omitempty"`     // delete: running instances too
	State     string   `json:"state,omitempty"`     // mark: maintenance|degraded
	Milestone string   `json:"milestone,omitempty"` // milestone verb
	Manifest  []byte   `json:"manifest,omitempty"`  // import
	Name      string   `json:"name,omitempty"`      // import: file name for errors
}

// Operations.
const (
	OpStatus    = "status"
	OpEnable    = "enable"
	OpDisable   = "disable"
	OpRestart   = "restart"
	OpRefresh   = "refresh"
	OpClear     = "clear"
	OpMark      = "mark"
	OpMilestone = "milestone"
	OpImport    = "import"
	OpDelete    = "delete"
	OpExport    = "export"
)

// Response is the answer: an error, or the data asked for.
type Response struct {
	Error     string    `json:"error,omitempty"`
	Instances []*Status `json:"instances,omitempty"`
	Manifest  []byte    `json:"manifest,omitempty"`
	Milestone string    `json:"milestone,omitempty"`
	// FMRIs are the instances a verb acted on (svcadm -v names them);
	// Also those enable -r enabled besides.
	FMRIs []string `json:"fmris,omitempty"`
	Also  []string `json:"also,omitempty"`
}

// Status is one instance as svcs shows it.
type Status struct {
	FMRI        string    `json:"fmri"`
	State       string    `json:"state"`
	NextState   string    `json:"next_state"` // "none" when not in transition
	Aux         string    `json:"auxiliary_state,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	STime       time.Time `json:"state_time"`
	Enabled     bool      `json:"enabled"`
	Temporary   bool      `json:"temporary,omitempty"`
	Contract    int       `json:"contract,omitempty"`
	Pids        []int     `json:"pids,omitempty"`
	Name        string    `json:"name,omitempty"` // template common_name
	Description string    `json:"description,omitempty"`
	Log         string    `json:"logfile,omitempty"`
	Restarter   string    `json:"restarter,omitempty"`
	LastExit    int       `json:"last_exit,omitempty"`
	Deps        []Dep     `json:"dependencies,omitempty"`
	Manpages    []Manpage `json:"manpages,omitempty"`
	DocLinks    []string  `json:"doc_links,omitempty"`
	// Props are the application property groups' properties (svcs -lv).
	Props []Prop `json:"properties,omitempty"`
	// Cycle is the dependency cycle a dependency_cycle maintenance
	// completes.
	Cycle []string `json:"cycle,omitempty"`
}

// Manpage is a manual page a service's template names.
type Manpage struct {
	Title   string `json:"title"`
	Section string `json:"section"`
	Manpath string `json:"manpath,omitempty"`
}

// Prop is one property of an application property group.
type Prop struct {
	Group  string   `json:"group"`
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Values []string `json:"values"`
}

// Dep is one dependency of an instance with the states of what it cites.
type Dep struct {
	Name      string   `json:"name"`
	Grouping  string   `json:"grouping"`
	RestartOn string   `json:"restart_on"`
	Type      string   `json:"type"`
	FMRIs     []string `json:"fmris"`
	States    []string `json:"states"` // per FMRI: a state, "absent", or for files "online"/"absent"
}

// Handler serves requests.
type Handler interface {
	Handle(*Request) *Response
}

// HandlerFunc is a function that serves requests.
type HandlerFunc func(*Request) *Response

// Handle calls f.
func (f HandlerFunc) Handle(r *Request) *Response { return f(r) }

// Serve listens on path (replacing a stale socket) and serves until the
// listener is closed.
func Serve(path string, h Handler) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	_ = os.Chmod(path, 0o600)
	go func() {
		for {
			c, err := l.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				// Out of descriptors, say: svcs must work again once
				// they are back, so keep accepting.
				time.Sleep(100 * time.Millisecond)
				continue
			}
			go serveConn(c, h)
		}
	}()
	return l, nil
}

func serveConn(c net.Conn, h Handler) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	var req Request
	var resp *Response
	if err := json.NewDecoder(c).Decode(&req); err != nil {
		resp = &Response{Error: "bad request: " + err.Error()}
	} else {
		resp = h.Handle(&req)
	}
	_ = json.NewEncoder(c).Encode(resp)
}

// ErrUnavailable means no restarter answers on the socket.
var ErrUnavailable = errors.New("repository server unavailable")

// Call sends one request.
func Call(path string, req *Request) (*Response, error) {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrUnavailable, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return nil, err
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.Error != "" {
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
}
