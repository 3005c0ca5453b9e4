// Package filtertest makes random filter configurations and packets for
// differential tests: the reference evaluator against the compiled tables
// (in Go) and against the kernel.
package filtertest

import (
	"math/rand/v2"
	"net/netip"

	"github.com/vxtap/vxtap/userspace/filter"
)

// Options shape a random configuration.
type Options struct {
	Rules    int  // rules per direction of the main filter
	V6Share  int  // percent of CIDRs that are IPv6
	Sessions int  // VNIs with a session
	AWSLike  bool // every CIDR present, as the AWS CLI prints them
	Narrow   bool // no /0 and few wildcards: decisions fall deep in the list
}

// Universe: small address spaces, so random CIDRs overlap and nest.
var (
	base4 = netip.MustParseAddr("10.0.0.0")
	base6 = netip.MustParseAddr("2001:db8::")
	// The sessions' source ENIs (outer sources) and the resolvers used.
	ENI4      = netip.MustParseAddr("10.0.200.10")
	ENI6      = netip.MustParseAddr("2001:db8:0:c8::10")
	Resolvers = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("169.254.169.253"), netip.MustParseAddr("fd00:ec2::253")}
)

// boundaryPorts are where random port ranges start and end, so that they
// overlap and packets land on and around their edges.
var boundaryPorts = []uint16{0, 1, 21, 22, 23, 53, 80, 443, 1023, 1024, 3000, 8080, 49151, 65534, 65535}

// protocols of random rules and packets (no IPv6 extension header numbers).
var protocols = []int{1, 6, 6, 6, 17, 17, 58, 47, 132}

// Address returns a random address of a family in the universe: the
// first bytes mostly 0..3, so addresses cluster.
func Address(rng *rand.Rand, v6 bool) netip.Addr {
	if v6 {
		b := base6.As16()
		b[5] = byte(rng.IntN(4))
		b[6] = byte(rng.IntN(4))
		b[7] = byte(rng.IntN(256))
		b[14] = byte(rng.IntN(4))
		b[15] = byte(rng.IntN(256))
		return netip.AddrFrom16(b)
	}
	b := base4.As4()
	b[1] = byte(rng.IntN(4))
	b[2] = byte(rng.IntN(256))
	b[3] = byte(rng.IntN(256))
	return netip.AddrFrom4(b)
}

// cidr is a random CIDR of a family, lengths weighted towards the middle.
func cidr(rng *rand.Rand, v6, narrow bool) netip.Prefix {
	lens := []int{0, 8, 14, 16, 18, 22, 24, 24, 26, 30, 32}
	if v6 {
		lens = []int{0, 32, 40, 46, 48, 56, 64, 64, 120, 126, 128}
	}
	if narrow {
		lens = lens[4:]
	}
	p, _ := Address(rng, v6).Prefix(lens[rng.IntN(len(lens))])
	return p
}

// portRange is a random range between boundary ports, or a single one.
func portRange(rng *rand.Rand) filter.PortRange {
	a := boundaryPorts[rng.IntN(len(boundaryPorts))]
	if rng.IntN(3) == 0 {
		return filter.PortRange{From: a, To: a, Set: true}
	}
	b := boundaryPorts[rng.IntN(len(boundaryPorts))]
	if a > b {
		a, b = b, a
	}
	return filter.PortRange{From: a, To: b, Set: true}
}

// Rules returns n random valid rules numbered in ascending order.
func Rules(rng *rand.Rand, n int, o Options) []filter.Rule {
	rules := make([]filter.Rule, n)
	num := 0
	for i := range rules {
		num += 1 + rng.IntN(3) // at most 3 * MaxRules: within 1..MaxRuleNumber
		r := filter.Rule{Number: num, Action: filter.Action(rng.IntN(2)), Protocol: filter.AnyProtocol}
		if rng.IntN(10) < 6 || o.Narrow {
			r.Protocol = protocols[rng.IntN(len(protocols))]
		}
		v6 := rng.IntN(100) < o.V6Share
		if o.AWSLike || o.Narrow || rng.IntN(4) != 0 {
			r.Src = cidr(rng, v6, o.Narrow)
		}
		if o.AWSLike || rng.IntN(4) != 0 {
			r.Dst = cidr(rng, v6, o.Narrow)
		}
		if r.Protocol == 6 || r.Protocol == 17 {
			if rng.IntN(2) == 0 {
				r.SrcPorts = portRange(rng)
			}
			if rng.IntN(2) == 0 {
				r.DstPorts = portRange(rng)
			}
		}
		if r.Action == filter.Accept && rng.IntN(10) == 0 {
			r.SampleRate = uint32(1 + rng.IntN(100))
		}
		if r.Action == filter.Accept && rng.IntN(20) == 0 {
			r.Capture = true
		}
		rules[i] = r
	}
	return rules
}

// Config returns a random configuration: a main filter with o.Rules rules
// per direction, a small second filter, sessions on VNIs 1..o.Sessions
// (some with ENI addresses, some relying on the outer source) and a
// default session of a random kind.
func Config(rng *rand.Rand, o Options) *filter.Config {
	main := &filter.Filter{ID: "main", AmazonDNS: rng.IntN(2) == 0}
	other := &filter.Filter{ID: "other", AmazonDNS: rng.IntN(2) == 0}
	for dir := range main.Rules {
		main.Rules[dir] = Rules(rng, o.Rules, o)
		other.Rules[dir] = Rules(rng, 1+rng.IntN(8), o)
	}
	c := &filter.Config{Filters: map[string]*filter.Filter{"main": main, "other": other},
		Resolvers: append([]netip.Addr(nil), Resolvers...)}
	for v := 1; v <= o.Sessions; v++ {
		s := &filter.Session{VNI: uint32(v), Name: "s", Filter: "main", Unknown: filter.Unknown(rng.IntN(4))}
		if v%3 == 2 {
			s.Filter = "other"
		}
		if v%2 == 0 {
			s.Addrs = []netip.Addr{ENI4, ENI6}
		}
		if rng.IntN(5) == 0 {
			s.SampleRate = uint32(1 + rng.IntN(50))
		}
		c.Sessions = append(c.Sessions, s)
	}
	c.Default = filter.Session{Name: "default", Mode: filter.Mode(rng.IntN(3)), Filter: "other"}
	if c.Default.Mode != filter.ModeFilter {
		c.Default.Filter = ""
	}
	return c
}

// Packet returns a random packet for a configuration: addresses from the
// rules' CIDRs, the universe, the ENI and the resolvers; VNIs with and
// without a session; ports on and around range boundaries.
func Packet(rng *rand.Rand, c *filter.Config) filter.Packet {
	v6 := rng.IntN(2) == 0
	p := filter.Packet{VNI: uint32(rng.IntN(len(c.Sessions) + 2)), OuterSrc: ENI4}
	if rng.IntN(4) == 0 {
		p.OuterSrc = ENI6
	}
	var rules []filter.Rule
	if f := c.Filters["main"]; f != nil {
		rules = f.Rules[rng.IntN(2)]
	}
	pick := func() netip.Addr {
		switch k := rng.IntN(20); {
		case k < 10 && len(rules) > 0:
			r := rules[rng.IntN(len(rules))]
			pr := r.Src
			if rng.IntN(2) == 0 {
				pr = r.Dst
			}
			if pr.IsValid() && pr.Addr().Is6() == v6 {
				return inside(rng, pr)
			}
		case k < 11:
			for _, a := range c.Resolvers {
				if a.Is6() == v6 && rng.IntN(2) == 0 {
					return a
				}
			}
		}
		return Address(rng, v6)
	}
	p.Src, p.Dst = pick(), pick()
	eni := ENI4
	if v6 {
		eni = ENI6
	}
	switch rng.IntN(5) {
	case 0, 1:
		p.Dst = eni
	case 2, 3:
		p.Src = eni
	}
	p.Proto = uint8(protocols[rng.IntN(len(protocols))])
	if p.Proto == 6 || p.Proto == 17 {
		p.SrcPort, p.DstPort = port(rng), port(rng)
	}
	return p
}

// inside is a random address inside a prefix.
func inside(rng *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if rng.IntN(2) == 0 {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// port is a random port on or next to a boundary, or anywhere.
func port(rng *rand.Rand) uint16 {
	if rng.IntN(4) == 0 {
		return uint16(rng.IntN(65536))
	}
	p := int(boundaryPorts[rng.IntN(len(boundaryPorts))]) + rng.IntN(3) - 1
	if p < 0 || p > 65535 {
		p = 80
	}
	return uint16(p)
}
