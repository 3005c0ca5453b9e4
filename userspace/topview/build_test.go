package topview

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/rates"
)

var at = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// fixture: five flows with different leaders by rate, bytes and packets.
func fixture() *rates.Snapshot {
	return rates.NewSnapshot(at, time.Second, 9, fixtureFlows())
}

// fixtureFlows are the fixture's flows, to change before making a snapshot.
func fixtureFlows() []rates.Flow {
	m1, m2 := netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")
	fl := func(k flow.Key, mirror netip.Addr, bps, pps float64, bytes, packets uint64) rates.Flow {
		return rates.Flow{Key: k, MirrorSource: mirror, BPS: bps, PPS: pps, AvgBPS: bps / 2, AvgPPS: pps / 2, Bytes: bytes, Packets: packets}
	}
	return []rates.Flow{
		fl(mkKey(101, "10.0.0.1", "10.0.1.1", 6, 40000, 443), m1, 1_000_000, 800, 5_000_000, 4000), // heaviest by rate
		fl(mkKey(101, "10.0.0.1", "10.0.1.2", 6, 40001, 80), m1, 100_000, 2000, 50_000_000, 90000), // by bytes and packets
		fl(mkKey(102, "10.0.0.2", "10.0.1.1", 17, 5353, 53), m2, 10_000, 100, 1000, 10),
		fl(mkKey(102, "10.0.1.1", "10.0.0.1", 6, 443, 40000), m2, 500_000, 500, 2_000_000, 3000), // F1's reply
		fl(mkKey(101, "2001:db8::1", "2001:db8::2", 58, 0, 0), m1, 50, 1, 100, 2),
	}
}

// label spells a row's key, "*" where the group's flows differ.
func label(r Row) string {
	proto := "*"
	if r.Proto != nil {
		proto = fmt.Sprint(*r.Proto)
	}
	return fmt.Sprintf("%s %s>%s %s %s>%s n%d", optNum(r.VNI), addr(r.Src), addr(r.Dst), proto, optNum(r.SPort), optNum(r.DPort), r.Flows)
}

func TestBuild(t *testing.T) {
	f1 := "101 10.0.0.1>10.0.1.1 6 40000>443 n1"
	f2 := "101 10.0.0.1>10.0.1.2 6 40001>80 n1"
	f3 := "102 10.0.0.2>10.0.1.1 17 5353>53 n1"
	f4 := "102 10.0.1.1>10.0.0.1 6 443>40000 n1"
	f5 := "101 2001:db8::1>2001:db8::2 58 0>0 n1"
	tests := []struct {
		name    string
		sort    Sort
		group   Group
		filter  string
		n       int
		want    []string
		matched int
		groups  int
	}{
		{name: "rate", sort: SortRate, group: GroupFlow, want: []string{f1, f4, f2, f3, f5}, matched: 5, groups: 5},
		{name: "bytes", sort: SortBytes, group: GroupFlow, want: []string{f2, f1, f4, f3, f5}, matched: 5, groups: 5},
		{name: "packets", sort: SortPackets, group: GroupFlow, want: []string{f2, f1, f4, f3, f5}, matched: 5, groups: 5},
		{name: "defaults are rate and 5-tuple", want: []string{f1, f4, f2, f3, f5}, matched: 5, groups: 5},
		{name: "top 2", sort: SortRate, group: GroupFlow, n: 2, want: []string{f1, f4}, matched: 5, groups: 5},
		{name: "filter", sort: SortRate, group: GroupFlow, filter: "vni 102", want: []string{f4, f3}, matched: 2, groups: 2},
		{name: "filter CIDR either side", sort: SortRate, group: GroupFlow, filter: "10.0.0.1/32 port 443",
			want: []string{f1, f4}, matched: 2, groups: 2},
		{name: "nothing matches", sort: SortRate, group: GroupFlow, filter: "vni 9", want: []string{}, matched: 0, groups: 0},
		{name: "source IP", sort: SortRate, group: GroupSrc, want: []string{
			"101 10.0.0.1>* 6 *>* n2", f4, f3, f5}, matched: 5, groups: 4},
		{name: "destination IP", sort: SortRate, group: GroupDst, want: []string{
			"* *>10.0.1.1 * *>* n2", "102 10.0.1.1>10.0.0.1 6 443>40000 n1", "101 10.0.0.1>10.0.1.2 6 40001>80 n1", f5}, matched: 5, groups: 4},
		{name: "pair: both directions", sort: SortRate, group: GroupPair, want: []string{
			"* 10.0.0.1>10.0.1.1 6 *>* n2", f2, f3, f5}, matched: 5, groups: 4},
		{name: "destination port", sort: SortRate, group: GroupDPort, want: []string{f1, f4, f2, f3, f5}, matched: 5, groups: 5},
		{name: "destination port by bytes", sort: SortBytes, group: GroupDPort, n: 1, want: []string{f2}, matched: 5, groups: 5},
		{name: "VNI", sort: SortRate, group: GroupVNI, want: []string{
			"101 *>* * *>* n3", "102 *>* * *>* n2"}, matched: 5, groups: 2},
		{name: "VNI by packets", sort: SortPackets, group: GroupVNI, want: []string{
			"101 *>* * *>* n3", "102 *>* * *>* n2"}, matched: 5, groups: 2},
		{name: "mirror source with filter", sort: SortRate, group: GroupMirror, filter: "tcp", want: []string{
			"101 10.0.0.1>* 6 *>* n2", f4}, matched: 3, groups: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFilter(tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			res := Build(fixture(), Query{Sort: tc.sort, Group: tc.group, Filter: f, N: tc.n})
			got := []string{}
			for _, r := range res.Rows {
				got = append(got, label(r))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rows\n got %q\nwant %q", got, tc.want)
			}
			if res.Header.Matched != tc.matched || res.Header.Groups != tc.groups {
				t.Errorf("matched %d groups %d, want %d %d", res.Header.Matched, res.Header.Groups, tc.matched, tc.groups)
			}
			if res.Header.Flows != 5 || res.Header.Bytes != 57_001_100 {
				t.Errorf("header totals %+v: the filter must not change them", res.Header)
			}
		})
	}
}

func TestBuildSumsGroups(t *testing.T) {
	res := Build(fixture(), Query{Sort: SortRate, Group: GroupPair})
	r := res.Rows[0]
	if r.BitsPerSecond != 8*1_500_000 || r.PacketsPerSecond != 1300 || r.Bytes != 7_000_000 || r.Packets != 7000 ||
		r.AvgBitsPerSecond != 8*1_500_000/2 || r.Flows != 2 {
		t.Errorf("pair 10.0.0.1-10.0.1.1 sums wrong: %+v", r)
	}
	h := res.Header
	if h.BitsPerSecond != 8*1_610_050 || h.PacketsPerSecond != 3401 || h.MatchedBitsPerSecond != h.BitsPerSecond || h.IntervalSeconds != 1 {
		t.Errorf("header %+v", h)
	}
}

func TestBuildDirection(t *testing.T) {
	withDirs := func() *rates.Snapshot {
		fs := fixtureFlows()
		for i := range fs {
			switch k := fs[i].Key; {
			case k.DPort == 443 || k.DPort == 80:
				fs[i].Direction = flow.DirEgress
			case k.SPort == 443:
				fs[i].Direction = flow.DirIngress
			}
		}
		return rates.NewSnapshot(at, time.Second, 9, fs)
	}
	tests := []struct {
		group Group
		want  []string
	}{
		{GroupFlow, []string{"egress", "ingress", "egress", "-", "-"}},
		{GroupSrc, []string{"egress", "ingress", "-", "-"}},
		{GroupDst, []string{"*", "ingress", "egress", "-"}},
	}
	for _, tc := range tests {
		res := Build(withDirs(), Query{Group: tc.group})
		var got []string
		for _, r := range res.Rows {
			got = append(got, r.Direction)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: directions %q, want %q", tc.group, got, tc.want)
		}
	}
	for _, r := range Build(fixture(), Query{}).Rows {
		if r.Direction != "-" {
			t.Errorf("unknown directions: direction %q, want -", r.Direction)
		}
	}
}

// The JSON shape is the API's contract: fields a group's flows disagree
// on are left out.
func TestResultJSON(t *testing.T) {
	f, _ := ParseFilter("vni 102")
	res := Build(fixture(), Query{Sort: SortRate, Group: GroupSrc, Filter: f, N: 1})
	res.Iface, res.Source = "eth0", "daemon"
	res.Header.Datapath = &Datapath{MirrorPackets: 10, Drops: 1}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"at":"2025-01-01T12:00:00Z","iface":"eth0","source":"daemon","sort":"rate","group":"src","filter":"vni 102","n":1,` +
		`"header":{"interval_seconds":1,"flows":5,"packets":97012,"bytes":57001100,"packets_per_second":3401,"bits_per_second":12880400,` +
		`"avg_packets_per_second":1700.5,"avg_bits_per_second":6440200,"matched":2,"matched_packets_per_second":600,"matched_bits_per_second":4080000,"groups":2,` +
		`"datapath":{"mirror_packets":10,"mirror_packets_per_second":0,"drops":1,"drops_per_second":0,"ring_lost":0}},` +
		`"rows":[{"vni":102,"mirror_source":"10.9.0.2","src":"10.0.1.1","dst":"10.0.0.1","proto":6,"sport":443,"dport":40000,"direction":"-","flows":1,` +
		`"packets_per_second":500,"bits_per_second":4000000,"avg_packets_per_second":250,"avg_bits_per_second":2000000,"packets":3000,"bytes":2000000}]}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Rows, res.Rows) {
		t.Errorf("rows do not survive a round trip: %+v", back.Rows)
	}
	grouped := Build(fixture(), Query{Group: GroupVNI, N: 1})
	b, _ = json.Marshal(grouped.Rows[0])
	if s := string(b); !strings.HasPrefix(s, `{"vni":101,"mirror_source":"10.9.0.1","direction":"-","flows":3,`) {
		t.Errorf("group row JSON %s: fields that differ must be left out", s)
	}
}

func TestTopN(t *testing.T) {
	tests := []struct {
		n    int
		in   []int
		want []int
	}{
		{3, []int{5, 1, 9, 3, 7, 2, 8}, []int{9, 8, 7}},
		{0, []int{5, 1, 9}, []int{9, 5, 1}},
		{10, []int{2, 1}, []int{2, 1}},
		{1, []int{1, 1, 1}, []int{1}},
		{4, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []int{10, 9, 8, 7}},
		{4, []int{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, []int{10, 9, 8, 7}},
	}
	for _, tc := range tests {
		tp := topN[int]{n: tc.n, before: func(a, b int) bool { return a > b }}
		for _, v := range tc.in {
			tp.push(v)
		}
		if got := tp.sorted(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("top %d of %v = %v, want %v", tc.n, tc.in, got, tc.want)
		}
	}
}

// n = 0 asks for the most rows a view gives, MaxRows, never for all: a
// million-flow table must not make a million-row answer.
func TestRowCap(t *testing.T) {
	fs := make([]rates.Flow, MaxRows+5)
	for i := range fs {
		fs[i] = rates.Flow{Key: flow.Key{VNI: 1, Src: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}),
			Dst: netip.MustParseAddr("198.19.0.1"), Proto: 17, SPort: 1, DPort: 53}, BPS: float64(i), PPS: 1}
	}
	s := rates.NewSnapshot(at, time.Second, 2, fs)
	for _, g := range []Group{GroupFlow, GroupSrc} {
		for _, n := range []int{0, MaxRows + 1, 1 << 30} {
			res := Build(s, Query{Group: g, N: n})
			if len(res.Rows) != MaxRows || res.N != MaxRows || res.Header.Groups != MaxRows+5 {
				t.Errorf("group %s n=%d: %d rows, n %d, groups %d; want %d rows of %d", g, n, len(res.Rows), res.N, res.Header.Groups, MaxRows, MaxRows+5)
			}
			if f := res.Rows[0].BitsPerSecond; f != 8*float64(MaxRows+4) {
				t.Errorf("group %s n=%d: first row %v bits/s, want the heaviest", g, n, f)
			}
		}
	}
}

// A grouped view with more groups than one pass holds sums them share by
// share, and answers exactly what one pass answers: the same groups,
// sums, representatives and order, with and without a filter.
func TestGroupsBeyondOnePass(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fs := make([]rates.Flow, 3000)
	mirrors := []netip.Addr{netip.MustParseAddr("198.18.255.1"), netip.MustParseAddr("198.18.255.2")}
	for i := range fs {
		src := netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(8)), byte(rng.IntN(256))})
		dst := netip.AddrFrom4([4]byte{198, 19, 0, byte(rng.IntN(64))})
		fs[i] = rates.Flow{Key: flow.Key{VNI: uint32(rng.IntN(300)), Src: src, Dst: dst, Proto: []uint8{6, 17}[rng.IntN(2)],
			SPort: uint16(rng.IntN(65536)), DPort: uint16(rng.IntN(2000))},
			MirrorSource: mirrors[rng.IntN(2)], Direction: flow.Direction(rng.IntN(3)),
			PPS: float64(rng.IntN(50)), BPS: float64(rng.IntN(5000)), Packets: uint64(rng.IntN(100)), Bytes: uint64(rng.IntN(10000))}
	}
	s := rates.NewSnapshot(at, time.Second, 2, fs)
	defer func(n int) { maxGroups = n }(maxGroups)
	for _, g := range []Group{GroupSrc, GroupDst, GroupPair, GroupDPort, GroupVNI, GroupMirror} {
		for _, filter := range []string{"", "tcp", "198.18.0.0/22"} {
			for _, sort := range []Sort{SortRate, SortBytes} {
				for _, n := range []int{0, 7} {
					q := Query{Group: g, Sort: sort, N: n, Filter: must(ParseFilter(filter))}
					maxGroups = 1 << 15
					want := Build(s, q)
					for _, limit := range []int{3, 100} {
						maxGroups = limit
						if got := Build(s, q); !reflect.DeepEqual(got, want) {
							t.Fatalf("%s filter %q sort %s n %d, %d groups a pass: %d groups %d rows, want %d and %d",
								g, filter, sort, n, limit, got.Header.Groups, len(got.Rows), want.Header.Groups, len(want.Rows))
						}
					}
					if g == GroupPair && filter == "" && want.Header.Groups < 1000 {
						t.Fatalf("only %d pairs: the test wants many groups", want.Header.Groups)
					}
				}
			}
		}
	}
	// One group a pass: shares split down to one tag, where groups whose
	// tags collide are summed whole.
	small := rates.NewSnapshot(at, time.Second, 2, fs[:300])
	for _, g := range []Group{GroupSrc, GroupPair} {
		q := Query{Group: g, Sort: SortRate}
		maxGroups = 1 << 15
		want := Build(small, q)
		maxGroups = 1
		if got := Build(small, q); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s, one group a pass: %d groups %d rows, want %d and %d", g, got.Header.Groups, len(got.Rows), want.Header.Groups, len(want.Rows))
		}
	}
}

// The distinct count that sizes the shares is near the truth.
func TestDistinctEstimate(t *testing.T) {
	for _, n := range []int{100, 5000, 65536, 1_000_000} {
		var d distinct
		seed := maphash.MakeSeed()
		for i := range n {
			d.add(maphash.Comparable(seed, i))
			d.add(maphash.Comparable(seed, i)) // twice: counted once
		}
		if e := d.estimate(); math.Abs(float64(e-n)) > 0.1*float64(n) {
			t.Errorf("%d distinct: estimated %d", n, e)
		}
	}
}

// Grouped views answer what grouping the unpacked flows one by one
// answers (the way views were built before keys were read packed), for
// IPv4, IPv6, mixed and absent addresses, both directions of pairs.
func TestGroupsMatchUnpacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	addrs := []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.19.1.1"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("::ffff:198.18.0.1"), {}}
	mirrors := []netip.Addr{netip.MustParseAddr("198.18.255.1"), netip.MustParseAddr("2001:db8::ff")}
	fs := make([]rates.Flow, 400)
	for i := range fs {
		fs[i] = rates.Flow{Key: flow.Key{VNI: uint32(rng.IntN(3)), Src: addrs[rng.IntN(len(addrs))], Dst: addrs[rng.IntN(len(addrs))],
			Proto: []uint8{6, 17}[rng.IntN(2)], SPort: uint16(rng.IntN(3)), DPort: uint16(rng.IntN(3))},
			MirrorSource: mirrors[rng.IntN(2)], Direction: flow.Direction(rng.IntN(3)),
			PPS: float64(rng.IntN(5)), BPS: float64(rng.IntN(50)), AvgPPS: float64(rng.IntN(5)), AvgBPS: float64(rng.IntN(50)),
			Packets: uint64(rng.IntN(10)), Bytes: uint64(rng.IntN(100))}
	}
	s := rates.NewSnapshot(at, time.Second, 2, fs)
	for _, g := range []Group{GroupSrc, GroupDst, GroupPair, GroupDPort, GroupVNI, GroupMirror} {
		for _, sort := range []Sort{SortRate, SortBytes, SortPackets} {
			q := Query{Group: g, Sort: sort, N: 0}
			got := Build(s, q)
			// The same view from unpacked flows.
			byKey := map[any]int{} // keyed as views were: see oldKey
			var accs []acc
			for i := range s.Len() {
				f := s.Flow(i)
				k := oldKey(g, &f)
				j, ok := byKey[k]
				if !ok {
					j = len(accs)
					byKey[k] = j
					accs = append(accs, acc{k: groupKey(g, &f), first: int32(i)})
				}
				a := &accs[j]
				var diff uint8
				if a.flows > 0 {
					r := s.Flow(int(a.first))
					for _, c := range []struct {
						bit  uint8
						diff bool
					}{{varyVNI, f.Key.VNI != r.Key.VNI}, {varyMirror, f.MirrorSource != r.MirrorSource}, {varySrc, f.Key.Src != r.Key.Src},
						{varyDst, f.Key.Dst != r.Key.Dst}, {varyProto, f.Key.Proto != r.Key.Proto},
						{varySPort, f.Key.SPort != r.Key.SPort}, {varyDPort, f.Key.DPort != r.Key.DPort}} {
						if c.diff {
							diff |= c.bit
						}
					}
				}
				n := rates.Numbers{Direction: f.Direction, Packets: f.Packets, Bytes: f.Bytes, PPS: f.PPS, BPS: f.BPS, AvgPPS: f.AvgPPS, AvgBPS: f.AvgBPS}
				a.add(&n, diff)
			}
			slices.SortFunc(accs, func(a, b acc) int {
				if accBefore(&a, &b, sort) {
					return -1
				}
				return 1
			})
			if got.Header.Groups != len(accs) || len(got.Rows) != len(accs) {
				t.Fatalf("%s by %s: %d groups, %d rows; want %d", g, sort, got.Header.Groups, len(got.Rows), len(accs))
			}
			for i := range accs {
				rep := s.Flow(int(accs[i].first))
				if want := accs[i].row(g, &rep); !reflect.DeepEqual(got.Rows[i], want) {
					t.Fatalf("%s by %s, row %d: %+v, want %+v", g, sort, i, got.Rows[i], want)
				}
			}
		}
	}
}

// oldKey is the key a view grouped flows by before it read keys packed.
func oldKey(g Group, f *rates.Flow) any {
	switch g {
	case GroupSrc, GroupDst, GroupMirror:
		a, _ := groupAddrs(g, f)
		return addrKey{a.As16(), a.Is4()}
	case GroupPair:
		a, b := groupAddrs(g, f)
		return pairKey{a.As16(), b.As16(), a.Is4()}
	case GroupDPort:
		return uint32(f.Key.Proto)<<16 | uint32(f.Key.DPort)
	}
	return f.Key.VNI
}
