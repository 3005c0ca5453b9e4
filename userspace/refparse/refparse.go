// Package refparse is a plain Go reading of the headers vxtap's XDP
// program parses (bpf/xdp_vxtap.c and bpf/include/parse.h): outer
// Ethernet/VLAN/IP/UDP, GENEVE, VXLAN, the inner Ethernet/VLAN/IP and its
// TCP/UDP ports. It shares no code with the data path and is written from
// its documented rules, so the differential torture test can hold the two
// against each other packet by packet: verdict, terminal reason, flags and
// flow key. Filtering and source trust are outside it (the torture runs
// without them).
package refparse

import (
	"encoding/binary"
	"net/netip"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Config is what the program was loaded with.
type Config struct {
	VXLANPort, GenevePort uint16 // GenevePort 0 = off
	PassMirror            bool
}

// Result is what the data path must do with one frame.
type Result struct {
	Drop   bool            // XDP_DROP (a mirror copy), else XDP_PASS
	Reason string          // the terminal reason (enum vxtap_reason name, lower case)
	Flags  map[string]bool // shape-class flags (enum vxtap_flag names)
	Key    flow.Key        // the inner flow, when Reason is "flow"
	IPLen  uint64          // bytes the flow gains: the inner IP length as stated
}

// Limits of the data path (bpf/include/consts.h).
const (
	maxVLANTags = 2
	maxIPv6Ext  = 6
	maxOuterLen = 1024
	minFrame    = 14
)

// EtherTypes and protocol numbers.
const (
	ethIPv4, ethIPv6, ethVLAN, ethQinQ, ethTEB  = 0x0800, 0x86dd, 0x8100, 0x88a8, 0x6558
	ipTCP, ipUDP                                = 6, 17
	ipHop, ipRouting, ipFrag, ipDst, ipAH, ipMH = 0, 43, 44, 60, 51, 135
)

// errKind is why a header did not parse.
type errKind int

const (
	ok errKind = iota
	short
	shortVLAN
	bad
	chainLong
	shortExt
)

// l3 is what the program keeps of an IP header.
type l3 struct {
	src, dst netip.Addr
	length   uint32 // stated length, header included; 0 = not stated
	proto    uint8
	frag     int // 0 none, 1 first, 2 later
}

// eth reads Ethernet and up to two VLAN tags at off; returns the
// EtherType, the tag count and the offset after them.
func eth(b []byte, off int) (uint16, int, int, errKind) {
	if off+14 > len(b) {
		return 0, 0, off, short
	}
	typ := binary.BigEndian.Uint16(b[off+12:])
	off += 14
	tags := 0
	for tags < maxVLANTags && (typ == ethVLAN || typ == ethQinQ) {
		if off+4 > len(b) {
			return 0, tags, off, shortVLAN
		}
		typ = binary.BigEndian.Uint16(b[off+2:])
		off += 4
		tags++
	}
	if typ == ethVLAN || typ == ethQinQ {
		return 0, tags, off, shortVLAN
	}
	return typ, tags, off, ok
}

func isExt(nh uint8) bool {
	return nh == ipHop || nh == ipRouting || nh == ipFrag || nh == ipDst || nh == ipAH || nh == ipMH
}

// ip reads an IPv4 or IPv6 header (IPv6 with its extension chain).
func ip(b []byte, off int, ethertype uint16) (l3, int, errKind) {
	var r l3
	switch ethertype {
	case ethIPv4:
		if off+20 > len(b) {
			return r, off, short
		}
		if b[off]>>4 != 4 || b[off]&0xf < 5 {
			return r, off, bad
		}
		hlen := int(b[off]&0xf) * 4
		if off+hlen > len(b) {
			return r, off, short
		}
		r.length = uint32(binary.BigEndian.Uint16(b[off+2:]))
		if r.length != 0 && r.length < uint32(hlen) {
			return r, off, bad
		}
		fo := binary.BigEndian.Uint16(b[off+6:])
		switch {
		case fo&0x1fff != 0:
			r.frag = 2
		case fo&0x2000 != 0:
			r.frag = 1
		}
		r.proto = b[off+9]
		r.src = netip.AddrFrom4([4]byte(b[off+12 : off+16]))
		r.dst = netip.AddrFrom4([4]byte(b[off+16 : off+20]))
		return r, off + hlen, ok
	case ethIPv6:
		if off+40 > len(b) {
			return r, off, short
		}
		if b[off]>>4 != 6 {
			return r, off, bad
		}
		if pl := uint32(binary.BigEndian.Uint16(b[off+4:])); pl != 0 {
			r.length = pl + 40
		}
		r.src = netip.AddrFrom16([16]byte(b[off+8 : off+24]))
		r.dst = netip.AddrFrom16([16]byte(b[off+24 : off+40]))
		nh := b[off+6]
		off += 40
		for i := 0; i < maxIPv6Ext && isExt(nh); i++ {
			if off+8 > len(b) {
				return r, off, shortExt
			}
			var elen int
			switch nh {
			case ipFrag:
				fo := binary.BigEndian.Uint16(b[off+2:])
				switch {
				case fo&0xfff8 != 0:
					r.frag = 2
				case fo&1 != 0:
					r.frag = 1
				default:
					r.frag = 0
				}
				elen = 8
			case ipAH:
				elen = (int(b[off+1]) + 2) * 4
			default:
				elen = (int(b[off+1]) + 1) * 8
			}
			if off+elen > len(b) {
				return r, off, shortExt
			}
			nh = b[off]
			off += elen
		}
		if isExt(nh) {
			return r, off, chainLong
		}
		r.proto = nh
		return r, off, ok
	}
	return r, off, bad
}

// Parse is the reference reading of one frame.
func Parse(cfg Config, b []byte) Result {
	res := Result{Flags: map[string]bool{}}
	mirror := false
	res.Reason = parse(cfg, b, &res, &mirror)
	res.Drop = mirror && !cfg.PassMirror
	if res.Reason != "flow" {
		res.Key, res.IPLen = flow.Key{}, 0
	}
	return res
}

func parse(cfg Config, b []byte, res *Result, mirror *bool) string {
	if len(b) < minFrame {
		return "short_outer_eth"
	}
	typ, tags, off, e := eth(b, 0)
	switch e {
	case short:
		return "short_outer_eth"
	case shortVLAN:
		return "short_outer_vlan"
	}
	if typ != ethIPv4 && typ != ethIPv6 {
		return "not_mirror"
	}
	outer, off, e := ip(b, off, typ)
	switch e {
	case chainLong:
		return "ipv6_chain_too_long"
	case shortExt:
		return "short_ipv6_ext"
	case short, bad:
		return "short_outer_ip"
	}
	if outer.proto != ipUDP {
		return "not_mirror"
	}
	if outer.frag != 0 {
		return "outer_fragment"
	}
	if off+8 > len(b) {
		return "short_outer_udp"
	}
	dport := binary.BigEndian.Uint16(b[off+2:])
	off += 8
	geneve := cfg.GenevePort != 0 && dport == cfg.GenevePort && dport != cfg.VXLANPort
	if dport != cfg.VXLANPort && !geneve {
		return "not_mirror"
	}
	*mirror = true
	if tags > 0 {
		res.Flags["outer_vlan"] = true
	}
	if geneve {
		var reason string
		if off, reason = unwrapGeneve(cfg, b, off, res, mirror); reason != "" {
			return reason
		}
	}
	return parseInner(b, off, res)
}

// unwrapGeneve steps over GENEVE to the VXLAN header of the packet the
// mirror source sent; a non-empty reason ends the frame.
func unwrapGeneve(cfg Config, b []byte, off int, res *Result, mirror *bool) (int, string) {
	if off > maxOuterLen || off+8 > len(b) || b[off]>>6 != 0 {
		return off, "bad_geneve"
	}
	optlen := int(b[off]&0x3f) * 4
	if off+8+optlen > len(b) {
		return off, "bad_geneve"
	}
	proto := binary.BigEndian.Uint16(b[off+2:])
	off += 8 + optlen
	if proto == ethTEB {
		var e errKind
		if proto, _, off, e = eth(b, off); e != ok {
			return off, "bad_geneve"
		}
	}
	if proto != ethIPv4 && proto != ethIPv6 {
		*mirror = false
		return off, "geneve_not_vxlan"
	}
	in, off, e := ip(b, off, proto)
	if e != ok {
		return off, "bad_geneve"
	}
	if in.proto != ipUDP || in.frag != 0 {
		*mirror = false
		return off, "geneve_not_vxlan"
	}
	if off+8 > len(b) {
		return off, "bad_geneve"
	}
	if binary.BigEndian.Uint16(b[off+2:]) != cfg.VXLANPort {
		*mirror = false
		return off, "geneve_not_vxlan"
	}
	res.Flags["geneve"] = true
	return off + 8, ""
}

// parseInner reads VXLAN and the inner frame at off.
func parseInner(b []byte, off int, res *Result) string {
	if off > maxOuterLen || off+8 > len(b) {
		return "short_vxlan"
	}
	vx := b[off : off+8]
	if vx[0]&0x08 == 0 {
		return "bad_vxlan_flags"
	}
	vni := uint32(vx[4])<<16 | uint32(vx[5])<<8 | uint32(vx[6])
	if vx[0]&^0x08 != 0 || vx[1] != 0 || vx[2] != 0 || vx[3] != 0 || vx[7] != 0 {
		res.Flags["vxlan_nonstd"] = true
	}
	off += 8
	typ, tags, off, e := eth(b, off)
	switch e {
	case short:
		return "short_inner_eth"
	case shortVLAN:
		return "short_inner_vlan"
	}
	if tags > 0 {
		res.Flags["inner_vlan"] = true
	}
	if typ != ethIPv4 && typ != ethIPv6 {
		return "non_ip"
	}
	ipOff := off
	in, off, e := ip(b, off, typ)
	switch e {
	case short:
		return "short_inner_ip"
	case chainLong:
		return "ipv6_chain_too_long"
	case shortExt:
		return "short_ipv6_ext"
	case bad:
		return "bad_inner_ip"
	}
	captured := uint32(len(b) - ipOff)
	if in.length == 0 {
		in.length = captured // TSO super-packet or jumbogram: no stated length
	}
	if in.frag != 0 {
		res.Flags["inner_fragment"] = true
	}
	truncated := captured < in.length
	if truncated {
		res.Flags["truncated"] = true
	}
	var sport, dport uint16
	if in.frag != 2 && (in.proto == ipTCP || in.proto == ipUDP) {
		need := 8
		if in.proto == ipTCP {
			need = 20
		}
		if off+need > len(b) {
			// Cut inside the L4 header: a whole copy is malformed, a
			// truncated one still counts with what the cut left.
			if !truncated {
				return "short_inner_l4"
			}
			res.Flags["l4_truncated"] = true
		}
		if off+4 <= len(b) {
			sport, dport = binary.BigEndian.Uint16(b[off:]), binary.BigEndian.Uint16(b[off+2:])
		}
	}
	res.Key = flow.Key{VNI: vni, Src: in.src, Dst: in.dst, Proto: in.proto, SPort: sport, DPort: dport}
	res.IPLen = uint64(in.length)
	return "flow"
}
