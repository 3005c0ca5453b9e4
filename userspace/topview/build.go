package topview

import (
	"net/netip"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/rates"
)

// Build computes the view of one snapshot. Call it inside
// rates.Tracker.View: it copies what it keeps. direction, if not nil,
// names a flow's direction (empty = unknown, shown as "-").
//
// With a million flows the 5-tuple view costs one pass and a heap of N;
// other groupings add one map entry per group.
func Build(s *rates.Snapshot, q Query, direction func(flow.Key) string) Result {
	if q.Sort == "" {
		q.Sort = SortRate
	}
	if q.Group == "" {
		q.Group = GroupFlow
	}
	res := Result{At: s.At, Sort: q.Sort, Group: q.Group, Filter: q.Filter.String(), N: q.N, Rows: []Row{}}
	h := &res.Header
	h.IntervalSeconds = s.Interval.Seconds()
	h.Flows, h.Packets, h.Bytes = s.Totals.Flows, s.Totals.Packets, s.Totals.Bytes
	h.PacketsPerSecond, h.BitsPerSecond = s.Totals.PPS, 8*s.Totals.BPS
	h.AvgPacketsPerSecond, h.AvgBitsPerSecond = s.Totals.AvgPPS, 8*s.Totals.AvgBPS

	var accs []acc
	var index map[gkey]int
	top := topN[*rates.Flow]{n: q.N, before: func(a, b *rates.Flow) bool { return flowBefore(a, b, q.Sort) }}
	for i := range s.Flows {
		f := &s.Flows[i]
		if !q.Filter.Match(&f.Key, f.MirrorSource) {
			continue
		}
		h.Matched++
		h.MatchedPacketsPerSecond += f.PPS
		h.MatchedBitsPerSecond += 8 * f.BPS
		if q.Group == GroupFlow {
			top.push(f)
			continue
		}
		if index == nil {
			index = map[gkey]int{}
		}
		gk := groupKey(q.Group, f)
		j, ok := index[gk]
		if !ok {
			j = len(accs)
			index[gk] = j
			accs = append(accs, acc{k: gk})
		}
		accs[j].add(f, direction)
	}
	if q.Group == GroupFlow {
		h.Groups = h.Matched
		for _, f := range top.sorted() {
			res.Rows = append(res.Rows, flowRow(f, direction))
		}
		return res
	}
	h.Groups = len(accs)
	gtop := topN[*acc]{n: q.N, before: func(a, b *acc) bool { return accBefore(a, b, q.Sort) }}
	for i := range accs {
		gtop.push(&accs[i])
	}
	for _, a := range gtop.sorted() {
		res.Rows = append(res.Rows, a.row(q.Group))
	}
	return res
}

func dirOrDash(d string) string {
	if d == "" {
		return "-"
	}
	return d
}

func flowRow(f *rates.Flow, direction func(flow.Key) string) Row {
	k := f.Key
	r := Row{VNI: &k.VNI, MirrorSource: f.MirrorSource, Src: k.Src, Dst: k.Dst, Proto: &k.Proto,
		SPort: &k.SPort, DPort: &k.DPort, Direction: "-", Flows: 1,
		PacketsPerSecond: f.PPS, BitsPerSecond: 8 * f.BPS, AvgPacketsPerSecond: f.AvgPPS, AvgBitsPerSecond: 8 * f.AvgBPS,
		Packets: f.Packets, Bytes: f.Bytes}
	if direction != nil {
		r.Direction = dirOrDash(direction(k))
	}
	return r
}

// gkey is a group's identity; unused fields stay zero.
type gkey struct {
	a, b  netip.Addr
	vni   uint32
	port  uint16
	proto uint8
}

func groupKey(g Group, f *rates.Flow) gkey {
	k := &f.Key
	switch g {
	case GroupSrc:
		return gkey{a: k.Src}
	case GroupDst:
		return gkey{a: k.Dst}
	case GroupPair: // both directions of a conversation together
		a, b := k.Src, k.Dst
		if b.Less(a) {
			a, b = b, a
		}
		return gkey{a: a, b: b}
	case GroupDPort:
		return gkey{proto: k.Proto, port: k.DPort}
	case GroupVNI:
		return gkey{vni: k.VNI}
	case GroupMirror:
		return gkey{a: f.MirrorSource}
	}
	return gkey{}
}

func (a gkey) compare(b gkey) int {
	if c := a.a.Compare(b.a); c != 0 {
		return c
	}
	if c := a.b.Compare(b.b); c != 0 {
		return c
	}
	switch {
	case a.vni != b.vni:
		return cmp3(a.vni < b.vni)
	case a.proto != b.proto:
		return cmp3(a.proto < b.proto)
	case a.port != b.port:
		return cmp3(a.port < b.port)
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
	varyVNI = 1 << iota
	varyMirror
	varySrc
	varyDst
	varyProto
	varySPort
	varyDPort
)

// acc sums a group's flows.
type acc struct {
	k       gkey
	rep     flow.Key // the first flow's key: the group's value where its flows agree
	mirror  netip.Addr
	vary    uint8
	dir     string
	dirVary bool
	flows   int
	pps     float64
	bps     float64 // bytes/s
	apps    float64
	abps    float64
	packets uint64
	bytes   uint64
}

func (a *acc) add(f *rates.Flow, direction func(flow.Key) string) {
	k := &f.Key
	var d string
	if direction != nil {
		d = direction(*k)
	}
	if a.flows == 0 {
		a.rep, a.mirror, a.dir = *k, f.MirrorSource, d
	} else {
		r := &a.rep
		if k.VNI != r.VNI {
			a.vary |= varyVNI
		}
		if f.MirrorSource != a.mirror {
			a.vary |= varyMirror
		}
		if k.Src != r.Src {
			a.vary |= varySrc
		}
		if k.Dst != r.Dst {
			a.vary |= varyDst
		}
		if k.Proto != r.Proto {
			a.vary |= varyProto
		}
		if k.SPort != r.SPort {
			a.vary |= varySPort
		}
		if k.DPort != r.DPort {
			a.vary |= varyDPort
		}
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

func (a *acc) row(g Group) Row {
	r := Row{Direction: dirOrDash(a.dir), Flows: a.flows,
		PacketsPerSecond: a.pps, BitsPerSecond: 8 * a.bps, AvgPacketsPerSecond: a.apps, AvgBitsPerSecond: 8 * a.abps,
		Packets: a.packets, Bytes: a.bytes}
	if a.dirVary {
		r.Direction = "*"
	}
	k := a.rep
	if g == GroupPair { // the pair's two addresses, in order, whichever way each flow ran
		k.Src, k.Dst = a.k.a, a.k.b
		a.vary &^= varySrc | varyDst
	}
	if a.vary&varyVNI == 0 {
		r.VNI = &k.VNI
	}
	if a.vary&varyMirror == 0 {
		r.MirrorSource = a.mirror
	}
	if a.vary&varySrc == 0 {
		r.Src = k.Src
	}
	if a.vary&varyDst == 0 {
		r.Dst = k.Dst
	}
	if a.vary&varyProto == 0 {
		r.Proto = &k.Proto
	}
	if a.vary&varySPort == 0 {
		r.SPort = &k.SPort
	}
	if a.vary&varyDPort == 0 {
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

func flowBefore(a, b *rates.Flow, s Sort) bool {
	if less, ok := before3(rank(s, a.BPS, a.PPS, a.Bytes), rank(s, b.BPS, b.PPS, b.Bytes)); ok {
		return less
	}
	return compareKey(&a.Key, &b.Key) < 0
}

func accBefore(a, b *acc, s Sort) bool {
	if less, ok := before3(rank(s, a.bps, a.pps, a.bytes), rank(s, b.bps, b.pps, b.bytes)); ok {
		return less
	}
	return a.k.compare(b.k) < 0
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
