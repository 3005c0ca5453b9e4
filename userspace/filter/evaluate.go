package filter

import (
	"net/netip"
)

// Packet is what the classifier sees of one mirror copy.
type Packet struct {
	VNI              uint32
	OuterSrc         netip.Addr // the copy's outer source: the source ENI's primary address
	Src, Dst         netip.Addr // inner addresses
	Proto            uint8      // inner IANA protocol (IPv6: after extension headers)
	SrcPort, DstPort uint16     // 0 for protocols without ports, and in later fragments
}

// DecidedBy says what decided a packet's fate.
type DecidedBy uint8

const (
	ByRule             DecidedBy = iota // a rule matched
	ByNoMatch                           // no rule matched: rejected
	ByNetworkService                    // Amazon DNS traffic: accepted only with amazon-dns
	BySession                           // the session analyzes or rejects everything
	ByUnknownDirection                  // direction unknown: the session's policy
)

func (b DecidedBy) String() string {
	return [...]string{"rule", "no-match", "network-service", "session", "unknown-direction"}[b]
}

// Decision is the outcome of classifying one packet.
type Decision struct {
	Accept     bool
	By         DecidedBy
	Session    *Session // the VNI's session, or the Config's Default
	Default    bool     // the VNI has no session
	Filter     string
	Direction  Direction
	DirUnknown bool   // neither inner address is the source ENI's
	Rule       *Rule  // when By is ByRule
	RuleIndex  int    // the rule's position in RuleNumber order
	SampleRate uint32 // 1-in-N samples of this packet's kind, 0 = the daemon's
	Capture    bool   // the packet goes to the sample stream
}

// Evaluate is the reference evaluator of AWS semantics: the plain reading
// of the rules, one after the other, that the compiled tables must agree
// with. It shares no code with the compiler.
func (c *Config) Evaluate(p Packet) Decision {
	s, def := c.Session(p.VNI), false
	if s == nil {
		s, def = &c.Default, true
	}
	d := Decision{Session: s, Default: def, SampleRate: s.SampleRate, RuleIndex: -1}
	switch s.Mode {
	case ModeAnalyze:
		d.Accept, d.By = true, BySession
		return d
	case ModeReject, ModeUnknownVNI:
		d.By = BySession
		return d
	}
	d.Filter = s.Filter
	dir, known := s.direction(p)
	if !known {
		d.DirUnknown = true
		switch s.Unknown {
		case UnknownAnalyze:
			d.Accept, d.By = true, ByUnknownDirection
			return d
		case UnknownReject:
			d.By = ByUnknownDirection
			return d
		case UnknownIngress:
			dir = Ingress
		case UnknownEgress:
			dir = Egress
		}
	}
	d.Direction = dir
	f := c.Filters[s.Filter]
	if c.IsResolver(p.Src) || c.IsResolver(p.Dst) {
		d.Accept, d.By = f.AmazonDNS, ByNetworkService
		return d
	}
	for i := range f.Rules[dir] {
		r := &f.Rules[dir][i]
		if !r.Matches(p) {
			continue
		}
		d.By, d.Rule, d.RuleIndex = ByRule, r, i
		d.Accept = r.Action == Accept
		if r.SampleRate != 0 {
			d.SampleRate = r.SampleRate
		}
		d.Capture = d.Accept && r.Capture
		return d
	}
	d.By = ByNoMatch
	return d
}

// Matches reports whether the rule matches the packet, ignoring order.
func (r *Rule) Matches(p Packet) bool {
	if r.Protocol != AnyProtocol && r.Protocol != int(p.Proto) {
		return false
	}
	// A CIDR never contains an address of the other family.
	if r.Src.IsValid() && !r.Src.Contains(p.Src) {
		return false
	}
	if r.Dst.IsValid() && !r.Dst.Contains(p.Dst) {
		return false
	}
	return r.SrcPorts.Contains(p.SrcPort) && r.DstPorts.Contains(p.DstPort)
}

// direction: ingress when the inner destination is the source ENI's,
// egress when the inner source is. The ENI's addresses are the session's
// list or, without one, the outer source of the copy.
func (s *Session) direction(p Packet) (Direction, bool) {
	if len(s.Addrs) > 0 {
		for _, want := range []struct {
			addr netip.Addr
			dir  Direction
		}{{p.Dst, Ingress}, {p.Src, Egress}} {
			for _, a := range s.Addrs {
				if a == want.addr {
					return want.dir, true
				}
			}
		}
		return Ingress, false
	}
	switch {
	case p.OuterSrc.IsValid() && p.Dst == p.OuterSrc:
		return Ingress, true
	case p.OuterSrc.IsValid() && p.Src == p.OuterSrc:
		return Egress, true
	}
	return Ingress, false
}

// IsResolver reports whether a is an Amazon DNS resolver address.
func (c *Config) IsResolver(a netip.Addr) bool {
	for _, r := range c.Resolvers {
		if r == a {
			return true
		}
	}
	return false
}
