package network

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The filter lives in one bridge-family table. Its base chain sees every
// frame entering a bridge port and sends frames from a VNIC's host end to
// that VNIC's chain; each dispatch rule carries its VM's uuid, so that a
// VM's rules are found, replaced and removed as one, in one transaction.

// Table is the nftables table of the node's filters.
const Table = "hull"

const baseChain = "ports"

// conn is a connection whose receive buffer holds the acknowledgements of
// a zone with many NICs: a batch for 32 NICs overflows the default one
// (ENOBUFS).
func conn() *nftables.Conn {
	c, err := nftables.New(nftables.WithSockOptions(func(nc *mnl.Conn) error { return nc.SetReadBuffer(4 << 20) }))
	if err != nil {
		return &nftables.Conn{}
	}
	return c
}

func table() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyBridge, Name: Table}
}

// ApplyFilter replaces the VM's filter with the one its VNICs render.
func ApplyFilter(uuid string, vnics []VNIC) error {
	c := conn()
	t := table()
	base := &nftables.Chain{Name: baseChain, Table: t}
	// The table and its base chain are made once: adding a base chain
	// that exists again is an update the kernel commits only after an
	// RCU grace period, most of what applying a filter cost (15 → 1 ms).
	if _, err := c.ListChain(t, baseChain); err != nil {
		c.AddTable(t)
		accept := nftables.ChainPolicyAccept
		base = c.AddChain(&nftables.Chain{
			Name: baseChain, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(-200), Policy: &accept,
		})
		if err := c.Flush(); err != nil {
			return fmt.Errorf("nftables table %s: %w", Table, err)
		}
	}
	if err := queueRemove(c, t, uuid); err != nil {
		return err
	}
	for _, x := range vnics {
		chains := Filter(x)
		for _, ch := range chains {
			c.AddChain(&nftables.Chain{Name: ch.Name, Table: t})
		}
		for _, ch := range chains {
			for _, r := range ch.Rules {
				ex, err := exprs(r)
				if err != nil {
					return err
				}
				c.AddRule(&nftables.Rule{Table: t, Chain: &nftables.Chain{Name: ch.Name, Table: t}, Exprs: ex})
			}
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: base, UserData: []byte(uuid), Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(x.Host)},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: ChainName(x)},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables filter of %s: %w", uuid, err)
	}
	return nil
}

// RemoveFilter deletes the VM's rules and chains (nothing to do is fine).
func RemoveFilter(uuid string) error {
	c := conn()
	if _, err := c.ListTableOfFamily(Table, nftables.TableFamilyBridge); err != nil {
		return nil // no table: nothing of anyone's
	}
	if err := queueRemove(c, table(), uuid); err != nil {
		return err
	}
	return c.Flush()
}

// queueRemove queues the deletion of the VM's dispatch rules and chains.
func queueRemove(c *nftables.Conn, t *nftables.Table, uuid string) error {
	rules, err := c.GetRules(t, &nftables.Chain{Name: baseChain, Table: t})
	if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nftables rules: %w", err)
	}
	for _, r := range rules {
		if bytes.Equal(r.UserData, []byte(uuid)) {
			if err := c.DelRule(r); err != nil {
				return err
			}
		}
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyBridge)
	if err != nil {
		return fmt.Errorf("nftables chains: %w", err)
	}
	prefix := HostPrefix(uuid)
	var mine []*nftables.Chain
	for _, ch := range chains {
		if ch.Table.Name == Table && strings.HasPrefix(ch.Name, prefix) {
			mine = append(mine, ch)
			c.FlushChain(ch)
		}
	}
	for _, ch := range mine {
		c.DelChain(ch)
	}
	return nil
}

func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

type field struct {
	base   expr.PayloadBase
	offset uint32
	len    uint32
}

var fields = map[Field]field{
	EtherSrc:  {expr.PayloadBaseLLHeader, 6, 6},
	EtherType: {expr.PayloadBaseLLHeader, 12, 2},
	IPProto:   {expr.PayloadBaseNetworkHeader, 9, 1},
	IPSrc:     {expr.PayloadBaseNetworkHeader, 12, 4},
	IP6Next:   {expr.PayloadBaseNetworkHeader, 6, 1},
	IP6Src:    {expr.PayloadBaseNetworkHeader, 8, 16},
	L4Sport:   {expr.PayloadBaseTransportHeader, 0, 2},
	L4Dport:   {expr.PayloadBaseTransportHeader, 2, 2},
	ARPSha:    {expr.PayloadBaseNetworkHeader, 8, 6},
	ARPSpa:    {expr.PayloadBaseNetworkHeader, 14, 4},
	// The DHCP message follows the 8-byte UDP header.
	DHCPHlen:   {expr.PayloadBaseTransportHeader, 8 + 2, 1},
	DHCPChaddr: {expr.PayloadBaseTransportHeader, 8 + 28, 6},
}

// exprs turns a rendered rule into nftables expressions; drops count, so
// what was refused can be read back.
func exprs(r Rule) ([]expr.Any, error) {
	var out []expr.Any
	for _, m := range r.Match {
		f, ok := fields[m.Field]
		if !ok || uint32(len(m.Value)) != f.len {
			return nil, fmt.Errorf("nftables: bad match %+v", m)
		}
		out = append(out, &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: f.base, Offset: f.offset, Len: f.len})
		if m.Mask != nil {
			out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: f.len, Mask: m.Mask, Xor: make([]byte, f.len)})
		}
		op := expr.CmpOpEq
		if m.Not {
			op = expr.CmpOpNeq
		}
		out = append(out, &expr.Cmp{Op: op, Register: 1, Data: m.Value})
	}
	switch v := r.Verdict; {
	case v == "accept":
		out = append(out, &expr.Verdict{Kind: expr.VerdictAccept})
	case v == "drop":
		out = append(out, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
	case strings.HasPrefix(v, "jump "):
		out = append(out, &expr.Verdict{Kind: expr.VerdictJump, Chain: strings.TrimPrefix(v, "jump ")})
	default:
		return nil, fmt.Errorf("nftables: bad verdict %q", v)
	}
	return out, nil
}

// Dropped sums the drop counters of the VM's chains: frames its filter
// refused.
func Dropped(uuid string) (uint64, error) {
	c := conn()
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyBridge)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, ch := range chains {
		if ch.Table.Name != Table || !strings.HasPrefix(ch.Name, HostPrefix(uuid)) {
			continue
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return 0, err
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				if ctr, ok := e.(*expr.Counter); ok {
					n += ctr.Packets
				}
			}
		}
	}
	return n, nil
}

// ChainsOf lists the VM's filter chains (for leak checks).
func ChainsOf(uuid string) []string {
	c := conn()
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyBridge)
	if err != nil {
		return nil
	}
	var out []string
	for _, ch := range chains {
		if ch.Table.Name == Table && strings.HasPrefix(ch.Name, HostPrefix(uuid)) {
			out = append(out, ch.Name)
		}
	}
	return out
}
