package loader

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/refparse"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// fastFrame is the copy parse_fast takes (xdp_vxtap.c): outer Ethernet,
// IPv4 without options, UDP to 4789, VXLAN, inner Ethernet, IPv4 without
// options, TCP (20 bytes) and a payload, every length right.
func fastFrame() []byte {
	f := make([]byte, 84+20+40)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	f[14] = 0x45
	binary.BigEndian.PutUint16(f[16:], uint16(len(f)-14))
	f[22], f[23] = 64, 17
	copy(f[26:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	binary.BigEndian.PutUint16(f[34:], 40000)
	binary.BigEndian.PutUint16(f[36:], 4789)
	binary.BigEndian.PutUint16(f[38:], uint16(len(f)-34))
	f[42] = 0x08
	f[46], f[47], f[48] = 0, 0, 7 // VNI 7
	binary.BigEndian.PutUint16(f[62:], 0x0800)
	f[64] = 0x45
	binary.BigEndian.PutUint16(f[66:], uint16(len(f)-64))
	f[72], f[73] = 64, 6
	copy(f[76:], []byte{198, 18, 1, 1, 198, 18, 1, 2})
	binary.BigEndian.PutUint16(f[84:], 1234)
	binary.BigEndian.PutUint16(f[86:], 443)
	f[96] = 5 << 4
	f[97] = 0x18 // PSH ACK
	return f
}

// fastFrame6 is fastFrame with an inner IPv6 packet (TCP, 20 bytes, and
// a payload), which parse_fast hands to parse_inner_ip6.
func fastFrame6() []byte {
	f := fastFrame()[:64]
	binary.BigEndian.PutUint16(f[62:], 0x86dd)
	ip := make([]byte, 40+20+40)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(ip)-40))
	ip[6], ip[7] = 6, 64
	ip[8], ip[9], ip[23] = 0x20, 0x01, 1 // 2001:db8-style addresses
	ip[24], ip[25], ip[39] = 0x20, 0x01, 2
	binary.BigEndian.PutUint16(ip[40:], 1234)
	binary.BigEndian.PutUint16(ip[42:], 443)
	ip[52] = 5 << 4
	ip[53] = 0x18
	f = append(f, ip...)
	binary.BigEndian.PutUint16(f[16:], uint16(len(f)-14))
	binary.BigEndian.PutUint16(f[38:], uint16(len(f)-34))
	return f
}

// TestParseFastMatchesReference: frames one detail away from parse_fast's
// layout (so taken by it, or left to the general parsers at every check it
// makes) get the reference parser's reason, verdict, shape flags and flow
// bytes. The torture test covers random frames; these are the edges.
func TestParseFastMatchesReference(t *testing.T) {
	testutil.RequirePrivileged(t)
	o, rcfg, reasons, flags, shape := refHarness(t, 0)
	put16 := func(f []byte, off int, v uint16) []byte { binary.BigEndian.PutUint16(f[off:], v); return f }
	cases := map[string]func([]byte) []byte{
		"fast":                   func(f []byte) []byte { return f },
		"outer DF":               func(f []byte) []byte { return put16(f, 20, 0x4000) },
		"outer MF":               func(f []byte) []byte { return put16(f, 20, 0x2000) },
		"outer offset":           func(f []byte) []byte { return put16(f, 20, 0x0001) },
		"outer IHL 6":            func(f []byte) []byte { f[14] = 0x46; return f },
		"outer IHL 4":            func(f []byte) []byte { f[14] = 0x44; return f },
		"outer version 6":        func(f []byte) []byte { f[14] = 0x65; return f },
		"outer length 0":         func(f []byte) []byte { return put16(f, 16, 0) },
		"outer length 19":        func(f []byte) []byte { return put16(f, 16, 19) },
		"outer length 20":        func(f []byte) []byte { return put16(f, 16, 20) },
		"outer TCP":              func(f []byte) []byte { f[23] = 6; return f },
		"outer VLAN type":        func(f []byte) []byte { return put16(f, 12, 0x8100) },
		"GENEVE port":            func(f []byte) []byte { return put16(f, 36, 6081) },
		"other port":             func(f []byte) []byte { return put16(f, 36, 4790) },
		"VXLAN no I":             func(f []byte) []byte { f[42] = 0; return f },
		"VXLAN extra flag":       func(f []byte) []byte { f[42] = 0x0c; return f },
		"VXLAN rsvd1":            func(f []byte) []byte { f[44] = 1; return f },
		"VXLAN rsvd2":            func(f []byte) []byte { f[49] = 1; return f },
		"VXLAN big VNI":          func(f []byte) []byte { f[46], f[47], f[48] = 0xff, 0xfe, 0xfd; return f },
		"inner VLAN":             func(f []byte) []byte { return put16(f, 62, 0x8100) },
		"inner IPv6 type":        func(f []byte) []byte { return put16(f, 62, 0x86dd) },
		"inner ARP":              func(f []byte) []byte { return put16(f, 62, 0x0806) },
		"inner IHL 6":            func(f []byte) []byte { f[64] = 0x46; return f },
		"inner IHL 4":            func(f []byte) []byte { f[64] = 0x44; return f },
		"inner DF":               func(f []byte) []byte { return put16(f, 70, 0x4000) },
		"inner MF":               func(f []byte) []byte { return put16(f, 70, 0x2000) },
		"inner offset":           func(f []byte) []byte { return put16(f, 70, 0x0003) },
		"inner length 0":         func(f []byte) []byte { return put16(f, 66, 0) },
		"inner length 19":        func(f []byte) []byte { return put16(f, 66, 19) },
		"inner length 20":        func(f []byte) []byte { return put16(f, 66, 20) },
		"inner length 30":        func(f []byte) []byte { return put16(f, 66, 30) },
		"inner truncated":        func(f []byte) []byte { return put16(f, 66, 1500) },
		"inner UDP":              func(f []byte) []byte { f[73] = 17; return f },
		"inner ICMP":             func(f []byte) []byte { f[73] = 1; return f },
		"inner FIN":              func(f []byte) []byte { f[97] = 0x11; return f },
		"inner UDP cut at 92":    func(f []byte) []byte { f[73] = 17; return f[:92] },
		"inner UDP cut at 91":    func(f []byte) []byte { f[73] = 17; return f[:91] },
		"inner ICMP cut at 84":   func(f []byte) []byte { f[73] = 1; return f[:84] },
		"inner TCP cut at 104":   func(f []byte) []byte { return f[:104] },
		"inner TCP cut at 103":   func(f []byte) []byte { return f[:103] },
		"inner TCP cut at 98":    func(f []byte) []byte { return f[:98] },
		"inner TCP cut at 97":    func(f []byte) []byte { return f[:97] },
		"inner TCP cut at 88":    func(f []byte) []byte { return f[:88] },
		"inner TCP cut at 86":    func(f []byte) []byte { return f[:86] },
		"whole, stated 84+20":    func(f []byte) []byte { f = f[:104]; return put16(put16(f, 66, 40), 16, 90) },
		"stated shorter than L4": func(f []byte) []byte { return put16(f, 66, 30) },
	}
	six := func(mod func([]byte) []byte) func([]byte) []byte {
		return func([]byte) []byte { return mod(fastFrame6()) }
	}
	cases["v6 fast"] = six(func(f []byte) []byte { return f })
	cases["v6 UDP"] = six(func(f []byte) []byte { f[70] = 17; return f })
	cases["v6 hop-by-hop"] = six(func(f []byte) []byte { f[70] = 0; return f })
	cases["v6 fragment header"] = six(func(f []byte) []byte { f[70] = 44; return f })
	cases["v6 version 4"] = six(func(f []byte) []byte { f[64] = 0x40; return f })
	cases["v6 length 0"] = six(func(f []byte) []byte { return put16(f, 68, 0) })
	cases["v6 truncated"] = six(func(f []byte) []byte { return put16(f, 68, 1400) })
	cases["v6 VXLAN rsvd2"] = six(func(f []byte) []byte { f[49] = 1; return f })
	cases["v6 outer DF"] = six(func(f []byte) []byte { return put16(f, 20, 0x4000) })
	for _, cut := range []int{63, 64, 65, 91, 92, 103, 104, 123, 124} {
		cases[fmt.Sprintf("v6 cut at %d", cut)] = six(func(f []byte) []byte { return f[:cut] })
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			f := mod(fastFrame())
			want := refparse.Parse(rcfg, f)
			var bk VxtapFlowKey
			var before uint64
			if want.Reason == "flow" {
				bk = keyToBPF(want.Key)
				if idx, ok := o.index.Lookup(&bk); ok {
					_, before = o.table.counts(idx)
				}
			}
			cb := counterVector(t, o)
			verdict, err := o.RunPacket(f, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			ca := counterVector(t, o)
			var diffs []string
			if (verdict == XDPDrop) != want.Drop {
				diffs = append(diffs, fmt.Sprintf("verdict %d, reference drop=%v", verdict, want.Drop))
			}
			for j, r := range reasons {
				exp := uint64(0)
				if r.Name == want.Reason {
					exp = 1
				}
				if d := ca[j] - cb[j]; d != exp {
					diffs = append(diffs, fmt.Sprintf("reason %s moved %d, reference says %s", r.Name, d, want.Reason))
				}
			}
			for j, fl := range flags {
				if d := ca[len(reasons)+j] - cb[len(reasons)+j]; shape[fl.Name] && ((d == 1) != want.Flags[fl.Name] || d > 1) {
					diffs = append(diffs, fmt.Sprintf("flag %s moved %d, reference %v", fl.Name, d, want.Flags[fl.Name]))
				}
			}
			if want.Reason == "flow" {
				if idx, ok := o.index.Lookup(&bk); !ok {
					diffs = append(diffs, fmt.Sprintf("no flow %s in the table", want.Key))
				} else if _, b := o.table.counts(idx); b-before != want.IPLen {
					diffs = append(diffs, fmt.Sprintf("flow %s gained %d bytes, reference %d", want.Key, b-before, want.IPLen))
				}
			}
			if len(diffs) > 0 {
				t.Errorf("%x:\n  %v", f, diffs)
			}
		})
	}
}
