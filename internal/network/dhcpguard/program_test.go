package dhcpguard

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/cilium/ebpf"

	"hull/internal/testenv"
)

var mac = net.HardwareAddr{0x02, 0x08, 0x20, 0xaa, 0xbb, 0xcc}

func TestParseCID(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"0x0102ff", "\x01\x02\xff", true},
		{"0XAbCd", "\xab\xcd", true},
		{"0x", "", false},
		{"0x123", "", false},
		{"abcd", "", false},
	} {
		b, err := ParseCID(c.in)
		if (err == nil) != c.ok || string(b) != c.want {
			t.Errorf("ParseCID(%q) = %x, %v", c.in, b, err)
		}
	}
	if k, err := Key([]byte{7, 8}); err != nil || k[0] != 2 || k[1] != 7 || k[2] != 8 || k[3] != 0 {
		t.Errorf("Key = %v, %v", k[:4], err)
	}
	if _, err := Key(make([]byte, 256)); err == nil {
		t.Error("a 256-byte id made a key")
	}
}

// frame is an Ethernet frame from mac.
func frame(typ uint16, payload []byte) []byte {
	b := append(append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mac...), byte(typ>>8), byte(typ))
	return append(b, payload...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	u := make([]byte, 8)
	binary.BigEndian.PutUint16(u, sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	return append(u, payload...)
}

func ip4(payload []byte) []byte {
	h := make([]byte, 20)
	h[0], h[8], h[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	copy(h[16:], []byte{255, 255, 255, 255})
	return append(h, payload...)
}

func ip6(payload []byte) []byte {
	h := make([]byte, 40)
	h[0], h[6], h[7] = 0x60, 17, 64
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	return append(h, payload...)
}

// dhcp4 is a DHCPv4 discover from mac with the options given.
func dhcp4(opts ...[]byte) []byte {
	b := make([]byte, 240)
	b[0], b[1], b[2] = 1, 1, 6
	copy(b[28:], mac)
	copy(b[236:], []byte{99, 130, 83, 99})
	b = append(b, 53, 1, 1)
	for _, o := range opts {
		b = append(b, o...)
	}
	return frame(0x0800, ip4(udp(68, 67, append(b, 255))))
}

func opt(code byte, data ...byte) []byte { return append([]byte{code, byte(len(data))}, data...) }

// dhcp6 is a DHCPv6 message of type typ with a client id option duid.
func dhcp6(typ byte, duid []byte) []byte {
	b := []byte{typ, 1, 2, 3}
	o := make([]byte, 4)
	binary.BigEndian.PutUint16(o, 8) // elapsed time first
	binary.BigEndian.PutUint16(o[2:], 2)
	b = append(append(b, o...), 0, 0)
	if duid != nil {
		o := make([]byte, 4)
		binary.BigEndian.PutUint16(o, 1)
		binary.BigEndian.PutUint16(o[2:], uint16(len(duid)))
		b = append(append(b, o...), duid...)
	}
	return frame(0x86dd, ip6(udp(546, 547, b)))
}

// TestProgram runs the classifier on frames in the kernel
// (BPF_PROG_TEST_RUN): what it passes on and what it drops.
func TestProgram(t *testing.T) {
	testenv.RequireRoot(t)
	listed := []byte{0xff, 0, 0, 0, 1, 0, 4, 0xde, 0xad}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: KeySize, ValueSize: 1, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	k, _ := Key(listed)
	if err := m.Put(k, uint8(1)); err != nil {
		t.Fatal(err)
	}
	insns, err := Program(mac, m.FD())
	if err != nil {
		t.Fatal(err)
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SchedCLS, Instructions: insns, License: "Dual MIT/GPL"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	pads := make([]byte, maxOptions+1)
	llt := append([]byte{0, 1, 0, 1, 1, 2, 3, 4}, mac...)
	ll := append([]byte{0, 3, 0, 1}, mac...)
	truncated := dhcp4(opt(61, listed...))
	truncated = truncated[:len(truncated)-6]
	const next, drop = ^uint32(0), 2
	for _, c := range []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"not DHCP", frame(0x0800, ip4(udp(5000, 5001, []byte("hello")))), next},
		{"ARP", frame(0x0806, make([]byte, 28)), next},
		{"no client id", dhcp4(opt(55, 1, 3, 6)), next},
		{"client id of the MAC", dhcp4(opt(61, append([]byte{1}, mac...)...)), next},
		{"listed client id", dhcp4(opt(55, 1, 3), opt(61, listed...)), next},
		{"unlisted client id", dhcp4(opt(55, 1, 3), opt(61, 0xff, 9, 9, 9)), drop},
		{"another MAC's client id", dhcp4(opt(61, 1, 2, 0, 0, 0, 0, 1)), drop},
		{"client id behind padding", dhcp4(pads, opt(61, 0xff, 9)), drop},
		{"truncated client id", truncated, drop},
		{"DHCPv6 without client id", dhcp6(1, nil), next},
		{"DHCPv6 DUID-LLT of the MAC", dhcp6(1, llt), next},
		{"DHCPv6 DUID-LL of the MAC", dhcp6(3, ll), next},
		{"DHCPv6 listed DUID", dhcp6(1, listed), next},
		{"DHCPv6 unlisted DUID", dhcp6(1, []byte{0, 2, 0, 0, 0, 9, 1, 2}), drop},
		{"DHCPv6 reply", dhcp6(7, []byte{0, 2, 0, 0, 0, 9, 1, 2}), next},
	} {
		got, _, err := p.Test(c.frame)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: %d, want %d", c.name, int32(got), int32(c.want))
		}
	}
}
