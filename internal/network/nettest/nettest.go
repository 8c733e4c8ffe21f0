// Package nettest gives root tests of the network packages plain network
// namespaces standing in for zones, bridges standing in for nic tags, and
// unique kernel object names, all removed when the test ends.
package nettest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Name returns prefix followed by random hex digits, at most 15
// characters: a link, bridge or table name no other test uses.
func Name(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	s := prefix + hex.EncodeToString(b)
	if len(s) > 15 {
		s = s[:15]
	}
	return s
}

// Bridge makes an up bridge that the test's end removes.
func Bridge(t testing.TB, name string) netlink.Link {
	t.Helper()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatalf("bridge %s: %v", name, err)
	}
	t.Cleanup(func() { netlink.LinkDel(br) })
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	return l
}

// Zone is a named network namespace playing a zone.
type Zone struct {
	Name string
	NS   netns.NsHandle
}

// NewZone makes a named network namespace with lo up.
func NewZone(t testing.TB, name string) *Zone {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	netns.Set(orig)
	if err != nil {
		t.Fatalf("netns %s: %v", name, err)
	}
	z := &Zone{Name: name, NS: ns}
	t.Cleanup(func() {
		ns.Close()
		netns.DeleteNamed(name)
	})
	if err := z.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}); err != nil {
		t.Fatal(err)
	}
	return z
}

// Do runs f on a thread inside the zone's namespace.
func (z *Zone) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is left in the zone's namespace: never unlock it,
		// so the runtime throws it away.
		if err := netns.Set(z.NS); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

// Command runs a program inside the zone's namespace.
func (z *Zone) Command(args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/var/run/netns/" + z.Name, "--"}, args...)...)
}

// Veth links the zone to a bridge: host is the bridge port, inside the
// zone's end (given mac and, when cidr is set, address).
func (z *Zone) Veth(t testing.TB, br netlink.Link, host, inside string, mac net.HardwareAddr, cidr string) {
	t.Helper()
	tmp := Name("tmp")
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host, MasterIndex: br.Attrs().Index}, PeerName: tmp, PeerHardwareAddr: mac}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatalf("veth %s: %v", host, err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(host); err == nil {
			netlink.LinkDel(l)
		}
	})
	hl, _ := netlink.LinkByName(host)
	netlink.LinkSetUp(hl)
	pl, err := netlink.LinkByName(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsFd(pl, int(z.NS)); err != nil {
		t.Fatal(err)
	}
	err = z.Do(func() error {
		l, err := netlink.LinkByName(tmp)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetName(l, inside); err != nil {
			return err
		}
		if cidr != "" {
			a, err := netlink.ParseAddr(cidr)
			if err != nil {
				return err
			}
			if err := netlink.AddrAdd(l, a); err != nil {
				return err
			}
		}
		return netlink.LinkSetUp(l)
	})
	if err != nil {
		t.Fatalf("zone end of %s: %v", host, err)
	}
}

// MAC parses a MAC address or panics (test constants).
func MAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(fmt.Sprintf("bad mac %q", s))
	}
	return m
}

// Sniffer is a raw socket on one link of the host: it sees the frames the
// link sends and receives, as tcpdump would.
type Sniffer struct{ fd int }

// Sniff opens a Sniffer on the host's link name; the test's end closes
// it.
func Sniff(t testing.TB, name string) *Sniffer {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("sniff %s: %v", name, err)
	}
	proto := int(htons(unix.ETH_P_ALL))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		t.Fatalf("sniff %s: %v", name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: l.Attrs().Index}); err != nil {
		t.Fatalf("sniff %s: %v", name, err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50000}); err != nil {
		t.Fatalf("sniff %s: %v", name, err)
	}
	return &Sniffer{fd: fd}
}

// Drain forgets the frames seen so far.
func (s *Sniffer) Drain() {
	buf := make([]byte, 65536)
	for {
		if n, _, err := unix.Recvfrom(s.fd, buf, unix.MSG_DONTWAIT); err != nil || n < 0 {
			return
		}
	}
}

// Saw tells whether a frame for which match holds is seen within d.
func (s *Sniffer) Saw(d time.Duration, match func(frame []byte) bool) bool {
	buf := make([]byte, 65536)
	for end := time.Now().Add(d); time.Now().Before(end); {
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err == nil && n > 0 && match(buf[:n]) {
			return true
		}
	}
	return false
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
