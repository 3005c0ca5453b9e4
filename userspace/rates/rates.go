// Package rates turns the flow table's running totals into rates. The
// daemon feeds it every flow of every sweep (Observe) and closes each sweep
// (EndSweep); readers get the last closed sweep as a Snapshot.
//
// A million flows cost about 76 bytes each here: per slot the flow's
// identity (24 bytes: short key, direction, interned mirror source), its
// numbers (32 bytes: totals, rates as float32) and state (4), its place
// in the walk orders (8) and in the key index (about 8). Nothing holds a
// pointer, so they live off the Go heap (package offheap), where they
// add nothing to the garbage collector's goal, and the steady path
// allocates nothing. A reader reads the tracker's own arrays, copying
// nothing: a sweep that begins while a reader reads is skipped (the
// next one measures over the longer interval) rather than waited for,
// so readers never hold the daemon's sweep up and never cost a copy of
// the table.
package rates

import (
	"math"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/internal/keyindex"
	"github.com/vxtap/vxtap/userspace/internal/offheap"
	"github.com/vxtap/vxtap/userspace/internal/shortkey"
)

// Config sizes the tracker.
type Config struct {
	// Capacity is how many flows to reserve room for (the flow table
	// size): address space only until flows use it.
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

// nums is what a slot's flow measured, updated in place by each sweep:
// 32 bytes. Rates are float32: seven digits are more than a person reads.
type nums struct {
	packets, bytes           uint64
	pps, bps, avgPPS, avgBPS float32
}

// A slot's state word (Tracker.state): flags in the top bits, and the
// slot's place in the last walk that saw it (a hint for the cursor,
// clamped to posMask). Apart from nums, so closing a sweep reads 4
// bytes a flow, not 40.
const (
	used    = 1 << 31 // the slot holds a flow
	primed  = 1 << 30 // the averages hold a first rate
	seen    = 1 << 29 // the open sweep met the flow
	posMask = seen - 1
)

// Tracker computes rates from successive sweeps. Observe and EndSweep are
// called from one goroutine (the daemon's loop); View from any.
type Tracker struct {
	smoothing time.Duration
	index     *keyindex.Index
	arena     *offheap.Arena  // the per-slot arrays below live there, off the Go heap
	keys      *shortkey.Store // the IPv6 addresses of ids' keys
	ids       []ident         // by slot
	nums      []nums          // by slot
	state     []uint32        // by slot: flags and walk place
	mirrors   mirrorTable
	free      []uint32
	// order lists the slots in the last sweep's walk order, and walk is
	// this sweep's. A flow table walks in a stable order (slot order),
	// so the next flow is most likely the one after the last match:
	// checking there first skips the index lookup, and its cache
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
	totals Totals    // of the sweep being built

	// mu is held by an open sweep from its first Observe to EndSweep, and
	// by a reader while it registers: a reader never sees half a sweep.
	// A sweep that finds readers (readers > 0) is skipped instead: it
	// writes nothing and never waits.
	mu       sync.Mutex
	front    header // the last closed sweep
	readers  int    // views reading the tracker's arrays
	skipping bool   // the open sweep is skipped (sweep goroutine only)
	// caughtUp, when not nil, is closed by the next sweep that is not
	// skipped: readers arriving after maxSkipRun skips in a row wait for
	// it (at most readerWait), so a stream of views cannot keep the
	// rates stale.
	caughtUp chan struct{}
	skipRun  int           // sweeps skipped since the last one made
	skipped  atomic.Uint64 // sweeps skipped for readers
	// lastHold is how long the last View held mu, in ns.
	lastHold atomic.Int64
}

// header is a closed sweep without its flows.
type header struct {
	at       time.Time
	interval time.Duration
	sweeps   uint64
	totals   Totals
}

// New returns an empty tracker.
func New(cfg Config) *Tracker {
	if cfg.Smoothing <= 0 {
		cfg.Smoothing = DefaultSmoothing
	}
	cfg.Capacity = max(cfg.Capacity, 0)
	a := offheap.New()
	t := &Tracker{
		smoothing: cfg.Smoothing,
		arena:     a,
		keys:      shortkey.NewStore(),
		ids:       offheap.Make[ident](a, cfg.Capacity),
		nums:      offheap.Make[nums](a, cfg.Capacity),
		state:     offheap.Make[uint32](a, cfg.Capacity),
		order:     offheap.Make[uint32](a, cfg.Capacity),
		walk:      offheap.Make[uint32](a, cfg.Capacity),
	}
	runtime.AddCleanup(t, (*offheap.Arena).Free, a)
	t.index = keyindex.New(cfg.Capacity, t.hashOf)
	return t
}

// begin opens a sweep at time now, or skips it while readers read.
func (t *Tracker) begin(now time.Time) {
	t.mu.Lock()
	t.open = true
	if t.readers > 0 {
		t.skipping = true
		if t.skipRun++; t.skipRun >= maxSkipRun && t.caughtUp == nil {
			t.caughtUp = make(chan struct{})
		}
		t.skipped.Add(1)
		t.mu.Unlock()
		return
	}
	t.sweep++
	t.arena.Release() // no reader reads, and no sweep keeps pointers: outgrown arrays can go
	t.keys.Release()
	t.at = now
	t.dt, t.alpha = 0, 0
	if !t.prevAt.IsZero() && now.After(t.prevAt) {
		t.dt = now.Sub(t.prevAt).Seconds()
		t.alpha = 1 - math.Exp(-t.dt/t.smoothing.Seconds())
	}
	t.totals = Totals{}
	t.walk = t.walk[:0]
	t.cursor, t.misses = 0, 0
}

// find returns the slot of a known flow: first where the last walk order
// expects it, else through the index. After a run of wrong guesses (the
// order changed wholesale) it guesses only every 16th flow, so a shuffled
// walk does not pay a wasted cache miss per flow.
func (t *Tracker) find(ck *ckey) (uint32, bool) {
	if t.cursor < len(t.order) && (t.misses < 4 || t.misses%16 == 0) {
		if i := t.order[t.cursor]; t.keys.Equal(&t.ids[i].key, ck.packed()) {
			t.cursor++
			t.misses = 0
			return i, true
		}
	}
	t.misses++
	i, ok := t.index.Find(t.index.Hash(ck[:]), func(i uint32) bool { return t.keys.Equal(&t.ids[i].key, ck.packed()) })
	if ok && t.state[i]&seen == 0 {
		t.cursor = int(t.state[i]&posMask) + 1 // resynchronise after inserts and removals
	}
	return i, ok
}

// Observe takes one flow of the sweep. The first call of a sweep fixes its
// time (later calls' now is ignored), so all flows share one interval.
func (t *Tracker) Observe(now time.Time, k flow.Key, c flow.Counters) {
	if !t.open {
		t.begin(now)
	}
	if t.skipping {
		return
	}
	var ck ckey
	compactTo(&ck, &k)
	var dp, db uint64
	known := true
	i, ok := t.find(&ck)
	if ok && t.state[i]&seen != 0 {
		return // a walk of a changing table can meet a flow twice: count it once
	}
	if ok && (t.ids[i].dir != c.Direction || !t.mirrors.is(t.ids[i].mirror, c.MirrorSource)) {
		t.move(i, c)
	}
	switch {
	case ok && c.Packets >= t.nums[i].packets && c.Bytes >= t.nums[i].bytes:
		dp, db = c.Packets-t.nums[i].packets, c.Bytes-t.nums[i].bytes
	case ok:
		// The counters went back: the flow left the table and came back
		// between two sweeps, so everything it holds is new.
		dp, db = c.Packets, c.Bytes
	default:
		i = t.alloc(&ck, c)
		// A flow that started after the last sweep brought all its
		// packets within the interval; an older one was there before we
		// looked, so its rate is unknown until the next sweep.
		known = !t.prevAt.IsZero() && !c.First.IsZero() && !c.First.Before(t.prevAt)
		dp, db = c.Packets, c.Bytes
	}
	s := &t.nums[i]
	var pps, bps float64
	avgPPS, avgBPS := float64(s.avgPPS), float64(s.avgBPS)
	if known && t.dt > 0 {
		pps, bps = float64(dp)/t.dt, float64(db)/t.dt
		if t.state[i]&primed != 0 {
			avgPPS += t.alpha * (pps - avgPPS)
			avgBPS += t.alpha * (bps - avgBPS)
		} else {
			avgPPS, avgBPS = pps, bps
			t.state[i] |= primed
		}
	}
	s.packets, s.bytes = c.Packets, c.Bytes
	s.pps, s.bps, s.avgPPS, s.avgBPS = float32(pps), float32(bps), float32(avgPPS), float32(avgBPS)
	t.state[i] = t.state[i]&(used|primed) | seen | uint32(min(len(t.walk), posMask))
	t.walk = offheap.Append(t.arena, t.walk, i)
	tt := &t.totals
	tt.Packets += c.Packets
	tt.Bytes += c.Bytes
	tt.PPS += float64(s.pps)
	tt.BPS += float64(s.bps)
	tt.AvgPPS += float64(s.avgPPS)
	tt.AvgBPS += float64(s.avgBPS)
}

// alloc gives a new flow a slot, reusing freed ones first.
func (t *Tracker) alloc(ck *ckey, c flow.Counters) uint32 {
	id := ident{key: t.keys.Put(ck.packed()), dir: c.Direction, mirror: t.mirrors.acquire(c.MirrorSource)}
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
		t.ids[i] = id
		t.nums[i], t.state[i] = nums{}, used
	} else {
		i = uint32(len(t.ids))
		t.ids = offheap.Append(t.arena, t.ids, id)
		t.nums = offheap.Append(t.arena, t.nums, nums{})
		t.state = offheap.Append(t.arena, t.state, used)
	}
	t.index.Insert(t.index.Hash(ck[:]), i)
	return i
}

// drop frees slot i. No reader reads while a sweep writes, so the slot
// may be reused at once.
func (t *Tracker) drop(i uint32) {
	t.index.Delete(t.hashOf(i), i)
	t.keys.Drop(&t.ids[i].key)
	t.mirrors.release(t.ids[i].mirror)
	t.nums[i], t.state[i] = nums{}, 0
	t.free = append(t.free, i)
}

// move gives a flow whose mirror source or direction changed the new
// ones, keeping its numbers.
func (t *Tracker) move(i uint32, c flow.Counters) {
	old := t.ids[i].mirror
	t.ids[i].mirror, t.ids[i].dir = t.mirrors.acquire(c.MirrorSource), c.Direction
	t.mirrors.release(old)
}

// EndSweep closes the sweep: flows it did not see are forgotten, and the
// sweep becomes the snapshot readers get.
func (t *Tracker) EndSweep(now time.Time) {
	if !t.open {
		t.begin(now) // an empty table: no Observe opened the sweep
	}
	if t.skipping {
		t.skipping, t.open = false, false
		return
	}
	for i, st := range t.state {
		switch {
		case st&used == 0:
		case st&seen == 0:
			t.drop(uint32(i))
		default:
			t.state[i] = st &^ seen
		}
	}
	h := header{at: t.at, sweeps: t.sweep, totals: t.totals}
	if t.dt > 0 {
		h.interval = t.at.Sub(t.prevAt)
	}
	h.totals.Flows = len(t.walk)
	t.order, t.walk = t.walk, t.order
	t.prevAt = t.at
	t.open = false
	t.front = h
	t.skipRun = 0
	if t.caughtUp != nil {
		close(t.caughtUp)
		t.caughtUp = nil
	}
	t.mu.Unlock()
}

// Sweep walks src as one sweep at time now, for a reader of a pinned flow
// table that no daemon sweeps.
func (t *Tracker) Sweep(src flow.FlowSource, now time.Time) error {
	if !t.open {
		t.begin(now)
	}
	err := src.Walk(func(k flow.Key, c flow.Counters) { t.Observe(now, k, c) })
	t.EndSweep(now)
	return err
}

// Skipped is how many sweeps were skipped because a reader was reading.
func (t *Tracker) Skipped() uint64 { return t.skipped.Load() }

// hashOf is the index's hash of slot i's key.
func (t *Tracker) hashOf(i uint32) uint64 {
	p := t.keys.Packed(&t.ids[i].key)
	return t.index.Hash(p[:])
}

// Len is the number of flows tracked.
func (t *Tracker) Len() int { return t.index.Len() }
