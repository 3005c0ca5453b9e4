package topview

import (
	"bytes"
	"net/netip"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/rates"
)

// MaxRows caps the rows of one view: n = 0 asks for this many. A person
// reads a few dozen; a script that wants more pages by filter.
const MaxRows = 10_000

// rowsFor is the rows a query keeps: n, or MaxRows for 0 or past it.
func rowsFor(n int) int {
	if n <= 0 || n > MaxRows {
		return MaxRows
	}
	return n
}

// Build computes the view of one snapshot. Call it inside
// rates.Tracker.View: it copies what it keeps. A flow's direction is the
// data path's (shown as "-" while unknown, "*" for a group of several).
//
// With a million flows the 5-tuple view costs one pass and a heap of at
// most MaxRows; other groupings sum at most maxGroups groups at once
// (group.go), however many there are.
func Build(s *rates.Snapshot, q Query) Result {
	if q.Sort == "" {
		q.Sort = SortRate
	}
	if q.Group == "" {
		q.Group = GroupFlow
	}
	q.N = rowsFor(q.N)
	res := Result{At: s.At, Sort: q.Sort, Group: q.Group, Filter: q.Filter.String(), N: q.N, Rows: []Row{}}
	h := &res.Header
	h.IntervalSeconds = s.Interval.Seconds()
	h.Flows, h.Packets, h.Bytes = s.Totals.Flows, s.Totals.Packets, s.Totals.Bytes
	h.PacketsPerSecond, h.BitsPerSecond = s.Totals.PPS, 8*s.Totals.BPS
	h.AvgPacketsPerSecond, h.AvgBitsPerSecond = s.Totals.AvgPPS, 8*s.Totals.AvgBPS

	if q.Group == GroupFlow {
		top := topN[cand]{n: q.N, before: func(a, b cand) bool { return candBefore(s, a, b, q.Sort) }}
		for i := range s.Len() {
			pps, bps, bytes := s.Rates(i)
			if !q.Filter.Empty() {
				if k, m := s.KeyMirror(i); !q.Filter.Match(&k, m) {
					continue
				}
			}
			h.Matched++
			h.MatchedPacketsPerSecond += pps
			h.MatchedBitsPerSecond += 8 * bps
			top.push(cand{i: int32(i), rank: rank(q.Sort, bps, pps, bytes)})
		}
		h.Groups = h.Matched
		for _, c := range top.sorted() {
			f := s.Flow(int(c.i))
			res.Rows = append(res.Rows, flowRow(&f))
		}
		return res
	}

	var top []acc
	switch q.Group {
	case GroupSrc:
		h.Groups, top = groupTop(s, q, h, func(s *rates.Snapshot, i int) addrKey {
			a, _, fam, _ := s.Addrs(i)
			return addrKey{a, fam == rates.Family4}
		})
	case GroupDst:
		h.Groups, top = groupTop(s, q, h, func(s *rates.Snapshot, i int) addrKey {
			_, b, _, fam := s.Addrs(i)
			return addrKey{b, fam == rates.Family4}
		})
	case GroupMirror:
		h.Groups, top = groupTop(s, q, h, func(s *rates.Snapshot, i int) addrKey {
			a, fam := s.MirrorAddr(i)
			return addrKey{a, fam == rates.Family4}
		})
	case GroupPair: // both directions of a conversation together, as groupAddrs orders them
		h.Groups, top = groupTop(s, q, h, func(s *rates.Snapshot, i int) pairKey {
			a, b, fa, fb := s.Addrs(i)
			if fb < fa || fb == fa && bytes.Compare(b[:], a[:]) < 0 {
				a, b, fa = b, a, fb
			}
			return pairKey{a, b, fa == rates.Family4}
		})
	case GroupDPort:
		h.Groups, top = groupTop(s, q, h, func(s *rates.Snapshot, i int) uint32 {
			_, proto, dport := s.Ports(i)
			return uint32(proto)<<16 | uint32(dport)
		})
	case GroupVNI:
		h.Groups, top = groupTop(s, q, h, func(s *rates.Snapshot, i int) uint32 {
			vni, _, _ := s.Ports(i)
			return vni
		})
	}
	for i := range top {
		rep := s.Flow(int(top[i].first))
		res.Rows = append(res.Rows, top[i].row(q.Group, &rep))
	}
	return res
}

// cand is a flow in the running for the 5-tuple view: its place in the
// snapshot and what it ranks by, so ranking unpacks no key but on ties.
type cand struct {
	i    int32
	rank [3]float64
}

func candBefore(s *rates.Snapshot, a, b cand, _ Sort) bool {
	if less, ok := before3(a.rank, b.rank); ok {
		return less
	}
	ka, kb := s.Key(int(a.i)), s.Key(int(b.i))
	return compareKey(&ka, &kb) < 0
}

// Map keys per grouping: the smaller the key, the faster a million
// lookups.
type (
	addrKey struct {
		a   [16]byte
		is4 bool
	}
	pairKey struct {
		a, b [16]byte
		is4  bool
	}
)

func dirOrDash(d string) string {
	if d == "" {
		return "-"
	}
	return d
}

func flowRow(f *rates.Flow) Row {
	k := f.Key
	r := Row{VNI: &k.VNI, MirrorSource: f.MirrorSource, Src: k.Src, Dst: k.Dst, Proto: &k.Proto,
		SPort: &k.SPort, DPort: &k.DPort, Direction: dirOrDash(f.Direction.String()), Flows: 1,
		PacketsPerSecond: f.PPS, BitsPerSecond: 8 * f.BPS, AvgPacketsPerSecond: f.AvgPPS, AvgBitsPerSecond: 8 * f.AvgBPS,
		Packets: f.Packets, Bytes: f.Bytes}
	return r
}

// gkey is a group's identity, unused fields zero. Plain bytes, not
// netip.Addr: it hashes as memory, which halves the cost of grouping a
// million flows.
type gkey struct {
	a, b  [16]byte
	vni   uint32
	port  uint16
	proto uint8
	fam   uint8 // bit 0: a is IPv4, bit 1: b is IPv4
}

// groupAddrs are the addresses a group is keyed by (zero when none).
func groupAddrs(g Group, f *rates.Flow) (a, b netip.Addr) {
	k := &f.Key
	switch g {
	case GroupSrc:
		return k.Src, b
	case GroupDst:
		return k.Dst, b
	case GroupPair: // both directions of a conversation together
		a, b = k.Src, k.Dst
		if b.Less(a) {
			a, b = b, a
		}
		return a, b
	case GroupMirror:
		return f.MirrorSource, b
	}
	return a, b
}

func groupKey(g Group, f *rates.Flow) gkey {
	var gk gkey
	a, b := groupAddrs(g, f)
	gk.a, gk.b = a.As16(), b.As16()
	if a.Is4() {
		gk.fam |= 1
	}
	if b.Is4() {
		gk.fam |= 2
	}
	switch g {
	case GroupDPort:
		gk.proto, gk.port = f.Key.Proto, f.Key.DPort
	case GroupVNI:
		gk.vni = f.Key.VNI
	}
	return gk
}

// addr returns one of the key's addresses.
func (k *gkey) addr(second bool) netip.Addr {
	b, is4 := k.a, k.fam&1 != 0
	if second {
		b, is4 = k.b, k.fam&2 != 0
	}
	if b == ([16]byte{}) {
		return netip.Addr{}
	}
	a := netip.AddrFrom16(b)
	if is4 {
		return a.Unmap()
	}
	return a
}

// compare orders groups by their keys' bytes: deterministic ties.
func (k *gkey) compare(o *gkey) int {
	if c := bytes.Compare(k.a[:], o.a[:]); c != 0 {
		return c
	}
	if c := bytes.Compare(k.b[:], o.b[:]); c != 0 {
		return c
	}
	switch {
	case k.fam != o.fam:
		return cmp3(k.fam < o.fam)
	case k.vni != o.vni:
		return cmp3(k.vni < o.vni)
	case k.proto != o.proto:
		return cmp3(k.proto < o.proto)
	case k.port != o.port:
		return cmp3(k.port < o.port)
	}
	return 0
}

func cmp3(less bool) int {
	if less {
		return -1
	}
	return 1
}

// Which key fields differ among a group's flows.
const (
	varyVNI    = rates.DiffVNI
	varyMirror = rates.DiffMirror
	varySrc    = rates.DiffSrc
	varyDst    = rates.DiffDst
	varyProto  = rates.DiffProto
	varySPort  = rates.DiffSPort
	varyDPort  = rates.DiffDPort
)

// acc sums a group's flows. It is kept small: grouping a million flows
// by source can make a million of them.
type acc struct {
	k       gkey
	first   int32 // the group's first flow: it stands for the group where the flows agree
	flows   int32
	vary    uint8
	dirVary bool
	dir     flow.Direction
	pps     float64
	bps     float64 // bytes/s
	apps    float64
	abps    float64
	packets uint64
	bytes   uint64
}

// add sums flow f into the group; diff is how its key differs from the
// group's first flow's (rates.Snapshot.Diff).
func (a *acc) add(f *rates.Numbers, diff uint8) {
	d := f.Direction
	if a.flows == 0 {
		a.dir = d
	} else {
		a.vary |= diff
		a.dirVary = a.dirVary || d != a.dir
	}
	a.flows++
	a.pps += f.PPS
	a.bps += f.BPS
	a.apps += f.AvgPPS
	a.abps += f.AvgBPS
	a.packets += f.Packets
	a.bytes += f.Bytes
}

func (a *acc) row(g Group, rep *rates.Flow) Row {
	r := Row{Direction: dirOrDash(a.dir.String()), Flows: int(a.flows),
		PacketsPerSecond: a.pps, BitsPerSecond: 8 * a.bps, AvgPacketsPerSecond: a.apps, AvgBitsPerSecond: 8 * a.abps,
		Packets: a.packets, Bytes: a.bytes}
	if a.dirVary {
		r.Direction = "*"
	}
	k, vary := rep.Key, a.vary
	if g == GroupPair { // the pair's two addresses, in order, whichever way each flow ran
		k.Src, k.Dst = a.k.addr(false), a.k.addr(true)
		vary &^= varySrc | varyDst
	}
	if vary&varyVNI == 0 {
		r.VNI = &k.VNI
	}
	if vary&varyMirror == 0 {
		r.MirrorSource = rep.MirrorSource
	}
	if vary&varySrc == 0 {
		r.Src = k.Src
	}
	if vary&varyDst == 0 {
		r.Dst = k.Dst
	}
	if vary&varyProto == 0 {
		r.Proto = &k.Proto
	}
	if vary&varySPort == 0 {
		r.SPort = &k.SPort
	}
	if vary&varyDPort == 0 {
		r.DPort = &k.DPort
	}
	return r
}

// rank orders by the sort's own measure, then the other two.
func rank(s Sort, bps, pps float64, bytes uint64) [3]float64 {
	switch s {
	case SortBytes:
		return [3]float64{float64(bytes), bps, pps}
	case SortPackets:
		return [3]float64{pps, bps, float64(bytes)}
	}
	return [3]float64{bps, float64(bytes), pps}
}

func before3(a, b [3]float64) (bool, bool) {
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i], true
		}
	}
	return false, false
}

func accBefore(a, b *acc, s Sort) bool {
	if less, ok := before3(rank(s, a.bps, a.pps, a.bytes), rank(s, b.bps, b.pps, b.bytes)); ok {
		return less
	}
	return a.k.compare(&b.k) < 0
}

// compareKey orders flow keys: VNI, addresses, protocol, ports.
func compareKey(a, b *flow.Key) int {
	switch {
	case a.VNI != b.VNI:
		return cmp3(a.VNI < b.VNI)
	}
	if c := a.Src.Compare(b.Src); c != 0 {
		return c
	}
	if c := a.Dst.Compare(b.Dst); c != 0 {
		return c
	}
	switch {
	case a.Proto != b.Proto:
		return cmp3(a.Proto < b.Proto)
	case a.SPort != b.SPort:
		return cmp3(a.SPort < b.SPort)
	case a.DPort != b.DPort:
		return cmp3(a.DPort < b.DPort)
	}
	return 0
}
