// Package mdata is the in-zone side of the metadata service: the
// mdata-get, mdata-put, mdata-delete and mdata-list tools, with the
// messages and exit codes of Joyent's mdata-client. They are
// personalities of the static hull binary, which every zone has.
package mdata

import (
	"errors"
	"fmt"
	"hull/internal/metadata/protocol"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
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

// Open finds the zone's metadata socket and connects to it.
func Open() (*protocol.Client, error) {
	paths := Sockets
	if p := os.Getenv(SocketEnv); p != "" {
		paths = []string{p}
	}
	deadline := time.Now().Add(connectWait)
	for {
		var lastErr error
		for _, p := range paths {
			if _, err := os.Stat(filepath.Dir(p)); err != nil {
				continue // not this kind of zone
			}
			c, err := protocol.Dial(p)
			if err == nil {
				return c, nil
			}
			lastErr = fmt.Errorf("%s: %w", p, err)
		}
		if lastErr == nil {
			return nil, errors.New("metadata socket not found (is this a zone?)")
		}
		retry := errors.Is(lastErr, os.ErrNotExist) || errors.Is(lastErr, syscall.ECONNREFUSED)
		if !retry || time.Now().After(deadline) {
			return nil, lastErr
		}
		time.Sleep(200 * time.Millisecond)
	}
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
	defer c.Close()
	switch tool {
	case "mdata-get":
		return get(c, args[0], env)
	case "mdata-put":
		return put(c, args, env)
	case "mdata-delete":
		return del(c, args[0], env)
	default:
		return list(c, env)
	}
}

// usage is errx(3, "Usage: ..."): the program name, then the message.
func usage(env Env, tool, argv0, synopsis string) int {
	fmt.Fprintf(env.Stderr, "%s: Usage: %s %s\n", tool, argv0, synopsis)
	return ExitUsage
}

func execFailed(env Env, err error) int {
	fmt.Fprintf(env.Stderr, "ERROR: could not execute GET: %v\n", err)
	return ExitError
}

func get(c *protocol.Client, key string, env Env) int {
	r, err := c.Get(key)
	if err != nil {
		return execFailed(env, err)
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

func put(c *protocol.Client, args []string, env Env) int {
	if !c.V2 {
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
	r, err := c.Put(key, value)
	if err != nil {
		return execFailed(env, err)
	}
	return writeResult(r, key, "putting metadata for key", "PUT", env)
}

func del(c *protocol.Client, key string, env Env) int {
	if !c.V2 {
		fmt.Fprintln(env.Stderr, "ERROR: host does not support DELETE")
		return ExitError
	}
	r, err := c.Delete(key)
	if err != nil {
		return execFailed(env, err)
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

func list(c *protocol.Client, env Env) int {
	r, err := c.Keys()
	if err != nil {
		fmt.Fprintf(env.Stderr, "ERROR: could not execute KEYS: %v\n", err)
		return ExitError
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
