package bw

import (
	"testing"

	"github.com/vishvananda/netlink"

	"hull/internal/network/nettest"
	"hull/internal/testenv"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		err  bool
	}{
		{"", 0, false}, {"0", 0, false}, {"100M", 100e6, false}, {"100", 100e6, false},
		{"1.5G", 1.5e9, false}, {"500K", 0, true}, {"1500k", 1.5e6, false}, {"10g", 10e9, false},
		{"fast", 0, true}, {"-1M", 0, true}, {"1T", 0, true}, {"1000G", 0, true},
	} {
		got, err := Parse(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, err %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[uint64]string{0: "--", 100e6: "100M", 1.5e9: "1.5G", 2e9: "2G", 1.5e6: "1.5M", 1234e3: "1234K"} {
		if got := Format(in); got != want {
			t.Errorf("Format(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestFor(t *testing.T) {
	p := For("zabcdef0123n31", 100e6)
	if p.IFB != "izabcdef0123n31" || p.Rate != 12_500_000 || p.Burst != 62_500 || p.Limit != 62_500+312_500 {
		t.Errorf("For = %+v", p)
	}
	if p := For("x", 1.2e6); p.Burst != 3028 {
		t.Errorf("small cap burst = %d, want two frames", p.Burst)
	}
}

func TestApplyUpdateRemove(t *testing.T) {
	testenv.RequireRoot(t)
	br := nettest.Bridge(t, nettest.Name("tbw"))
	z := nettest.NewZone(t, nettest.Name("tbwz"))
	host := nettest.Name("tbwh")
	z.Veth(t, br, host, "net0", nettest.MAC("02:00:00:00:00:01"), "")
	t.Cleanup(func() { Remove(host) })
	for _, bps := range []uint64{100e6, 20e6} {
		if err := Apply(For(host, bps)); err != nil {
			t.Fatal(err)
		}
		if got, err := Current(host); err != nil || got != bps {
			t.Fatalf("Current = %d, %v; want %d", got, err, bps)
		}
		ifb, err := netlink.LinkByName(IFBName(host))
		if err != nil {
			t.Fatal(err)
		}
		qs, _ := netlink.QdiscList(ifb)
		if len(qs) != 1 || qs[0].Type() != "tbf" {
			t.Fatalf("ifb qdiscs = %v", qs)
		}
		l, _ := netlink.LinkByName(host)
		fs, _ := netlink.FilterList(l, netlink.MakeHandle(0xffff, 0))
		if len(fs) != 1 {
			t.Fatalf("ingress filters = %d, want 1", len(fs))
		}
	}
	if err := Remove(host); err != nil {
		t.Fatal(err)
	}
	if got, _ := Current(host); got != 0 {
		t.Errorf("cap left after Remove: %d", got)
	}
	if _, err := netlink.LinkByName(IFBName(host)); err == nil {
		t.Error("ifb left after Remove")
	}
	if err := Remove(host); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestRemovePrefix(t *testing.T) {
	testenv.RequireRoot(t)
	prefix := nettest.Name("tbp")[:10]
	for _, s := range []string{"n0", "n1"} {
		if _, err := ensureIFB(IFBName(prefix + s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemovePrefix(prefix); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"n0", "n1"} {
		if _, err := netlink.LinkByName(IFBName(prefix + s)); err == nil {
			t.Errorf("%s left", IFBName(prefix+s))
		}
	}
}
