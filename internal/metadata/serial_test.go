package metadata

import (
	"context"
	"fmt"
	"hull/internal/metadata/protocol"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// openPty returns a pty pair: the host holds the master, as it would a
// guest's serial port; the guest's client uses the slave in raw mode.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no ptys: %v", err)
	}
	// Fd() would put the master into blocking mode, out of the poller
	// that lets Close interrupt the host's read; use the raw conn.
	rc, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ierr error
	rc.Control(func(fd uintptr) {
		if ierr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ierr == nil {
			n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	})
	if ierr != nil {
		t.Fatal(ierr)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := term.MakeRaw(int(s.Fd())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

func TestSerialTransport(t *testing.T) {
	master, slave := openPty(t)
	s := &Server{Source: newFake(testVM(testUUID))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeStream(ctx, testUUID, master) }()

	// A guest first finds a line boundary: leftover garbage from an
	// earlier client, then a bare newline that must get "invalid command".
	io.WriteString(slave, "GARBAGE FROM A DEAD CLIENT")
	c := protocol.NewClient(slave)
	if err := c.Reset(); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if err := c.Negotiate(); err != nil || !c.V2 {
		t.Fatalf("negotiate: %v %v", c.V2, err)
	}
	if r := chk(t)(c.Get("sdc:uuid")); r.Data != testUUID {
		t.Errorf("GET sdc:uuid over serial = %+v", r)
	}
	val := strings.Repeat("line of text\n", 500)
	if r := chk(t)(c.Put("big", val)); r.Code != protocol.Success {
		t.Fatalf("PUT over serial: %+v", r)
	}
	if r := chk(t)(c.Get("big")); r.Data != val {
		t.Errorf("GET big over serial: %d bytes", len(r.Data))
	}
	// A second client on the same line, still in V2 mode on the host.
	c2 := protocol.NewClient(slave)
	if err := c2.Reset(); err != nil {
		t.Fatal(err)
	}
	if r := chk(t)(c2.Get("sdc:hostname")); r.Data != "web01" {
		t.Errorf("V1 GET after reset = %+v", r)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeStream did not return after cancel")
	}
}
