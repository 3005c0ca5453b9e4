package topview

import "net/netip"

// TermKind names what one filter term tests, for code that compiles a
// filter elsewhere (the live capture's BPF map).
type TermKind uint8

// The kinds of term a filter holds.
const (
	TermVNI    = TermKind(termVNI)
	TermAddr   = TermKind(termAddr)
	TermSrc    = TermKind(termSrc)
	TermDst    = TermKind(termDst)
	TermMirror = TermKind(termMirror)
	TermPort   = TermKind(termPort)
	TermSPort  = TermKind(termSPort)
	TermDPort  = TermKind(termDPort)
	TermProto  = TermKind(termProto)
)

// Term is one term of a filter, as Match reads it.
type Term struct {
	Kind   TermKind
	Prefix netip.Prefix // address terms (masked)
	Num    uint32       // VNI or port
	Protos []uint8      // protocol terms: any of these
}

// Terms lists the filter's terms (all must match).
func (f Filter) Terms() []Term {
	out := make([]Term, len(f.terms))
	for i, t := range f.terms {
		out[i] = Term{Kind: TermKind(t.kind), Prefix: t.prefix, Num: t.num, Protos: append([]uint8(nil), t.protos...)}
	}
	return out
}
