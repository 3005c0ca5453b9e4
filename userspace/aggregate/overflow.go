package aggregate

import (
	"fmt"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// A flood degrades, never blinds: copies of flows that found no slot in a
// full table come back from a flow.OverflowSource as coarse aggregates,
// emitted as records with end reason flow.EndOverflow, so the records
// still sum to every packet the data path accounted. Pressure relief
// makes room by evicting one-packet flows before established ones.

// drainOverflow queues a record per overflow aggregate that gained packets
// since the last drain. A source without overflow has nothing to drain.
func (a *Aggregator) drainOverflow() (int, error) {
	src, ok := a.src.(flow.OverflowSource)
	if !ok {
		return 0, nil
	}
	aggs, err := src.DrainOverflow()
	n := 0
	for _, o := range aggs {
		if o.Counters.Packets == 0 {
			continue
		}
		k, c := o.Key, o.Counters
		a.pending = append(a.pending, flow.Record{
			VNI: k.VNI, Src: k.Src, Dst: k.Dst, Proto: k.Proto, SPort: k.SPort, DPort: k.DPort,
			Packets: c.Packets, Bytes: c.Bytes, First: c.First, Last: c.Last, TCPFlags: c.TCPFlags,
			EndReason: flow.EndOverflow, Truncated: c.Truncated,
		})
		a.TotalRecords++
		n++
	}
	if err != nil {
		return n, fmt.Errorf("drain overflow: %w", err)
	}
	return n, nil
}

// noteKept records a flow the sweep keeps in the age histograms of the
// next relief: one-packet flows apart from the others.
func (a *Aggregator) noteKept(idle time.Duration, c *flow.Counters) {
	if c.Packets <= 1 {
		a.singleAges[a.ageBucket(idle)]++
		return
	}
	a.ages[a.ageBucket(idle)]++
}
