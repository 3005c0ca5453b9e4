package detect

import "net/netip"

// majority finds the address most of a window's flows went to (or came
// from), in constant memory: a Boyer-Moore vote. Its lead c never
// exceeds the candidate's true count, so a lead of a quarter of all
// votes means the candidate really took at least that share; a stray
// flow in the window does not hide the one host a scan targets, and a
// spoofed flood's random sources elect nobody.
type majority struct {
	cand netip.Addr
	c, n uint32
}

func (m *majority) add(a netip.Addr) {
	m.n++
	switch {
	case m.c == 0:
		m.cand, m.c = a, 1
	case a == m.cand:
		m.c++
	default:
		m.c--
	}
}

// get returns the candidate when it holds at least a quarter of the votes.
func (m *majority) get() (netip.Addr, bool) {
	if m.n == 0 || m.c*4 < m.n {
		return netip.Addr{}, false
	}
	return m.cand, true
}
