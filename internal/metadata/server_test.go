package metadata

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hull/internal/metadata/metadatatest"
	"hull/internal/metadata/protocol"
)

// serve starts a server for the given VMs, each on its own socket in a
// fresh directory, and returns the socket paths by uuid.
func serve(t testing.TB, s *Server, uuids ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	paths := map[string]string{}
	for _, u := range uuids {
		d := filepath.Join(dir, u)
		if err := os.Mkdir(d, 0o711); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, "metadata.sock")
		if err := s.Listen(u, p); err != nil {
			t.Fatal(err)
		}
		paths[u] = p
	}
	t.Cleanup(s.Close)
	return paths
}

func dial(t testing.TB, path string) *protocol.Client {
	t.Helper()
	c, err := protocol.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// chk(t)(c.Get(k)) fails the test on a transport error.
func chk(t testing.TB) func(protocol.Reply, error) protocol.Reply {
	return func(r protocol.Reply, err error) protocol.Reply {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

func TestSocketRoundTrip(t *testing.T) {
	src := newFake(testVM(testUUID))
	paths := serve(t, &Server{Source: src}, testUUID)
	st, err := os.Stat(paths[testUUID])
	if err != nil || st.Mode().Type() != fs.ModeSocket || st.Mode().Perm() != 0o666 {
		t.Fatalf("socket %v %v", st.Mode(), err)
	}
	c := dial(t, paths[testUUID])
	if !c.V2 {
		t.Fatal("V2 not negotiated")
	}
	if r := chk(t)(c.Get("sdc:uuid")); r != (protocol.Reply{Code: protocol.Success, Data: testUUID}) {
		t.Errorf("GET sdc:uuid = %+v", r)
	}
	// Values that V1 could not carry.
	for _, val := range []string{"two\nlines\n", ".\n.", "ünïcode ✓", strings.Repeat("x", 100<<10), "\x00\x01binary"} {
		if r := chk(t)(c.Put("blob", val)); r.Code != protocol.Success {
			t.Fatalf("PUT: %+v", r)
		}
		if r := chk(t)(c.Get("blob")); r != (protocol.Reply{Code: protocol.Success, Data: val}) {
			t.Errorf("GET after PUT of %q = %q", val[:min(len(val), 20)], r.Data[:min(len(r.Data), 20)])
		}
	}
	if r := chk(t)(c.Delete("blob")); r.Code != protocol.Success {
		t.Fatalf("DELETE: %+v", r)
	}
	if r := chk(t)(c.Get("blob")); r.Code != protocol.NotFound {
		t.Errorf("GET after DELETE = %+v", r)
	}
	if r := chk(t)(c.Put("sdc:alias", "x")); r != (protocol.Reply{Code: protocol.Failure, Data: `Cannot update the "sdc" Namespace.`}) {
		t.Errorf("PUT sdc:alias = %+v", r)
	}
	if r := chk(t)(c.Keys()); !strings.HasPrefix(r.Data, "cloud-init:user-data\n") {
		t.Errorf("KEYS = %+v", r)
	}
}

// An outside update (vmadm update set_customer_metadata) is seen by the
// next GET on an open connection.
func TestUpdateVisibleAtOnce(t *testing.T) {
	src := newFake(testVM(testUUID))
	paths := serve(t, &Server{Source: src}, testUUID)
	c := dial(t, paths[testUUID])
	if _, err := src.Update(t.Context(), testUUID, []byte(`{"set_customer_metadata":{"color":"blue"}}`)); err != nil {
		t.Fatal(err)
	}
	if r := chk(t)(c.Get("color")); r.Data != "blue" {
		t.Errorf("GET color = %+v", r)
	}
}

func TestZonesAreIsolated(t *testing.T) {
	src := newFake(testVM(testUUID), testVM(otherUUID))
	paths := serve(t, &Server{Source: src}, testUUID, otherUUID)
	a, b := dial(t, paths[testUUID]), dial(t, paths[otherUUID])
	if r := chk(t)(a.Get("sdc:uuid")); r.Data != testUUID {
		t.Errorf("zone a sees %q", r.Data)
	}
	if r := chk(t)(b.Get("sdc:uuid")); r.Data != otherUUID {
		t.Errorf("zone b sees %q", r.Data)
	}
	chk(t)(a.Put("secret", "a's"))
	if r := chk(t)(b.Get("secret")); r.Code != protocol.NotFound {
		t.Errorf("zone b read zone a's key: %+v", r)
	}
}

// A host that answers NEGOTIATE with anything but V2_OK is spoken to in
// V1, and PUT is refused on the client side.
func TestV1Fallback(t *testing.T) {
	s := &Server{Source: newFake(testVM(testUUID))}
	cs := metadatatest.V1Host(func(l string) string { return s.HandleLine(t.Context(), testUUID, l) })
	defer cs.Close()
	c := protocol.NewClient(cs)
	if err := c.Negotiate(); err != nil || c.V2 {
		t.Fatalf("negotiate: v2=%v err=%v", c.V2, err)
	}
	if r := chk(t)(c.Get("dots")); r != (protocol.Reply{Code: protocol.Success, Data: ".\n..x\nend"}) {
		t.Errorf("V1 GET dots = %+v", r)
	}
	if r := chk(t)(c.Get("missing")); r.Code != protocol.NotFound {
		t.Errorf("V1 GET missing = %+v", r)
	}
	// mdata-client reports a V1 FAILURE line as the error's text.
	if r := chk(t)(c.Get("sdc:tags")); r != (protocol.Reply{Code: protocol.Failure, Data: "FAILURE"}) {
		t.Errorf("V1 GET sdc:tags = %+v", r)
	}
	if _, err := c.Put("k", "v"); err != protocol.ErrV1Host {
		t.Errorf("V1 PUT: %v", err)
	}
}

// rawConn sends lines and reads replies without the client's checks.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func rawDial(t testing.TB, path string) *rawConn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c, bufio.NewReader(c)}
}

func (r *rawConn) send(t testing.TB, s string) string {
	t.Helper()
	r.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(r, s); err != nil {
		t.Fatal(err)
	}
	l, err := r.br.ReadString('\n')
	if err != nil {
		t.Fatalf("after %q: %v", s[:min(len(s), 40)], err)
	}
	return l
}

func TestBadInput(t *testing.T) {
	s := &Server{Source: newFake(testVM(testUUID)), MaxLine: 4096}
	paths := serve(t, s, testUUID)
	c := rawDial(t, paths[testUUID])
	huge := strings.Repeat("A", 10<<20)
	for _, tc := range []struct{ in, want string }{
		{"\x00\x01\x02\xff\n", "FAILURE\n"}, // an unknown V1 command
		{"\t\n", "invalid command\n"},
		{"V2 25 136e7714 1a2b3c4d GET aG9zdG5hbWU=\n", protocol.Frame(protocol.Body("1a2b3c4d", protocol.Failure, "body checksum did not match"))},
		{"V2 9 00000000 x\n", "invalid command\n"},
		{"V2 99 11111111 1a2b3c4d PUT " + huge + "\n", protocol.Frame(protocol.Body("1a2b3c4d", protocol.Failure, "request too large"))},
		{"GET " + huge + "\n", "FAILURE\n"},
		{"\r\n", "invalid command\n"},
		{"GET sdc:alias\r\n", "SUCCESS\n"},
	} {
		if got := c.send(t, tc.in); got != tc.want {
			t.Errorf("%q → %q, want %q", tc.in[:min(len(tc.in), 40)], got, tc.want)
		}
	}
	// The connection still works after all that.
	c.br.ReadString('\n') // "web"
	c.br.ReadString('\n') // "."
	if got, want := c.send(t, protocol.Frame("1a2b3c4d GET "+protocol.Encode("sdc:alias"))), (protocol.Reply{Code: protocol.Success, Data: "web"}).V2("1a2b3c4d"); got != want {
		t.Errorf("after bad input: %q", got)
	}
}

func TestIdleAndSlowClientsTimeOut(t *testing.T) {
	s := &Server{Source: newFake(testVM(testUUID), testVM(otherUUID)), IdleTimeout: 300 * time.Millisecond}
	paths := serve(t, s, testUUID, otherUUID)
	idle := rawDial(t, paths[testUUID])
	slow := rawDial(t, paths[testUUID])
	go func() {
		// One byte every 100ms: never a whole line in time.
		for i := 0; i < 20; i++ {
			if _, err := slow.Write([]byte("G")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	for name, c := range map[string]*rawConn{"idle": idle, "slow": slow} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		// A close with the client's bytes still unread is a reset, not
		// an EOF: both mean the host hung up.
		if _, err := c.br.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s client: read %v, want EOF or a reset (closed by the host)", name, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s client closed after %v", name, d)
		}
	}
	// Meanwhile, and afterwards, the zone and the other one answer.
	if r := chk(t)(dial(t, paths[otherUUID]).Get("sdc:uuid")); r.Data != otherUUID {
		t.Errorf("other zone: %+v", r)
	}
}

// A zone that holds all its connection slots only waits on itself.
func TestFullZoneDoesNotBlockOthers(t *testing.T) {
	s := &Server{Source: newFake(testVM(testUUID), testVM(otherUUID)), MaxConns: 4}
	paths := serve(t, s, testUUID, otherUUID)
	for i := 0; i < 4; i++ {
		c := rawDial(t, paths[testUUID])
		c.send(t, "NEGOTIATE V2\n") // accepted and being served
	}
	waiting := rawDial(t, paths[testUUID]) // queued in the backlog
	start := time.Now()
	if r := chk(t)(dial(t, paths[otherUUID]).Get("sdc:uuid")); r.Data != otherUUID {
		t.Errorf("other zone: %+v", r)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("other zone took %v", d)
	}
	waiting.SetDeadline(time.Now().Add(200 * time.Millisecond))
	io.WriteString(waiting, "NEGOTIATE V2\n")
	if _, err := waiting.br.ReadString('\n'); err == nil {
		t.Error("a fifth connection was served beyond MaxConns")
	}
}

func TestConcurrentRequests(t *testing.T) {
	const zones, perZone = 10, 100 // 1000 requests at once
	var uuids []string
	src := newFake()
	for i := 0; i < zones; i++ {
		u := fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
		uuids = append(uuids, u)
		v := testVM(u)
		b, _ := jsonMarshal(v)
		src.vms[u] = b
	}
	paths := serve(t, &Server{Source: src}, uuids...)
	var wg sync.WaitGroup
	var bad atomic.Int32
	start := make(chan struct{})
	for i := 0; i < zones*perZone; i++ {
		u := uuids[i%zones]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := protocol.Dial(paths[u])
			if err != nil {
				bad.Add(1)
				t.Log(err)
				return
			}
			defer c.Close()
			if r, err := c.Get("sdc:uuid"); err != nil || r.Data != u {
				bad.Add(1)
				t.Log(r, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := bad.Load(); n > 0 {
		t.Errorf("%d of %d concurrent requests failed", n, zones*perZone)
	}
	// 1000 requests on one zone's single socket, through the per-zone
	// connection limit.
	var wg2 sync.WaitGroup
	for i := 0; i < 1000; i++ {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			c, err := protocol.Dial(paths[uuids[0]])
			if err != nil {
				bad.Add(1)
				return
			}
			defer c.Close()
			if r, err := c.Get("sdc:uuid"); err != nil || r.Data != uuids[0] {
				bad.Add(1)
			}
		}()
	}
	wg2.Wait()
	if n := bad.Load(); n > 0 {
		t.Errorf("%d of 1000 requests on one zone failed", n)
	}
}

// A restarted server takes over the same path, whether the old one
// removed its socket (clean stop) or left it behind (killed).
func TestListenAgainAfterRestart(t *testing.T) {
	src := newFake(testVM(testUUID))
	dir := t.TempDir()
	p := filepath.Join(dir, "metadata.sock")
	s1 := &Server{Source: src}
	if err := s1.Listen(testUUID, p); err != nil {
		t.Fatal(err)
	}
	chk(t)(dial(t, p).Put("kept", "yes"))
	s1.Close()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("socket left after a clean stop: %v", err)
	}
	// A killed server leaves its socket file.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	s2 := &Server{Source: src}
	if err := s2.Listen(testUUID, p); err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if r := chk(t)(dial(t, p).Get("kept")); r.Data != "yes" {
		t.Errorf("GET kept = %+v", r)
	}
	// Something else at the path is not clobbered.
	q := filepath.Join(dir, "file")
	os.WriteFile(q, nil, 0o644)
	if err := s2.Listen(otherUUID, q); err == nil {
		t.Error("listened over a regular file")
	}
}

func TestForgetClosesConnections(t *testing.T) {
	s := &Server{Source: newFake(testVM(testUUID))}
	paths := serve(t, s, testUUID)
	c := rawDial(t, paths[testUUID])
	c.send(t, "NEGOTIATE V2\n")
	s.Forget(testUUID)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Errorf("connection after Forget: %v", err)
	}
	if _, err := os.Stat(paths[testUUID]); !os.IsNotExist(err) {
		t.Errorf("socket after Forget: %v", err)
	}
	if z := s.Zones(); len(z) != 0 {
		t.Errorf("zones after Forget: %v", z)
	}
}
