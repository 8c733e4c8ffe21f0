// Package mdata is the in-zone side of the metadata service: the
// mdata-get, mdata-put, mdata-delete and mdata-list tools, with the
// messages and exit codes of Joyent's mdata-client. They are
// personalities of the static hull binary, which every zone has.
package mdata

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"hull/internal/metadata/protocol"
)

// Exit codes, as mdata-client's.
const (
	ExitSuccess  = 0
	ExitNotFound = 1
	ExitError    = 2
	ExitUsage    = 3
)

// Sockets are where the zone's metadata socket may be, in order: a
// SmartOS zone's, an LX zone's, a legacy SDC 6 zone's.
var Sockets = []string{
	"/.zonecontrol/metadata.sock",
	"/native/.zonecontrol/metadata.sock",
	"/var/run/smartdc/metadata.sock",
}

// SocketEnv overrides the socket path (for tests and debugging; a zone
// can only reach its own socket anyway).
const SocketEnv = "HULL_METADATA_SOCKET"

// Env is what a tool needs from its process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	StdinIsTTY     bool
	// Connect opens the metadata connection; nil uses Open.
	Connect func() (*protocol.Client, error)
}

// connectWait is how long a tool waits for a socket that is not there
// yet (the host daemon restarting): SmartOS's clients retry too.
var connectWait = 10 * time.Second

// Open's errors, worded as mdata-client's (they follow "ERROR: could not
// initialise protocol: ").
var (
	ErrNoSocket = errors.New("Could not find metadata socket.")
	ErrConnect  = errors.New("Could not connect metadata socket.")
)

// Open finds the zone's metadata socket, connects to it and negotiates
// the protocol. A socket that is missing or refuses connections is
// retried for a while (the host daemon may be restarting); a socket this
// user may not reach is not, as with mdata-client.
func Open() (*protocol.Client, error) {
	paths := Sockets
	if p := os.Getenv(SocketEnv); p != "" {
		paths = []string{p}
	}
	deadline := time.Now().Add(connectWait)
	for {
		c, retry, err := open(paths)
		if err == nil || !retry || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// open tries each path once: the first socket found is the one used.
func open(paths []string) (c *protocol.Client, retry bool, err error) {
	inZone := false
	for _, p := range paths {
		st, err := os.Lstat(p)
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return nil, false, ErrNoSocket
			}
			if _, derr := os.Stat(filepath.Dir(p)); derr == nil {
				inZone = true // its directory is there: the socket may come
			}
			continue
		}
		if st.Mode().Type() != fs.ModeSocket {
			continue
		}
		c, err := protocol.Dial(p)
		switch {
		case err == nil:
			return c, false, nil
		case errors.Is(err, fs.ErrPermission):
			return nil, false, ErrConnect
		}
		return nil, true, ErrConnect
	}
	// Outside a zone, nothing will ever appear: fail at once.
	return nil, inZone, ErrNoSocket
}

// Main runs the tool named name (mdata-get, …) with its arguments.
func Main(name string, args []string, env Env) int {
	if env.Connect == nil {
		env.Connect = Open
	}
	tool := filepath.Base(name)
	switch tool {
	case "mdata-get", "mdata-delete":
		if len(args) < 1 {
			return usage(env, tool, name, "<keyname>")
		}
	case "mdata-put":
		if len(args) < 1 {
			return usage(env, tool, name, "<keyname> [ <value> ]")
		}
	case "mdata-list":
	default:
		fmt.Fprintf(env.Stderr, "%s: unknown metadata tool\n", tool)
		return ExitUsage
	}
	c, err := env.Connect()
	if err != nil {
		fmt.Fprintf(env.Stderr, "ERROR: could not initialise protocol: %v\n", err)
		return ExitError
	}
	ss := &session{env: env, c: c}
	defer func() { ss.c.Close() }()
	switch tool {
	case "mdata-get":
		return get(ss, args[0])
	case "mdata-put":
		return put(ss, args)
	case "mdata-delete":
		return del(ss, args[0])
	default:
		return list(ss)
	}
}

// maxResets bounds how often a tool reconnects for one request.
const maxResets = 3

// session is a tool's connection. A request that fails on the wire (the
// host daemon restarted, a timeout) is retried on a new connection, as
// mdata-client resets its protocol and tries again.
type session struct {
	env Env
	c   *protocol.Client
}

func (s *session) do(req func(*protocol.Client) (protocol.Reply, error)) (protocol.Reply, error) {
	for i := 0; ; i++ {
		r, err := req(s.c)
		if err == nil || errors.Is(err, protocol.ErrV1Host) || i == maxResets {
			return r, err
		}
		fmt.Fprintln(s.env.Stderr, "receive timeout, resetting protocol...")
		c, cerr := s.env.Connect()
		if cerr != nil {
			fmt.Fprintf(s.env.Stderr, "ERROR: while resetting connection: %v\n", cerr)
			return r, err
		}
		s.c.Close()
		s.c = c
	}
}

// usage is errx(3, "Usage: ..."): the program name, then the message.
func usage(env Env, tool, argv0, synopsis string) int {
	fmt.Fprintf(env.Stderr, "%s: Usage: %s %s\n", tool, argv0, synopsis)
	return ExitUsage
}

// execFailed is mdata-client's message for a request that could not be
// carried out: "GET" whatever the tool, as it prints it.
func execFailed(env Env, cmd string) int {
	fmt.Fprintf(env.Stderr, "ERROR: could not execute %s\n", cmd)
	return ExitError
}

func get(s *session, key string) int {
	env := s.env
	r, err := s.do(func(c *protocol.Client) (protocol.Reply, error) { return c.Get(key) })
	if err != nil {
		return execFailed(env, "GET")
	}
	switch r.Code {
	case protocol.Success:
		io.WriteString(env.Stdout, r.Data)
		if !strings.HasSuffix(r.Data, "\n") {
			io.WriteString(env.Stdout, "\n")
		}
		return ExitSuccess
	case protocol.NotFound:
		fmt.Fprintf(env.Stderr, "No metadata for '%s'\n", key)
		return ExitNotFound
	case protocol.Invalid:
		fmt.Fprintln(env.Stderr, "ERROR: host does not support GET")
		return ExitError
	}
	fmt.Fprintf(env.Stderr, "Error getting metadata for key '%s': %s\n", key, r.Data)
	return ExitError
}

func put(s *session, args []string) int {
	env := s.env
	if !s.c.V2 {
		fmt.Fprintln(env.Stderr, "ERROR: host does not support PUT")
		return ExitError
	}
	key := args[0]
	var value string
	if len(args) >= 2 {
		value = args[1]
	} else {
		if env.StdinIsTTY {
			fmt.Fprintln(env.Stderr, "ERROR: either specify the metadata value as the second command-line argument, or pipe content to stdin.")
			return ExitError
		}
		b, err := io.ReadAll(env.Stdin)
		if err != nil {
			fmt.Fprintf(env.Stderr, "ERROR: could not read from stdin: %v\n", err)
			return ExitError
		}
		value = string(b)
	}
	r, err := s.do(func(c *protocol.Client) (protocol.Reply, error) { return c.Put(key, value) })
	if err != nil {
		return execFailed(env, "GET")
	}
	return writeResult(r, key, "putting metadata for key", "PUT", env)
}

func del(s *session, key string) int {
	env := s.env
	if !s.c.V2 {
		fmt.Fprintln(env.Stderr, "ERROR: host does not support DELETE")
		return ExitError
	}
	r, err := s.do(func(c *protocol.Client) (protocol.Reply, error) { return c.Delete(key) })
	if err != nil {
		return execFailed(env, "GET")
	}
	return writeResult(r, key, "deleting metadata key", "DELETE", env)
}

func writeResult(r protocol.Reply, key, doing, cmd string, env Env) int {
	switch r.Code {
	case protocol.Success:
		return ExitSuccess
	case protocol.NotFound:
		fmt.Fprintf(env.Stderr, "No metadata for '%s'\n", key)
		return ExitNotFound
	case protocol.Invalid:
		fmt.Fprintf(env.Stderr, "ERROR: host does not support %s\n", cmd)
		return ExitError
	}
	fmt.Fprintf(env.Stderr, "Error %s '%s': %s\n", doing, key, r.Data)
	return ExitError
}

func list(s *session) int {
	env := s.env
	r, err := s.do(func(c *protocol.Client) (protocol.Reply, error) { return c.Keys() })
	if err != nil {
		return execFailed(env, "KEYS")
	}
	switch r.Code {
	case protocol.Success:
		io.WriteString(env.Stdout, r.Data)
		if r.Data != "" && !strings.HasSuffix(r.Data, "\n") {
			io.WriteString(env.Stdout, "\n")
		}
		return ExitSuccess
	case protocol.NotFound:
		fmt.Fprintln(env.Stderr, "No metadata")
		return ExitNotFound
	case protocol.Invalid:
		fmt.Fprintln(env.Stderr, "ERROR: host does not support KEYS")
		return ExitError
	}
	fmt.Fprintf(env.Stderr, "Error getting metadata: %s\n", r.Data)
	return ExitError
}
