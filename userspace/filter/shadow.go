package filter

import (
	"fmt"
	"net/netip"
)

// shadowed warns about rules that can never decide anything because one
// earlier rule matches everything they match. (A later rule covered only
// by several earlier rules together is not reported.)
func shadowed(f *Filter, dir Direction) []*Error {
	var out []*Error
	rules := f.Rules[dir]
	for j := 1; j < len(rules); j++ {
		for i := 0; i < j; i++ {
			if !covers(&rules[i], &rules[j]) {
				continue
			}
			msg := fmt.Sprintf("can never match: rule %d (%s) before it matches everything it does", rules[i].Number, rules[i].Action)
			if rules[i].Action == rules[j].Action {
				msg += "; it is redundant"
			} else {
				msg += fmt.Sprintf("; it will never %s", rules[j].Action)
			}
			out = append(out, &Error{Pos: rules[j].Pos, Context: ruleContext(f.ID, dir, rules[j].Number), Msg: msg})
			break
		}
	}
	return out
}

// family of the packets a rule can match: 4, 6, or 0 for both.
func (r *Rule) family() int {
	for _, p := range []netip.Prefix{r.Src, r.Dst} {
		if p.IsValid() {
			if p.Addr().Is4() {
				return 4
			}
			return 6
		}
	}
	return 0
}

func prefixFamily(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

// covers reports whether every packet b matches, a matches too.
func covers(a, b *Rule) bool {
	if a.Protocol != AnyProtocol && a.Protocol != b.Protocol {
		return false
	}
	fb := b.family()
	if !cidrCovers(a.Src, b.Src, fb) || !cidrCovers(a.Dst, b.Dst, fb) {
		return false
	}
	return portsCover(a.SrcPorts, b.SrcPorts) && portsCover(a.DstPorts, b.DstPorts)
}

// cidrCovers: a's CIDR holds every address b's can match, b matching
// packets of family fb (0 = both).
func cidrCovers(a, b netip.Prefix, fb int) bool {
	switch {
	case !a.IsValid():
		return true
	case !b.IsValid():
		return fb == prefixFamily(a) && a.Bits() == 0
	}
	return prefixFamily(a) == prefixFamily(b) && a.Bits() <= b.Bits() && a.Contains(b.Addr())
}

func portsCover(a, b PortRange) bool {
	if !a.Set {
		return true
	}
	lo, hi := uint16(0), uint16(65535)
	if b.Set {
		lo, hi = b.From, b.To
	}
	return a.From <= lo && hi <= a.To
}
