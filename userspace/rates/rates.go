// Package rates turns the flow table's running totals into rates. The
// daemon feeds it every flow of every sweep (Observe) and closes each sweep
// (EndSweep); readers get the last closed sweep as a Snapshot.
//
// The steady path allocates nothing: per-flow state lives in a slice found
// through a map keyed by a pointer-free copy of the flow key, and
// snapshots are buffers reused once no reader holds them. That is what
// keeps a sweep of a million flows far under the daemon's budget.
package rates

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Config sizes the tracker.
type Config struct {
	// Capacity is how many flows to preallocate for (the flow table size).
	Capacity int
	// Smoothing is the time constant of the exponentially weighted moving
	// average; 0 means DefaultSmoothing.
	Smoothing time.Duration
}

// DefaultSmoothing weighs the last ~10 s: steady enough to read, quick
// enough to follow a burst.
const DefaultSmoothing = 10 * time.Second

// Flow is one flow as the last sweep saw it.
type Flow struct {
	Key          flow.Key
	MirrorSource netip.Addr
	Direction    flow.Direction // seen from the source ENI
	Packets      uint64         // totals in the table
	Bytes        uint64         // inner IP bytes
	PPS          float64        // packets/s over the last interval
	BPS          float64        // bytes/s over the last interval
	AvgPPS       float64        // smoothed packets/s
	AvgBPS       float64        // smoothed bytes/s
}

// Totals sum every flow of a snapshot.
type Totals struct {
	Flows   int
	Packets uint64
	Bytes   uint64
	PPS     float64
	BPS     float64 // bytes/s
	AvgPPS  float64
	AvgBPS  float64
}

// Snapshot is one closed sweep. Readers get it through Tracker.View and
// must not keep it (or its Flows) after their function returns.
type Snapshot struct {
	At       time.Time     // when the sweep walked the table
	Interval time.Duration // since the previous sweep; 0 = first sweep, rates unknown
	Sweeps   uint64        // sweeps so far, this one included
	Flows    []Flow
	Totals   Totals

	refs int // readers inside View; guarded by Tracker.mu
}

// slot is the per-flow state kept between sweeps.
type slot struct {
	key     ckey
	used    bool
	primed  bool // the averages hold a first rate
	packets uint64
	bytes   uint64
	avgPPS  float64
	avgBPS  float64
	seen    uint64 // sweep that last saw the flow
	pos     uint32 // its place in that sweep's walk
}

// Tracker computes rates from successive sweeps. Observe and EndSweep are
// called from one goroutine (the daemon's loop); View from any.
type Tracker struct {
	smoothing time.Duration
	initCap   int
	index     map[ckey]uint32
	slots     []slot
	free      []uint32
	// order lists the slots in the last sweep's walk order, and walk is
	// this sweep's. A flow table walks in a stable order (a BPF hash map
	// by bucket), so the next flow is most likely the one after the last
	// match: checking there first skips the map lookup, and its cache
	// misses, for nearly every flow.
	order, walk []uint32
	cursor      int // where in order the next flow is expected
	misses      int // wrong guesses in a row

	sweep  uint64    // number of the sweep being built
	open   bool      // a sweep has begun
	at     time.Time // time of the sweep being built
	prevAt time.Time // time of the last closed sweep
	dt     float64   // seconds since the last closed sweep, 0 = unknown
	alpha  float64   // EWMA weight of this sweep's rates
	back   *Snapshot // being filled

	mu    sync.Mutex
	front *Snapshot   // published
	spare []*Snapshot // earlier buffers, reused once no reader holds them
}

// New returns an empty tracker.
func New(cfg Config) *Tracker {
	if cfg.Smoothing <= 0 {
		cfg.Smoothing = DefaultSmoothing
	}
	cfg.Capacity = max(cfg.Capacity, 0)
	return &Tracker{
		smoothing: cfg.Smoothing,
		initCap:   cfg.Capacity,
		index:     make(map[ckey]uint32, cfg.Capacity),
		slots:     make([]slot, 0, cfg.Capacity),
		order:     make([]uint32, 0, cfg.Capacity),
		walk:      make([]uint32, 0, cfg.Capacity),
		front:     &Snapshot{},
		back:      &Snapshot{Flows: make([]Flow, 0, cfg.Capacity)},
	}
}

// begin opens a sweep at time now.
func (t *Tracker) begin(now time.Time) {
	t.open = true
	t.sweep++
	t.at = now
	t.dt, t.alpha = 0, 0
	if !t.prevAt.IsZero() && now.After(t.prevAt) {
		t.dt = now.Sub(t.prevAt).Seconds()
		t.alpha = 1 - math.Exp(-t.dt/t.smoothing.Seconds())
	}
	t.back.Flows = t.back.Flows[:0]
	t.back.Totals = Totals{}
	t.walk = t.walk[:0]
	t.cursor, t.misses = 0, 0
}

// find returns the slot of a known flow: first where the last walk order
// expects it, else through the map. After a run of wrong guesses (the
// order changed wholesale) it guesses only every 16th flow, so a shuffled
// walk does not pay a wasted cache miss per flow.
func (t *Tracker) find(ck *ckey) (uint32, bool) {
	if t.cursor < len(t.order) && (t.misses < 4 || t.misses%16 == 0) {
		if i := t.order[t.cursor]; t.slots[i].key == *ck {
			t.cursor++
			t.misses = 0
			return i, true
		}
		t.misses++
	} else {
		t.misses++
	}
	i, ok := t.index[*ck]
	if ok && t.slots[i].seen+1 == t.sweep {
		t.cursor = int(t.slots[i].pos) + 1 // resynchronise after inserts and removals
	}
	return i, ok
}

// Observe takes one flow of the sweep. The first call of a sweep fixes its
// time (later calls' now is ignored), so all flows share one interval.
func (t *Tracker) Observe(now time.Time, k flow.Key, c flow.Counters) {
	if !t.open {
		t.begin(now)
	}
	ck := compact(k)
	var dp, db uint64
	known := true
	i, ok := t.find(&ck)
	if ok && t.slots[i].seen == t.sweep {
		return // a walk of a changing hash map can meet a flow twice: count it once
	}
	switch {
	case ok && c.Packets >= t.slots[i].packets && c.Bytes >= t.slots[i].bytes:
		dp, db = c.Packets-t.slots[i].packets, c.Bytes-t.slots[i].bytes
	case ok:
		// The counters went back: the flow left the table and came back
		// between two sweeps, so everything it holds is new.
		dp, db = c.Packets, c.Bytes
	default:
		i = t.alloc(ck)
		// A flow that started after the last sweep brought all its
		// packets within the interval; an older one was there before we
		// looked, so its rate is unknown until the next sweep.
		known = !t.prevAt.IsZero() && !c.First.IsZero() && !c.First.Before(t.prevAt)
		dp, db = c.Packets, c.Bytes
	}
	s := &t.slots[i]
	var pps, bps float64
	if known && t.dt > 0 {
		pps, bps = float64(dp)/t.dt, float64(db)/t.dt
		if s.primed {
			s.avgPPS += t.alpha * (pps - s.avgPPS)
			s.avgBPS += t.alpha * (bps - s.avgBPS)
		} else {
			s.avgPPS, s.avgBPS, s.primed = pps, bps, true
		}
	}
	s.packets, s.bytes, s.seen, s.pos = c.Packets, c.Bytes, t.sweep, uint32(len(t.walk))
	t.walk = append(t.walk, i)
	b := t.back
	b.Flows = append(b.Flows, Flow{Key: k, MirrorSource: c.MirrorSource, Direction: c.Direction, Packets: c.Packets, Bytes: c.Bytes,
		PPS: pps, BPS: bps, AvgPPS: s.avgPPS, AvgBPS: s.avgBPS})
	tt := &b.Totals
	tt.Packets += c.Packets
	tt.Bytes += c.Bytes
	tt.PPS += pps
	tt.BPS += bps
	tt.AvgPPS += s.avgPPS
	tt.AvgBPS += s.avgBPS
}

// alloc gives a new flow a slot, reusing freed ones first.
func (t *Tracker) alloc(ck ckey) uint32 {
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		t.slots = append(t.slots, slot{})
		i = uint32(len(t.slots) - 1)
	}
	t.slots[i] = slot{key: ck, used: true}
	t.index[ck] = i
	return i
}

// EndSweep closes the sweep: flows it did not see are forgotten, and the
// sweep becomes the snapshot readers get.
func (t *Tracker) EndSweep(now time.Time) {
	if !t.open {
		t.begin(now) // an empty table: no Observe opened the sweep
	}
	for i := range t.slots {
		s := &t.slots[i]
		if s.used && s.seen != t.sweep {
			delete(t.index, s.key)
			*s = slot{}
			t.free = append(t.free, uint32(i))
		}
	}
	b := t.back
	b.At, b.Interval, b.Sweeps = t.at, 0, t.sweep
	if t.dt > 0 {
		b.Interval = t.at.Sub(t.prevAt)
	}
	b.Totals.Flows = len(b.Flows)
	t.order, t.walk = t.walk, t.order
	t.prevAt = t.at
	t.open = false
	t.publish()
}

// publish makes the back buffer the front one and takes a buffer no
// reader holds for the next sweep.
func (t *Tracker) publish() {
	t.mu.Lock()
	t.spare = append(t.spare, t.front)
	t.front = t.back
	var next *Snapshot
	kept := t.spare[:0]
	for _, s := range t.spare {
		if next == nil && s.refs == 0 {
			next = s
		} else {
			kept = append(kept, s)
		}
	}
	clear(t.spare[len(kept):])
	t.spare = kept
	t.mu.Unlock()
	if next == nil {
		// Every other buffer is still being read: a slow reader costs one
		// more buffer, never a stalled sweep.
		next = &Snapshot{}
	}
	if n := len(t.front.Flows); cap(next.Flows) < n {
		next.Flows = make([]Flow, 0, max(n+n/8, t.initCap))
	}
	t.back = next
}

// View calls fn with the last closed sweep. fn must not keep the snapshot
// or its slices: a later sweep refills the buffer once fn returns. Sweeps
// go on while fn runs.
func (t *Tracker) View(fn func(*Snapshot)) {
	t.mu.Lock()
	s := t.front
	s.refs++
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		s.refs--
		t.mu.Unlock()
	}()
	fn(s)
}

// Sweep walks src as one sweep at time now, for a reader of a pinned flow
// table that no daemon sweeps.
func (t *Tracker) Sweep(src flow.FlowSource, now time.Time) error {
	t.begin(now)
	err := src.Walk(func(k flow.Key, c flow.Counters) { t.Observe(now, k, c) })
	t.EndSweep(now)
	return err
}

// Len is the number of flows tracked.
func (t *Tracker) Len() int { return len(t.index) }
