package rates_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/aggregate"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/rates"
)

// table is a flow table held in slices, walked in a fixed order as a BPF
// hash map is (by bucket), without the copy the in-memory fake makes.
type table struct {
	keys []flow.Key
	c    []flow.Counters
}

func (t *table) Walk(fn func(flow.Key, flow.Counters)) error {
	for i := range t.keys {
		fn(t.keys[i], t.c[i])
	}
	return nil
}

func (t *table) Remove([]flow.Key) (map[flow.Key]flow.Counters, error) { return nil, nil }

// observed feeds the tracker from the aggregator's walk, as the daemon does.
type observed struct {
	flow.FlowSource
	tr *rates.Tracker
}

func (o observed) Walk(fn func(flow.Key, flow.Counters)) error {
	now := time.Now()
	return o.FlowSource.Walk(func(k flow.Key, c flow.Counters) {
		o.tr.Observe(now, k, c)
		fn(k, c)
	})
}

// BenchmarkDaemonSweep1M is a whole daemon sweep of 1,000,000 live flows
// minus the BPF walk itself: the aggregator's sweep with the rate tracker
// fed from the same walk, then EndSweep.
func BenchmarkDaemonSweep1M(b *testing.B) {
	const n = 1_000_000
	now := time.Now()
	tab := &table{keys: make([]flow.Key, n), c: make([]flow.Counters, n)}
	for i := range tab.keys {
		tab.keys[i] = flow.Key{VNI: uint32(i % 16), Src: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			Dst: netip.MustParseAddr("198.19.0.1"), Proto: 17, SPort: uint16(i), DPort: 53}
		tab.c[i] = flow.Counters{First: now, Last: now}
	}
	tr := rates.New(rates.Config{Capacity: n})
	agg := aggregate.New(aggregate.Config{IdleTimeout: time.Hour, ActiveTimeout: time.Hour, EndGrace: time.Second},
		observed{tab, tr}, func(flow.Record) {})
	sweep := func() {
		for i := range tab.c {
			tab.c[i].Packets += 10
			tab.c[i].Bytes += 1000
		}
		now = now.Add(time.Second)
		if _, err := agg.Sweep(now); err != nil {
			b.Fatal(err)
		}
		tr.EndSweep(now)
	}
	sweep()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sweep()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/sweep")
}
