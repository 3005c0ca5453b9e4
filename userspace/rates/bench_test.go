package rates

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// BenchmarkSweep1M is one daemon sweep's share of the rate tracker with a
// table of 1,000,000 flows: Observe for each, then EndSweep. The flows come
// in the same order every sweep, as a BPF hash map walks them. The
// daemon's budget for a whole sweep is 250 ms.
func BenchmarkSweep1M(b *testing.B) { benchSweep(b, false) }

// BenchmarkSweep1MShuffled is the worst case: every sweep walks the flows
// in a new random order (a Go map, or a table rebuilt between sweeps), so
// every flow costs a map lookup.
func BenchmarkSweep1MShuffled(b *testing.B) { benchSweep(b, true) }

func benchSweep(b *testing.B, shuffle bool) {
	const n = 1_000_000
	keys := make([]flow.Key, n)
	mirror := netip.MustParseAddr("10.0.0.5")
	for i := range keys {
		src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if i%4 == 0 { // a quarter IPv6
			src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: byte(i >> 8), 13: byte(i >> 16)})
			keys[i] = flow.Key{VNI: uint32(i % 16), Src: src, Dst: netip.MustParseAddr("2001:db8::1"), Proto: 6, SPort: uint16(i), DPort: 443}
			continue
		}
		keys[i] = flow.Key{VNI: uint32(i % 16), Src: src, Dst: netip.MustParseAddr("198.19.0.1"), Proto: 17, SPort: uint16(i), DPort: 53}
	}
	tr := New(Config{Capacity: n})
	at := time.Now()
	c := flow.Counters{First: at.Add(-time.Hour), MirrorSource: mirror}
	rnd := rand.New(rand.NewPCG(1, 2))
	sweep := func() {
		if shuffle {
			b.StopTimer()
			rnd.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			b.StartTimer()
		}
		at = at.Add(time.Second)
		c.Packets += 10
		c.Bytes += 1000
		for _, k := range keys {
			tr.Observe(at, k, c)
		}
		tr.EndSweep(at)
	}
	sweep() // the first sweep fills the index
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sweep()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/sweep")
	if tr.Len() != n {
		b.Fatalf("tracked %d flows, want %d", tr.Len(), n)
	}
}

// BenchmarkView1M is what a reader (GET /v1/top) holds the sweep up for
// with 1,000,000 flows: registering under the tracker's lock (no copy).
// The view itself is built after, beside the sweeps, which skip while it
// reads.
func BenchmarkView1M(b *testing.B) {
	const n = 1_000_000
	tr := New(Config{Capacity: n})
	at := time.Now()
	mirror := netip.MustParseAddr("10.0.0.5")
	for s := range 2 {
		at = at.Add(time.Second)
		for i := range n {
			k := flow.Key{VNI: uint32(i % 16), Src: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
				Dst: netip.MustParseAddr("198.19.0.1"), Proto: 17, SPort: uint16(i), DPort: 53}
			tr.Observe(at, k, flow.Counters{Packets: uint64(s + 1), Bytes: 100, First: at.Add(-time.Hour), MirrorSource: mirror})
		}
		tr.EndSweep(at)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var hold time.Duration
	for i := 0; i < b.N; i++ {
		tr.View(func(s *Snapshot) {
			if s.Len() != n {
				b.Fatalf("%d flows", s.Len())
			}
		})
		hold = max(hold, tr.LastViewHold())
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/view")
	b.ReportMetric(float64(hold.Microseconds())/1000, "ms-max-sweep-held")
}
