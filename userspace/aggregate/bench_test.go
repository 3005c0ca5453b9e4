package aggregate

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// sliceTable is a flow table held in slices and walked in the order of
// walk, as a BPF hash map walks (by bucket), without the copy the
// flowtest fake makes per walk.
type sliceTable struct {
	keys []flow.Key
	c    []flow.Counters
	walk []int32
}

func (t *sliceTable) Walk(fn func(flow.Key, flow.Counters)) error {
	for _, i := range t.walk {
		fn(t.keys[i], t.c[i])
	}
	return nil
}

func (t *sliceTable) Remove(keys []flow.Key) (map[flow.Key]flow.Counters, error) {
	return map[flow.Key]flow.Counters{}, nil
}

// BenchmarkSweep1M is the aggregator's share of a daemon sweep with
// 1,000,000 live flows, one sweep a second, default timeouts: each sweep a
// tenth of the flows gained packets (so none goes idle), and the flows
// whose active timeout came (a sixtieth, started a second apart) get a
// record. The walk order is the same every sweep, as a BPF hash map's.
func BenchmarkSweep1M(b *testing.B) { benchSweep(b, false, false) }

// BenchmarkSweep1MShuffled is the worst case: a new walk order every
// sweep, so every flow costs a map lookup.
func BenchmarkSweep1MShuffled(b *testing.B) { benchSweep(b, true, false) }

// BenchmarkSweep1MDeferred is BenchmarkSweep1M as the daemon runs it:
// commits deferred (records carry their totals), a Commit after each sweep.
func BenchmarkSweep1MDeferred(b *testing.B) { benchSweep(b, false, true) }

func benchSweep(b *testing.B, shuffle, deferred bool) {
	const n = 1_000_000
	now := time.Now()
	tab := &sliceTable{keys: make([]flow.Key, n), c: make([]flow.Counters, n), walk: make([]int32, n)}
	mirror := netip.MustParseAddr("10.0.0.5")
	for i := range tab.keys {
		src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		dst := netip.MustParseAddr("198.19.0.1")
		if i%4 == 0 { // a quarter IPv6
			src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
			dst = netip.MustParseAddr("2001:db8::1")
		}
		tab.walk[i] = int32(i)
		tab.keys[i] = flow.Key{VNI: uint32(i % 16), Src: src, Dst: dst, Proto: 17, SPort: uint16(i), DPort: 53}
		first := now.Add(-time.Duration(i%60) * time.Second).Round(0)
		tab.c[i] = flow.Counters{Packets: 1, Bytes: 100, First: first, Last: now.Round(0), MirrorSource: mirror}
	}
	records := 0
	agg := New(DefaultConfig(), tab, func(flow.Record) { records++ })
	if deferred {
		agg.DeferCommits()
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	tick := 0
	sweep := func() {
		b.StopTimer()
		now = now.Add(time.Second)
		last := now.Round(0) // the data path's times carry no monotonic reading
		for i := tick % 10; i < n; i += 10 {
			tab.c[i].Packets += 10
			tab.c[i].Bytes += 1000
			tab.c[i].Last = last
		}
		tick++
		if shuffle {
			rnd.Shuffle(n, func(i, j int) { tab.walk[i], tab.walk[j] = tab.walk[j], tab.walk[i] })
		}
		b.StartTimer()
		st, err := agg.Sweep(now)
		if err != nil {
			b.Fatal(err)
		}
		if st.Flows != n || st.Removed != 0 || st.Evicted != 0 || st.Vanished != 0 {
			b.Fatalf("sweep %+v: want %d flows, none removed or evicted", st, n)
		}
		if deferred {
			if _, err := agg.Commit(now); err != nil {
				b.Fatal(err)
			}
		}
	}
	for range 10 { // every flow has gained packets since it was first seen
		sweep()
	}
	records = 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sweep()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/sweep")
	b.ReportMetric(float64(records)/float64(b.N), "records/sweep")
	if agg.Len() != n {
		b.Fatalf("aggregator knows %d flows, want %d", agg.Len(), n)
	}
}
