package aggregate

import "time"

// Pressure relief: the data path's flow table has no LRU of its own, so
// when a sweep leaves it more than pressureHigh full, the next sweep
// evicts flows (each with a record) down to pressureLow. One-packet
// flows go first — a SYN flood's or a scan's, which cost nothing but a
// record to end early — and the idlest of the others only when those do
// not suffice, so a flood never pushes the established flows out.

// reliefBand is what relief takes of one kind of flow: every flow idle
// for hi or more, and of the bucket just below ([lo, hi)) only quota
// flows, so that relief stops near pressureLow even when the idle ages
// bunch in one bucket (an age threshold alone would take the whole
// bucket: once, the whole table).
type reliefBand struct {
	lo, hi time.Duration
	quota  int
	on     bool
}

// take says whether a flow idle for idle goes; it spends the boundary
// bucket's quota.
func (b *reliefBand) take(idle time.Duration) bool {
	switch {
	case !b.on:
		return false
	case idle >= b.hi:
		return true
	case idle >= b.lo && b.quota > 0:
		b.quota--
		return true
	}
	return false
}

// reliefPlan is the next sweep's eviction. max caps the total, as ages
// grow by a sweep between the histograms and the evictions.
type reliefPlan struct {
	single, other reliefBand // one-packet flows; the others
	max           int        // 0: no relief
}

// take says whether a flow idle for idle (of one packet, or more) goes,
// the sweep having evicted evicted flows so far.
func (p *reliefPlan) take(idle time.Duration, onePacket bool, evicted int) bool {
	if evicted >= p.max {
		return false
	}
	if onePacket {
		return p.single.take(idle)
	}
	return p.other.take(idle)
}

// plan returns what the next sweep evicts, given the flows this sweep
// left in the table: nothing while the table is at most pressureHigh
// full, else the idlest one-packet flows, then the idlest others, by the
// histograms' buckets, enough to get down to pressureLow. Flows of more
// than one packet idle for less than one bucket (IdleTimeout/64) are
// never evicted: they are the busy ones. A one-packet flow may go however
// young, or a flood of fresh ones would push the established flows out.
func (a *Aggregator) plan(kept int) reliefPlan {
	size := a.cfg.TableSize
	width := a.cfg.IdleTimeout / ageBuckets // divided first: no overflow for any timeout
	if size <= 0 || width <= 0 || kept*100 <= size*pressureHigh {
		return reliefPlan{} // no room problem, or no ages to tell busy from idle
	}
	need := kept - size*pressureLow/100
	p := reliefPlan{max: need}
	var got int
	p.single, got = covering(&a.singleAges, need, 0, width)
	if got < need {
		p.other, _ = covering(&a.ages, need-got, 1, width)
	}
	return p
}

// covering is the band of the idlest flows of a histogram that number
// need (or all from bucket low up, if fewer), and how many it takes.
func covering(ages *[ageBuckets]int, need, low int, width time.Duration) (reliefBand, int) {
	b := ageBuckets - 1
	above := 0 // flows in the buckets past b
	// Bounded by ageBuckets: walk from the idlest bucket down until
	// enough flows are covered, stopping at bucket low.
	for above+ages[b] < need && b > low {
		above += ages[b]
		b--
	}
	quota := min(need-above, ages[b])
	return reliefBand{lo: width * time.Duration(b), hi: width * time.Duration(b+1), quota: quota, on: true}, above + quota
}
