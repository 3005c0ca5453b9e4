package topview

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Filter keeps the flows every one of its terms matches. The zero Filter
// keeps everything.
type Filter struct {
	text  string
	terms []term
}

type termKind uint8

const (
	termVNI    termKind = iota
	termAddr            // source or destination in the prefix
	termSrc             // source in the prefix
	termDst             // destination in the prefix
	termMirror          // mirror source in the prefix
	termPort            // source or destination port
	termSPort           // source port
	termDPort           // destination port
	termProto           // one of protos
)

type term struct {
	kind   termKind
	prefix netip.Prefix
	num    uint32
	protos []uint8
}

// protoNames are the protocol words a filter understands; icmp means
// both ICMP and ICMPv6, as people say "icmp" for ping6 too.
var protoNames = map[string][]uint8{
	"icmp": {1, 58}, "icmpv6": {58}, "icmp6": {58}, "igmp": {2}, "tcp": {6}, "udp": {17},
	"gre": {47}, "esp": {50}, "ah": {51}, "sctp": {132},
}

const filterHelp = "want vni N, port N (sport, dport), an address or CIDR (src, dst, mirror), tcp/udp/icmp or proto N"

// ParseFilter reads a filter expression: terms separated by spaces, all
// of which must match (AND). Terms: `vni 42`; `198.18.0.0/15` or
// `10.0.0.1` (source or destination), `src X`, `dst X`, `mirror X`;
// `port 443` (source or destination), `sport N`, `dport N`; `tcp`, `udp`,
// `icmp`, ..., `proto 47`.
func ParseFilter(expr string) (Filter, error) {
	f := Filter{text: strings.Join(strings.Fields(expr), " ")}
	words := strings.Fields(strings.ToLower(expr))
	for i := 0; i < len(words); i++ {
		w := words[i]
		arg := func() (string, error) {
			if i+1 >= len(words) {
				return "", fmt.Errorf("filter: %q needs a value after it", w)
			}
			i++
			return words[i], nil
		}
		var t term
		var err error
		switch w {
		case "vni":
			var v string
			if v, err = arg(); err == nil {
				t, err = numTerm(termVNI, w, v, 1<<24-1)
			}
		case "port", "sport", "dport":
			var v string
			if v, err = arg(); err == nil {
				t, err = numTerm(map[string]termKind{"port": termPort, "sport": termSPort, "dport": termDPort}[w], w, v, 65535)
			}
		case "src", "dst", "host", "net", "mirror":
			var v string
			if v, err = arg(); err == nil {
				t, err = addrTerm(map[string]termKind{"src": termSrc, "dst": termDst, "host": termAddr, "net": termAddr, "mirror": termMirror}[w], v)
				if err != nil {
					err = fmt.Errorf("filter: %s %q: not an address or CIDR", w, v)
				}
			}
		case "proto":
			var v string
			if v, err = arg(); err == nil {
				t, err = protoTerm(v)
			}
		default:
			if p, ok := protoNames[w]; ok {
				t = term{kind: termProto, protos: p}
			} else if t, err = addrTerm(termAddr, w); err != nil {
				if _, nerr := strconv.ParseUint(w, 10, 32); nerr == nil {
					err = fmt.Errorf("filter: bare number %q: say port %s, vni %s or proto %s", w, w, w, w)
				} else {
					err = fmt.Errorf("filter: unknown term %q: %s", w, filterHelp)
				}
			}
		}
		if err != nil {
			return Filter{}, err
		}
		f.terms = append(f.terms, t)
	}
	return f, nil
}

func numTerm(kind termKind, word, v string, max uint64) (term, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n > max {
		return term{}, fmt.Errorf("filter: %s %q: want a number from 0 to %d", word, v, max)
	}
	return term{kind: kind, num: uint32(n)}, nil
}

func addrTerm(kind termKind, v string) (term, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return term{}, err
		}
		return term{kind: kind, prefix: p.Masked()}, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return term{}, err
	}
	a = a.Unmap()
	return term{kind: kind, prefix: netip.PrefixFrom(a, a.BitLen())}, nil
}

func protoTerm(v string) (term, error) {
	if p, ok := protoNames[v]; ok {
		return term{kind: termProto, protos: p}, nil
	}
	n, err := strconv.ParseUint(v, 10, 8)
	if err != nil {
		return term{}, fmt.Errorf("filter: proto %q: want a protocol name (tcp, udp, icmp, ...) or a number from 0 to 255", v)
	}
	return term{kind: termProto, protos: []uint8{uint8(n)}}, nil
}

// String is the expression as given, spaces normalised.
func (f Filter) String() string { return f.text }

// Empty says whether the filter keeps everything.
func (f Filter) Empty() bool { return len(f.terms) == 0 }

func contains(p netip.Prefix, a netip.Addr) bool { return p.Contains(a.Unmap()) }

// Match says whether a flow passes every term.
func (f Filter) Match(k *flow.Key, mirror netip.Addr) bool {
	for i := range f.terms {
		t := &f.terms[i]
		var ok bool
		switch t.kind {
		case termVNI:
			ok = k.VNI == t.num
		case termAddr:
			ok = contains(t.prefix, k.Src) || contains(t.prefix, k.Dst)
		case termSrc:
			ok = contains(t.prefix, k.Src)
		case termDst:
			ok = contains(t.prefix, k.Dst)
		case termMirror:
			ok = contains(t.prefix, mirror)
		case termPort:
			ok = hasPorts(k.Proto) && (uint32(k.SPort) == t.num || uint32(k.DPort) == t.num)
		case termSPort:
			ok = hasPorts(k.Proto) && uint32(k.SPort) == t.num
		case termDPort:
			ok = hasPorts(k.Proto) && uint32(k.DPort) == t.num
		case termProto:
			for _, p := range t.protos {
				ok = ok || k.Proto == p
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// hasPorts says whether the data path keeps ports for the protocol.
func hasPorts(proto uint8) bool { return proto == 6 || proto == 17 }

// Term is one term of a filter as a store that evaluates filters itself
// (ClickHouse, for `vxtap top --clickhouse` and `vxtap report`) reads it.
type Term struct {
	Field  string       // vni, addr (source or destination), src, dst, mirror, port (either), sport, dport, proto
	Prefix netip.Prefix // the address terms' prefix (IPv4 unmapped)
	Num    uint32       // vni and port terms
	Protos []uint8      // proto terms: any of these
}

var termFields = map[termKind]string{termVNI: "vni", termAddr: "addr", termSrc: "src", termDst: "dst", termMirror: "mirror",
	termPort: "port", termSPort: "sport", termDPort: "dport", termProto: "proto"}

// Terms lists the filter's terms (all must match). Port terms match only
// TCP and UDP flows, as Match does.
func (f Filter) Terms() []Term {
	out := make([]Term, len(f.terms))
	for i, t := range f.terms {
		out[i] = Term{Field: termFields[t.kind], Prefix: t.prefix, Num: t.num, Protos: t.protos}
	}
	return out
}
