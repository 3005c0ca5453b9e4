package filter

import (
	"net/netip"
)

// Trace is a decision computed from the compiled tables the way the kernel
// computes it, with every lookup on the way, for `vxtap filter explain`.
type Trace struct {
	Decision
	Ruleset       *Ruleset
	Src, Dst      PrefixEntry // longest CIDR entries found
	Proto         uint32      // bitset of the protocol
	SrcPort       uint32      // bitset of the source port
	DstPort       uint32      // bitset of the destination port
	Common        Bitset      // the AND of the five
	TablesChecked bool        // the per-field tables were consulted
}

// Session returns the compiled session of a VNI, or the default one.
func (c *Compiled) Session(vni uint32) *CompiledSession {
	for i := range c.Sessions {
		if !c.Sessions[i].Default && c.Sessions[i].VNI == vni {
			return &c.Sessions[i]
		}
	}
	return &c.Sessions[len(c.Sessions)-1]
}

// Classify decides a packet from the compiled tables: session, direction,
// the longest source and destination entries, protocol and port bitsets,
// their AND and its lowest rule.
func (c *Compiled) Classify(p Packet) Trace {
	cs := c.Session(p.VNI)
	s := cs.Session
	t := Trace{Decision: Decision{Session: s, Default: cs.Default, SampleRate: s.SampleRate, RuleIndex: -1}}
	switch s.Mode {
	case ModeAnalyze:
		t.Accept, t.By = true, BySession
		return t
	case ModeReject, ModeUnknownVNI:
		t.By = BySession
		return t
	}
	t.Filter = s.Filter
	dir, known := s.direction(p)
	if !known {
		t.DirUnknown = true
		switch s.Unknown {
		case UnknownAnalyze:
			t.Accept, t.By = true, ByUnknownDirection
			return t
		case UnknownReject:
			t.By = ByUnknownDirection
			return t
		case UnknownIngress:
			dir = Ingress
		case UnknownEgress:
			dir = Egress
		}
	}
	t.Direction = dir
	rs := c.Rulesets[cs.Ruleset[dir]]
	t.Ruleset = rs
	t.Src, t.Dst = rs.Longest(FieldSrc, p.Src), rs.Longest(FieldDst, p.Dst)
	if p.Src.Is4() {
		// The kernel walks the IPv4 table, not a trie: so does this.
		t.Src.Bitset, t.Src.Resolver = c.Cidr4(rs.Root4[FieldSrc], p.Src)
		t.Dst.Bitset, t.Dst.Resolver = c.Cidr4(rs.Root4[FieldDst], p.Dst)
	}
	if t.Src.Resolver || t.Dst.Resolver {
		t.Accept, t.By = cs.AmazonDNS, ByNetworkService
		return t
	}
	t.TablesChecked = true
	t.Proto = rs.Proto[p.Proto]
	t.SrcPort, t.DstPort = c.PortBitset(rs, FieldSrc, p.SrcPort), c.PortBitset(rs, FieldDst, p.DstPort)
	t.Common = And(&c.Bitsets[t.Src.Bitset], &c.Bitsets[t.Dst.Bitset], &c.Bitsets[t.Proto],
		&c.Bitsets[t.SrcPort], &c.Bitsets[t.DstPort])
	i := t.Common.Lowest()
	if i < 0 {
		t.By = ByNoMatch
		return t
	}
	r := &rs.Rules[i]
	t.By, t.Rule, t.RuleIndex = ByRule, r, i
	t.Accept = r.Action == Accept
	if r.SampleRate != 0 {
		t.SampleRate = r.SampleRate
	}
	t.Capture = t.Accept && r.Capture
	return t
}

// PortBitset looks a port up in one of a ruleset's port tables.
func (c *Compiled) PortBitset(rs *Ruleset, field int, port uint16) uint32 {
	top := rs.Ports[field][port>>8]
	if top.Uniform {
		return top.Index
	}
	return c.Blocks[top.Index][port&0xff]
}

// Cidr4 walks an IPv4 CIDR table as the kernel does: one node per
// address byte until an entry holds a bitset.
func (c *Compiled) Cidr4(root uint32, a netip.Addr) (bitset uint32, resolver bool) {
	b, node := a.As4(), root
	for lvl := 0; lvl < 4; lvl++ {
		e := c.Nodes4[node][b[lvl]]
		if e&V4Terminal != 0 {
			return e >> V4Shift, e&V4Resolver != 0
		}
		node = e >> V4Shift
	}
	return 0, false // not reached: the fourth level holds bitsets only
}

// Longest is the longest CIDR entry containing a, as the IPv6 LPM trie
// finds it: one map probe per prefix length, longest first.
func (rs *Ruleset) Longest(field int, a netip.Addr) PrefixEntry {
	fam := 0
	if a.Is6() {
		fam = 1
	}
	for bits := a.BitLen(); bits >= 0; bits-- {
		p, _ := a.Prefix(bits)
		if i, ok := rs.byPrefix[field][fam][p]; ok {
			return rs.Prefixes[field][fam][i]
		}
	}
	return PrefixEntry{} // not reached: every table holds /0
}
