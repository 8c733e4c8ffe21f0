// Package bw caps a VNIC's bandwidth in both directions, as Crossbow's
// maxbw link property does. The host end of a VNIC's veth sends what the
// zone receives, so a token bucket (tbf) there caps the zone's inbound
// traffic; what the zone sends arrives on the host end's ingress, which
// has no queue, so it is redirected to an ifb device whose tbf caps it.
// The plan is pure; Apply and Remove make the kernel match it.
package bw

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"hull/internal/network/dump"
)

// Parse reads a maxbw value as dladm takes it: a number with an optional
// K, M or G suffix (kilo-, mega-, gigabits per second; no suffix means
// megabits). It returns bits per second; "" and "0" mean no cap.
func Parse(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	mult := 1e6
	switch s[len(s)-1] {
	case 'k', 'K':
		mult, s = 1e3, s[:len(s)-1]
	case 'm', 'M':
		mult, s = 1e6, s[:len(s)-1]
	case 'g', 'G':
		mult, s = 1e9, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("invalid maxbw value %q: expected a number with an optional K, M or G suffix", s)
	}
	bps := f * mult
	if bps != 0 && bps < MinBPS {
		return 0, fmt.Errorf("invalid maxbw value: minimum is %s", Format(MinBPS))
	}
	if bps > 400e9 {
		return 0, fmt.Errorf("invalid maxbw value: %sbps is more than a link carries", Format(uint64(bps)))
	}
	return uint64(bps), nil
}

// MinBPS is the smallest cap accepted: below it a token bucket cannot
// pass one full-size frame per tick reliably.
const MinBPS = 1_200_000

// Format renders bits per second the way dladm shows a maxbw value:
// the largest unit that keeps it whole ("100M", "1.5G", "1500K").
func Format(bps uint64) string {
	switch {
	case bps == 0:
		return "--"
	case bps%1e9 == 0:
		return strconv.FormatUint(bps/1e9, 10) + "G"
	case bps >= 1e9 && bps%1e8 == 0:
		return strconv.FormatFloat(float64(bps)/1e9, 'f', -1, 64) + "G"
	case bps%1e6 == 0:
		return strconv.FormatUint(bps/1e6, 10) + "M"
	case bps >= 1e6 && bps%1e5 == 0:
		return strconv.FormatFloat(float64(bps)/1e6, 'f', -1, 64) + "M"
	case bps%1e3 == 0:
		return strconv.FormatUint(bps/1e3, 10) + "K"
	}
	return strconv.FormatUint(bps, 10)
}

// Plan is the tc set-up for one capped VNIC.
type Plan struct {
	Link  string // host end of the VNIC
	IFB   string // the ifb carrying the zone's outbound traffic
	Rate  uint64 // bytes per second
	Burst uint32 // bucket size, bytes
	Limit uint32 // queue, bytes
}

// IFBName is the ifb paired with a host link: "i" and the link's name, so
// that clean-up by the VM's link prefix finds both.
func IFBName(link string) string {
	s := "i" + link
	if len(s) > 15 {
		s = s[:15]
	}
	return s
}

// For renders the plan for a link capped at bps bits per second.
func For(link string, bps uint64) Plan {
	rate := bps / 8
	// The bucket holds 5 ms of traffic, at least two full-size frames:
	// big enough that TCP's bursts pass at the cap, small enough that
	// the cap holds over short intervals.
	burst := max(rate/200, 2*1514)
	// The queue holds 25 ms more: deeper queues add latency, shallower
	// ones make TCP fall short of the cap.
	limit := burst + rate/40
	return Plan{Link: link, IFB: IFBName(link), Rate: rate, Burst: uint32(min(burst, math.MaxUint32/2)), Limit: uint32(min(limit, math.MaxUint32/2))}
}

func (p Plan) tbf(index int) *netlink.Tbf {
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		Rate:       p.Rate,
		Buffer:     netlink.Xmittime(p.Rate, p.Burst),
		Limit:      p.Limit,
	}
}

// Apply makes the link's caps match the plan, replacing any earlier cap
// in place (a running zone keeps its connections). Steps are ordered so
// that an interruption leaves only the ifb, which Remove and
// RemovePrefix clear; the qdiscs go with the link.
func Apply(p Plan) error {
	link, err := netlink.LinkByName(p.Link)
	if err != nil {
		return fmt.Errorf("maxbw on %s: %w", p.Link, err)
	}
	ifb, err := ensureIFB(p.IFB)
	if err != nil {
		return err
	}
	if err := netlink.QdiscReplace(p.tbf(ifb.Attrs().Index)); err != nil {
		return fmt.Errorf("maxbw: tbf on %s: %w", p.IFB, err)
	}
	if err := netlink.QdiscReplace(p.tbf(link.Attrs().Index)); err != nil {
		return fmt.Errorf("maxbw: tbf on %s: %w", p.Link, err)
	}
	ingress := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}}
	if err := netlink.QdiscAdd(ingress); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("maxbw: ingress on %s: %w", p.Link, err)
	}
	// Every frame the zone sends goes through the ifb's bucket.
	redirect := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.MakeHandle(0xffff, 0), Handle: 0x80000800, Priority: redirectPrio, Protocol: unix.ETH_P_ALL},
		Sel:         &netlink.TcU32Sel{Flags: nl.TC_U32_TERMINAL, Nkeys: 1, Keys: []netlink.TcU32Key{{}}},
		Actions:     []netlink.Action{netlink.NewMirredAction(ifb.Attrs().Index)},
	}
	if err := netlink.FilterReplace(redirect); err != nil {
		return fmt.Errorf("maxbw: redirect %s to %s: %w", p.Link, p.IFB, err)
	}
	// A redirect made where the DHCP guard now goes (before it had a
	// place) is dropped.
	return removeRedirects(link, func(prio uint16) bool { return prio != redirectPrio })
}

// redirectPrio is the redirect's place on the ingress: after the DHCP
// guard's (dhcpguard.Prio), which must see frames before they are taken
// away.
const redirectPrio = 2

// removeRedirects deletes the link's ingress redirects at the
// priorities which picks.
func removeRedirects(link netlink.Link, which func(uint16) bool) error {
	fs, _ := dump.Consistent(func() ([]netlink.Filter, error) { return netlink.FilterList(link, netlink.MakeHandle(0xffff, 0)) })
	for _, f := range fs {
		if _, ok := f.(*netlink.U32); ok && which(f.Attrs().Priority) {
			if err := netlink.FilterDel(f); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("maxbw: redirect on %s: %w", link.Attrs().Name, err)
			}
		}
	}
	return nil
}

func ensureIFB(name string) (netlink.Link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		if err := netlink.LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: name, TxQLen: 1000}}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("maxbw: ifb %s: %w", name, err)
		}
		if l, err = netlink.LinkByName(name); err != nil {
			return nil, fmt.Errorf("maxbw: ifb %s: %w", name, err)
		}
	}
	if l.Type() != "ifb" {
		return nil, fmt.Errorf("maxbw: %s exists and is a %s, not an ifb", name, l.Type())
	}
	return l, netlink.LinkSetUp(l)
}

// Remove lifts the link's cap (no cap, or no link, is fine).
func Remove(link string) error {
	var errs []error
	if l, err := netlink.LinkByName(link); err == nil {
		// The redirects only: the ingress may hold the DHCP guard too.
		if err := removeRedirects(l, func(uint16) bool { return true }); err != nil {
			errs = append(errs, err)
		}
		qs, _ := dump.Consistent(func() ([]netlink.Qdisc, error) { return netlink.QdiscList(l) })
		for _, q := range qs {
			if a := q.Attrs(); a.Parent == netlink.HANDLE_ROOT && q.Type() == "tbf" {
				if err := netlink.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) {
					errs = append(errs, fmt.Errorf("maxbw: %s qdisc on %s: %w", q.Type(), link, err))
				}
			}
		}
	}
	if l, err := netlink.LinkByName(IFBName(link)); err == nil && l.Type() == "ifb" {
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("maxbw: delete %s: %w", l.Attrs().Name, err))
		}
	}
	return errors.Join(errs...)
}

// RemovePrefix deletes the ifbs of every link whose name starts with
// prefix: what a VM's crashed plumbing or unplumbing can leave behind.
func RemovePrefix(prefix string) error {
	links, err := dump.Consistent(netlink.LinkList)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range links {
		if l.Type() == "ifb" && strings.HasPrefix(l.Attrs().Name, IFBName(prefix)) {
			if err := netlink.LinkDel(l); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Current reads the cap on a link, in bits per second (0: none).
func Current(link string) (uint64, error) {
	l, err := netlink.LinkByName(link)
	if err != nil {
		return 0, err
	}
	qs, err := dump.Consistent(func() ([]netlink.Qdisc, error) { return netlink.QdiscList(l) })
	if err != nil {
		return 0, err
	}
	for _, q := range qs {
		if t, ok := q.(*netlink.Tbf); ok && t.Parent == netlink.HANDLE_ROOT {
			return t.Rate * 8, nil
		}
	}
	return 0, nil
}

// Links lists the ifbs of links whose name starts with prefix (leak
// checks).
func Links(prefix string) []string {
	links, _ := dump.Consistent(netlink.LinkList)
	var out []string
	for _, l := range links {
		if l.Type() == "ifb" && strings.HasPrefix(l.Attrs().Name, IFBName(prefix)) {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}
