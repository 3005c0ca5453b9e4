package loader

import (
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// fillFlows puts n IPv4 flows into the flow map with BatchUpdate, each
// counted on one CPU as the data path would (RSS keeps a flow on a queue).
func fillFlows(tb testing.TB, o *Objects, n int) {
	tb.Helper()
	const chunk = 1 << 14
	now := uint64(time.Now().UnixNano()) // any clock: the walk only converts
	keys := make([]VxtapFlowKey, 0, chunk)
	vals := make([]VxtapFlowValue, 0, chunk*o.ncpu)
	put := func() {
		if _, err := o.Flows.BatchUpdate(keys, vals, nil); err != nil {
			tb.Fatal(err)
		}
		keys, vals = keys[:0], vals[:0]
	}
	for i := 0; i < n; i++ {
		k := VxtapFlowKey{Vni: uint32(i % 16), Family: 4, Proto: 17, Sport: uint16(i), Dport: 53}
		k.Src = [16]uint8{10, byte(i >> 16), byte(i >> 8), byte(i)}
		k.Dst = [16]uint8{198, 19, 0, 1}
		keys = append(keys, k)
		for cpu := 0; cpu < o.ncpu; cpu++ {
			var v VxtapFlowValue
			if cpu == i%o.ncpu {
				v = VxtapFlowValue{Packets: 10, Bytes: 1000, FirstNs: now, LastNs: now + 1, OuterFamily: 4}
				v.OuterSrc = [16]uint8{198, 18, 0, 1}
			}
			vals = append(vals, v)
		}
		if len(keys) == chunk {
			put()
		}
	}
	if len(keys) > 0 {
		put()
	}
}

// BenchmarkWalk1M times the daemon's walk of a real LRU per-CPU flow map
// holding 1,000,000 flows: batch lookups, per-CPU merge, key conversion.
func BenchmarkWalk1M(b *testing.B) {
	testutil.RequirePrivileged(b)
	const n = 1_000_000
	cfg := DefaultConfig()
	cfg.FlowTableSize = 1 << 20
	o, err := Load(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	fillFlows(b, o, n)
	walk := func() int {
		seen := 0
		err := o.Walk(func(flow.Key, flow.Counters) { seen++ })
		if err != nil {
			b.Fatal(err)
		}
		return seen
	}
	// An LRU map may drop a few entries while it fills: hold the benchmark
	// to what it walks, and insist on nearly all of them.
	if got := walk(); got < n*99/100 {
		b.Fatalf("walk saw %d flows, want about %d", got, n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		walk()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/walk")
}
