// Package dhcpguard holds a VNIC to the DHCP client identifiers it may
// use (SmartOS's allowed_dhcp_cids, part of dhcp-nospoof): a BPF
// classifier on the host end of the VNIC reads the client identifier of
// every DHCPv4 (option 61) and DHCPv6 (option 1, the DUID) message the
// zone sends to a server and drops those whose identifier is neither
// derived from the VNIC's MAC nor in the list. The identifier is an
// option at no fixed place, which nftables cannot read; BPF walks the
// options.
package dhcpguard

import (
	"encoding/hex"
	"fmt"
	"net"
	"strings"

	"github.com/cilium/ebpf/asm"
)

// Verdicts of a direct-action classifier: pass on to the next filter
// (the bandwidth cap's redirect), or drop.
const (
	actNext = -1 // TC_ACT_UNSPEC
	actDrop = 2  // TC_ACT_SHOT
)

// maxOptions bounds the walk over a message's options: a message with
// more before its identifier is dropped, so that padding cannot hide one.
const maxOptions = 64

// KeySize is a map key: the identifier's length, then its bytes (zero
// padded); DHCPv4 options hold at most 255.
const KeySize = 256

// Key is the map key of an identifier.
func Key(cid []byte) ([KeySize]byte, error) {
	var k [KeySize]byte
	if len(cid) == 0 || len(cid) > KeySize-1 {
		return k, fmt.Errorf("dhcp client id of %d bytes", len(cid))
	}
	k[0] = byte(len(cid))
	copy(k[1:], cid)
	return k, nil
}

// ParseCID reads an allowed_dhcp_cids value ("0x" and hex digits).
func ParseCID(s string) ([]byte, error) {
	h, ok := strings.CutPrefix(strings.ToLower(s), "0x")
	if !ok {
		return nil, fmt.Errorf("dhcp client id %q: not 0x and hex digits", s)
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("dhcp client id %q: not 0x and hex digits", s)
	}
	return b, nil
}

// Registers the program keeps across helper calls.
const (
	rCtx = asm.R6 // the packet
	rOff = asm.R7 // where the walk is
	rTmp = asm.R8
	rCnt = asm.R9 // options left to read
)

// Stack: 8 bytes for small loads at fp-8, the map key below them.
const (
	scratch = -8
	keyAt   = -8 - KeySize
)

type prog struct {
	asm.Instructions
	next string // the label of the next instruction added
}

func (p *prog) add(ins ...asm.Instruction) {
	if p.next != "" && len(ins) > 0 {
		ins[0] = ins[0].WithSymbol(p.next)
		p.next = ""
	}
	p.Instructions = append(p.Instructions, ins...)
}

// label names the next instruction, a jump's target.
func (p *prog) label(name string) { p.next = name }

// load reads n (1, 2 or 4) bytes of the packet at rOff+off into dst,
// in host order; where the packet ends first, it goes to onShort.
func (p *prog) load(dst asm.Register, off int32, n int, onShort string) {
	p.add(
		asm.Mov.Reg(asm.R1, rCtx),
		asm.Mov.Reg(asm.R2, rOff),
		asm.Add.Imm(asm.R2, off),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, scratch),
		asm.Mov.Imm(asm.R4, int32(n)),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, onShort),
	)
	switch n {
	case 1:
		p.add(asm.LoadMem(dst, asm.RFP, scratch, asm.Byte))
	case 2:
		p.add(asm.LoadMem(dst, asm.RFP, scratch, asm.Half), asm.HostTo(asm.BE, dst, asm.Half))
	case 4:
		p.add(asm.LoadMem(dst, asm.RFP, scratch, asm.Word), asm.HostTo(asm.BE, dst, asm.Word))
	}
}

// skip moves rOff past an option of hdr bytes of code and length and R0
// of data, and goes back to loop. rOff is kept to 16 bits: the verifier
// then finds every pass of the walk alike and checks the loop once per
// pass, not once per path.
func (p *prog) skip(hdr int32, loop string) {
	p.add(
		asm.Add.Reg(rOff, asm.R0),
		asm.Add.Imm(rOff, hdr),
		asm.And.Imm(rOff, 0xffff),
		asm.Ja.Label(loop),
	)
}

// at sets rOff.
func (p *prog) at(off int32) { p.add(asm.Mov.Imm(rOff, off)) }

// macAt goes to onMatch when the 6 bytes at rOff+off are mac.
func (p *prog) macAt(off int32, mac net.HardwareAddr, onMatch, label string) {
	for i := range 6 {
		p.load(asm.R0, off+int32(i), 1, label)
		p.add(asm.JNE.Imm(asm.R0, int32(mac[i]), label))
	}
	p.add(asm.Ja.Label(onMatch))
}

// Program renders the classifier for a VNIC of MAC mac whose allowed
// identifiers are in the map mapFD (keys as Key makes them).
func Program(mac net.HardwareAddr, mapFD int) (asm.Instructions, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("dhcpguard: MAC %v", mac)
	}
	p := &prog{}
	p.add(asm.Mov.Reg(rCtx, asm.R1))
	p.at(12)
	p.load(rTmp, 0, 2, "next")
	p.add(
		asm.JEq.Imm(rTmp, 0x0800, "v4"),
		asm.JEq.Imm(rTmp, 0x86dd, "v6"),
		asm.Ja.Label("next"),
	)

	// DHCPv4: UDP to port 67, not a later fragment.
	p.label("v4")
	p.at(14)
	p.load(rTmp, 9, 1, "next")
	p.add(asm.JNE.Imm(rTmp, 17, "next"))
	p.load(rTmp, 6, 2, "next")
	p.add(asm.And.Imm(rTmp, 0x1fff), asm.JNE.Imm(rTmp, 0, "next"))
	p.load(rTmp, 0, 1, "next")
	p.add(
		asm.And.Imm(rTmp, 0x0f),
		asm.LSh.Imm(rTmp, 2),
		asm.JLT.Imm(rTmp, 20, "next"),
		asm.Add.Reg(rOff, rTmp), // the UDP header
	)
	p.load(rTmp, 2, 2, "next")
	p.add(
		asm.JNE.Imm(rTmp, 67, "next"),
		asm.Add.Imm(rOff, 8+240), // the options, past the fixed part and the cookie
		asm.Mov.Imm(rCnt, maxOptions),
	)
	// Walk the options: pad (0) is one byte, end (255) ends them.
	p.label("loop4")
	p.add(asm.JEq.Imm(rCnt, 0, "drop"), asm.Sub.Imm(rCnt, 1))
	p.load(rTmp, 0, 1, "next")
	p.add(
		asm.JEq.Imm(rTmp, 255, "next"),
		asm.JNE.Imm(rTmp, 0, "opt4"),
		asm.Add.Imm(rOff, 1),
		asm.And.Imm(rOff, 0xffff),
		asm.Ja.Label("loop4"),
	)
	p.label("opt4")
	p.load(asm.R0, 1, 1, "next")
	p.add(asm.JEq.Imm(rTmp, 61, "cid4"))
	p.skip(2, "loop4")
	// Option 61 at rOff, its length in R0: empty passes; the MAC's own
	// (type 1, the MAC) passes; else it must be listed.
	p.label("cid4")
	p.add(
		asm.JEq.Imm(asm.R0, 0, "next"),
		asm.Mov.Reg(rCnt, asm.R0),
		asm.Add.Imm(rOff, 2),
		asm.JNE.Imm(rCnt, 7, "lookup"),
	)
	p.load(rTmp, 0, 1, "lookup")
	p.add(asm.JNE.Imm(rTmp, 1, "lookup"))
	p.macAt(1, mac, "next", "lookup")

	// DHCPv6: UDP (no extension headers) to port 547, a client's message.
	p.label("v6")
	p.at(14)
	p.load(rTmp, 6, 1, "next")
	p.add(asm.JNE.Imm(rTmp, 17, "next"), asm.Add.Imm(rOff, 40))
	p.load(rTmp, 2, 2, "next")
	p.add(asm.JNE.Imm(rTmp, 547, "next"), asm.Add.Imm(rOff, 8))
	p.load(rTmp, 0, 1, "next")
	p.add(
		asm.JEq.Imm(rTmp, 2, "next"),  // advertise
		asm.JEq.Imm(rTmp, 7, "next"),  // reply
		asm.JEq.Imm(rTmp, 10, "next"), // reconfigure
		asm.Add.Imm(rOff, 4),
		asm.Mov.Imm(rCnt, maxOptions),
	)
	p.label("loop6")
	p.add(asm.JEq.Imm(rCnt, 0, "drop"), asm.Sub.Imm(rCnt, 1))
	p.load(rTmp, 0, 2, "next")
	p.load(asm.R0, 2, 2, "next")
	p.add(asm.JEq.Imm(rTmp, 1, "cid6"))
	p.skip(4, "loop6")
	// The DUID at rOff+4, R0 long: one of the MAC (DUID-LLT: type 1,
	// hardware type, time, then the address; DUID-LL: type 3, hardware
	// type, the address) passes; else it must be listed.
	p.label("cid6")
	p.add(
		asm.Mov.Reg(rCnt, asm.R0),
		asm.Add.Imm(rOff, 4),
		asm.JLT.Imm(rCnt, 2, "next"),
		asm.JGT.Imm(rCnt, KeySize-1, "drop"),
	)
	p.load(rTmp, 0, 2, "next")
	p.add(
		asm.JEq.Imm(rTmp, 1, "llt"),
		asm.JEq.Imm(rTmp, 3, "ll"),
		asm.Ja.Label("lookup"),
	)
	p.label("llt")
	p.add(asm.JNE.Imm(rCnt, 8+6, "lookup"))
	p.macAt(8, mac, "next", "lookup")
	p.label("ll")
	p.add(asm.JNE.Imm(rCnt, 4+6, "lookup"))
	p.macAt(4, mac, "next", "lookup")

	// The identifier (rCnt bytes at rOff, 1..255) must be a key of the map.
	p.label("lookup")
	p.add(asm.Mov.Imm(asm.R0, 0))
	for off := int16(keyAt); off < scratch; off += 8 {
		p.add(asm.StoreMem(asm.RFP, off, asm.R0, asm.DWord))
	}
	p.add(
		asm.JGT.Imm(rCnt, KeySize-1, "drop"),
		asm.JEq.Imm(rCnt, 0, "drop"),
		asm.StoreMem(asm.RFP, keyAt, rCnt, asm.Byte),
		asm.Mov.Reg(asm.R1, rCtx),
		asm.Mov.Reg(asm.R2, rOff),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, keyAt+1),
		asm.Mov.Reg(asm.R4, rCnt),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "drop"),
		asm.LoadMapPtr(asm.R1, mapFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyAt),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
	)
	p.label("next")
	p.add(asm.Mov.Imm(asm.R0, actNext), asm.Return())
	p.label("drop")
	p.add(asm.Mov.Imm(asm.R0, actDrop), asm.Return())
	return p.Instructions, nil
}
