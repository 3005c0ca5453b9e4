package topview

import (
	"encoding/json"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/rates"
)

// snapshot1M is a million flows from 65,536 sources in 16 VNIs.
func snapshot1M(unique bool) *rates.Snapshot { return snapshotOf(unique, false) }

// snapshotOf is snapshot1M, with idle flows (no rates, all the same size:
// every rank ties and keys decide) if idle.
func snapshotOf(unique, idle bool) *rates.Snapshot {
	const n = 1_000_000
	fs := make([]rates.Flow, n)
	dst := netip.MustParseAddr("198.19.0.1")
	for i := range fs {
		src := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if unique { // a scan: every flow from its own source
			src = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		}
		fs[i] = rates.Flow{Key: flow.Key{VNI: uint32(i % 16), Src: src,
			Dst: dst, Proto: 6, SPort: uint16(i >> 4), DPort: uint16(443 + i%7)},
			PPS: float64(i % 1000), BPS: float64(i%9973) * 100, Packets: uint64(i), Bytes: uint64(i) * 100}
		if idle {
			fs[i].PPS, fs[i].BPS, fs[i].Packets, fs[i].Bytes = 0, 0, 1, 48
		}
	}
	return rates.NewSnapshot(time.Now(), time.Second, 2, fs)
}

// BenchmarkBuild1M is one refresh of `vxtap top` against a daemon with a
// million flows: the view of the 50 heaviest, encoded as the API sends it.
// It runs inside Tracker.View, beside the sweeps, not in their way.
func BenchmarkBuild1M(b *testing.B) {
	s, unique, idle := snapshot1M(false), snapshot1M(true), snapshotOf(true, true)
	tcp := must(ParseFilter("tcp port 443"))
	for _, bc := range []struct {
		name string
		s    *rates.Snapshot
		q    Query
	}{
		{"5tuple", s, Query{Sort: SortRate, Group: GroupFlow, N: 50}},
		{"5tuple-filter", s, Query{Sort: SortRate, Group: GroupFlow, N: 50, Filter: tcp}},
		{"src-65536-groups", s, Query{Sort: SortBytes, Group: GroupSrc, N: 50}},
		{"pair-65536-groups", s, Query{Sort: SortRate, Group: GroupPair, N: 50}},
		{"vni-16-groups", s, Query{Sort: SortRate, Group: GroupVNI, N: 50}},
		{"src-1M-groups", unique, Query{Sort: SortRate, Group: GroupSrc, N: 50}},
		{"5tuple-n0", s, Query{Sort: SortRate, Group: GroupFlow}},
		{"src-1M-groups-n0", unique, Query{Sort: SortRate, Group: GroupSrc}},
		{"idle-5tuple-n0", idle, Query{Sort: SortRate, Group: GroupFlow}},
		{"idle-src-1M-groups-n0", idle, Query{Sort: SortRate, Group: GroupSrc}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				res := Build(bc.s, bc.q)
				if err := json.NewEncoder(io.Discard).Encode(res); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
