// Package metadata serves SmartOS's metadata protocol: a zone (or, over a
// serial line, a KVM guest) asks the host for its own configuration with
// GET, KEYS, PUT and DELETE, in the V1 line protocol or in V2 frames with
// a length, a CRC-32 and a request id. Answers are computed from the VM
// object at each request, so an update is visible to the next GET.
package metadata

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"hull/internal/metadata/protocol"
	"hull/internal/vm"
)

// Source is where answers come from: the node's VM objects, read fresh
// for every request, and its update path for PUT and DELETE.
type Source interface {
	Get(uuid string) (*vm.VM, error)
	Update(ctx context.Context, uuid string, payload []byte) (*vm.VM, error)
}

// Defaults for the Server's limits.
const (
	// DefaultMaxLine bounds one request line. A PUT's value is base64
	// inside base64, so this allows values of about 140 KiB; longer
	// lines are read to their end, discarded and answered FAILURE.
	DefaultMaxLine = 256 << 10
	// DefaultMaxConns bounds a zone's open connections; further ones
	// wait in the socket's backlog, so a zone can only slow itself.
	DefaultMaxConns = 32
	// DefaultIdleTimeout is how long a connection may take to send a
	// complete request line before it is closed.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultWriteTimeout is how long a reply may wait for a client
	// that does not read.
	DefaultWriteTimeout = 10 * time.Second
)

// Server serves the metadata protocol for many zones from one process:
// one listening unix socket per zone, and a goroutine per connection.
// Which socket a client connected to names its zone, so a zone can only
// ever reach its own metadata.
type Server struct {
	Source Source
	Host   Host
	Log    *slog.Logger

	MaxLine      int
	MaxConns     int
	IdleTimeout  time.Duration
	WriteTimeout time.Duration

	mu     sync.Mutex
	zones  map[string]*zoneSocket
	closed bool
	wg     sync.WaitGroup
}

type zoneSocket struct {
	uuid   string
	path   string
	ln     *net.UnixListener
	sem    chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s.Log
}

func orInt(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func orDur(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// Listen serves zone uuid on a unix socket at path. A stale socket left
// by an earlier server is replaced; the socket is mode 0666 so the
// zone's root, an unprivileged host uid, can connect (the directory
// above it decides who can reach it). Listening again on the same path
// is a no-op.
func (s *Server) Listen(uuid, path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("metadata server closed")
	}
	if z, ok := s.zones[uuid]; ok {
		if z.path == path {
			return nil
		}
		s.forgetLocked(uuid)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != fs.ModeSocket {
			return fmt.Errorf("metadata socket %s: exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("metadata socket %s: %w", path, err)
		}
	}
	ln, err := listenUnix(path)
	if err != nil {
		return fmt.Errorf("metadata socket for %s: %w", uuid, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		os.Remove(path)
		return fmt.Errorf("metadata socket for %s: %w", uuid, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	z := &zoneSocket{uuid: uuid, path: path, ln: ln, sem: make(chan struct{}, orInt(s.MaxConns, DefaultMaxConns)), ctx: ctx, cancel: cancel}
	if s.zones == nil {
		s.zones = map[string]*zoneSocket{}
	}
	s.zones[uuid] = z
	s.wg.Add(1)
	go s.accept(z)
	return nil
}

// Forget stops serving a zone: its socket is closed and removed and its
// open connections are closed.
func (s *Server) Forget(uuid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetLocked(uuid)
}

func (s *Server) forgetLocked(uuid string) {
	z, ok := s.zones[uuid]
	if !ok {
		return
	}
	delete(s.zones, uuid)
	z.cancel()
	z.ln.Close()
	os.Remove(z.path)
}

// Zones lists the zones being served.
func (s *Server) Zones() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.zones))
	for u := range s.zones {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// Close stops serving every zone and waits for the connections to end.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for u := range s.zones {
		s.forgetLocked(u)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) accept(z *zoneSocket) {
	defer s.wg.Done()
	for {
		// Wait for a free slot before accepting: excess clients queue
		// in the backlog of this zone's socket only.
		select {
		case z.sem <- struct{}{}:
		case <-z.ctx.Done():
			return
		}
		c, err := z.ln.Accept()
		if err != nil {
			<-z.sem
			if z.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			s.log().Warn("metadata: accept", "uuid", z.uuid, "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-z.sem }()
			s.serveConn(z.ctx, z.uuid, c)
		}()
	}
}

// isTemporary covers EMFILE and friends: the process is out of
// descriptors for a moment; accepting again later may work.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) serveConn(ctx context.Context, uuid string, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	s.serve(ctx, uuid, c, false)
}

// ServeStream serves one zone over a byte stream that is not a
// connection: a serial line (a KVM guest's second serial port, or a pty).
// The stream lives on across clients: there is no idle timeout, and a
// read timeout or a garbled line only resets the line. It returns when
// the stream ends or ctx is done (closing rw if it is an io.Closer; an
// *os.File must be pollable, i.e. never had Fd() called, for the close to
// interrupt a read).
func (s *Server) ServeStream(ctx context.Context, uuid string, rw io.ReadWriter) error {
	if c, ok := rw.(io.Closer); ok {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
	}
	return s.serve(ctx, uuid, rw, true)
}

// serve reads request lines from rw and answers each one.
func (s *Server) serve(ctx context.Context, uuid string, rw io.ReadWriter, stream bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log().Error("metadata: panic serving zone", "uuid", uuid, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("metadata: panic: %v", r)
		}
	}()
	dl, _ := rw.(protocol.Deadliner)
	br := bufio.NewReaderSize(rw, 4096)
	max := orInt(s.MaxLine, DefaultMaxLine)
	for {
		if dl != nil && !stream {
			dl.SetReadDeadline(time.Now().Add(orDur(s.IdleTimeout, DefaultIdleTimeout)))
		}
		line, over, rerr := readLine(br, max)
		if rerr != nil {
			if ctx.Err() != nil || errors.Is(rerr, io.EOF) || !stream {
				return nil
			}
			if errors.Is(rerr, os.ErrDeadlineExceeded) {
				continue
			}
			return rerr
		}
		var out string
		if over {
			out = tooLong(line)
		} else {
			out = s.HandleLine(ctx, uuid, string(line))
		}
		if dl != nil {
			dl.SetWriteDeadline(time.Now().Add(orDur(s.WriteTimeout, DefaultWriteTimeout)))
		}
		if _, err := io.WriteString(rw, out); err != nil {
			if stream && errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return nil
		}
	}
}

// headKeep is how much of an over-long line is kept to find its
// request id.
const headKeep = 64

// readLine reads one line without its "\n" (or "\r\n"). A line longer
// than max is read to its end but only its head is kept, and over is set.
func readLine(br *bufio.Reader, max int) (line []byte, over bool, err error) {
	var acc []byte
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case over:
		case len(acc)+len(chunk) > max+1: // +1: the newline
			over = true
			if len(acc) < headKeep {
				acc = append(acc, chunk[:min(len(chunk), headKeep-len(acc))]...)
			}
			acc = acc[:min(len(acc), headKeep)]
		default:
			acc = append(acc, chunk...)
		}
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return nil, false, err
		}
	}
	if !over {
		acc = acc[:len(acc)-1]
		if n := len(acc); n > 0 && acc[n-1] == '\r' {
			acc = acc[:n-1]
		}
	}
	return acc, over, nil
}

// tooLong answers an over-long line: FAILURE, as a V2 frame when its
// head names a request id.
func tooLong(head []byte) string {
	const msg = "request too large"
	h := string(head)
	if strings.HasPrefix(h, "V2 ") {
		f := strings.SplitN(h, " ", 5)
		if len(f) >= 5 && protocol.ValidReqID(f[3]) {
			return failure(msg).V2(f[3])
		}
	}
	return protocol.Failure + "\n"
}

// HandleLine answers one request line (without its newline) from zone
// uuid; the answer includes its newline(s).
func (s *Server) HandleLine(ctx context.Context, uuid, line string) string {
	req, err := protocol.ParseRequest(line)
	if err != nil {
		var fe *protocol.FrameError
		if errors.As(err, &fe) && fe.ReqID != "" {
			return failure(fe.Msg).V2(fe.ReqID)
		}
		return protocol.Invalid + "\n"
	}
	if !req.V2 {
		switch {
		case req.Cmd == "", (req.Cmd == "NEGOTIATE" || req.Cmd == "GET") && req.Arg == "":
			// What a serial client's bare newline expects.
			return protocol.Invalid + "\n"
		case req.Cmd == "NEGOTIATE":
			if req.Arg == "V2" {
				return protocol.V2OK + "\n"
			}
			return protocol.Failure + "\n"
		case req.Cmd == "GET", req.Cmd == "KEYS":
			return s.Do(ctx, uuid, req).V1()
		}
		// Anything else, PUT and DELETE included (their values would
		// not survive V1), is an unknown command: FAILURE, as SmartOS
		// answers it.
		return protocol.Failure + "\n"
	}
	return s.Do(ctx, uuid, req).V2(req.ReqID)
}

func failure(msg string) protocol.Reply { return protocol.Reply{Code: protocol.Failure, Data: msg} }

// Do carries out one command for zone uuid. Keys are trimmed of white
// space, and an empty one is an invalid request, as in SmartOS's agent.
func (s *Server) Do(ctx context.Context, uuid string, req protocol.Request) protocol.Reply {
	var key, val string
	switch req.Cmd {
	case "GET", "DELETE":
		if key = strings.TrimSpace(req.Arg); key == "" {
			return failure("Invalid " + req.Cmd + " Request")
		}
	case "PUT":
		var err error
		if key, val, err = SplitPut(req.Arg); err != nil {
			return failure(err.Error())
		}
	case "KEYS":
	default:
		return failure("Unknown command " + req.Cmd)
	}
	v, err := s.Source.Get(uuid)
	if err != nil {
		return failure(err.Error())
	}
	var payload []byte
	switch req.Cmd {
	case "GET":
		return Get(v, key, s.Host)
	case "KEYS":
		return Keys(v)
	case "PUT":
		payload, err = PutPayload(v, key, val)
	case "DELETE":
		payload, err = DeletePayload(v, key)
	}
	if err != nil {
		return failure(err.Error())
	}
	if _, err := s.Source.Update(ctx, uuid, payload); err != nil {
		s.log().Warn("metadata: update from zone failed", "uuid", uuid, "cmd", req.Cmd, "err", err)
		return failure(err.Error())
	}
	return protocol.Reply{Code: protocol.Success}
}
