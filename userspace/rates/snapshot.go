package rates

import (
	"net/netip"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Snapshot is one closed sweep. Readers get it through Tracker.View and
// must not keep it (or anything from it) after their function returns:
// it reads the tracker's own arrays, which the sweeps after it rewrite.
type Snapshot struct {
	At       time.Time     // when the sweep walked the table
	Interval time.Duration // since the previous sweep; 0 = first sweep, rates unknown
	Sweeps   uint64        // sweeps so far, this one included
	Totals   Totals

	order   []uint32      // the sweep's flows' slots in walk order
	nums    []nums        // by slot
	ids     []ident       // by slot
	mirrors []mirrorEntry // mirror sources the identities point at
}

// Len is the number of flows.
func (s *Snapshot) Len() int { return len(s.order) }

// Key is flow i's key.
func (s *Snapshot) Key(i int) flow.Key { return s.ids[s.order[i]].key.key() }

// KeyMirror is flow i's key and mirror source, what filters look at.
func (s *Snapshot) KeyMirror(i int) (flow.Key, netip.Addr) {
	id := &s.ids[s.order[i]]
	return id.key.key(), s.mirrors[id.mirror].addr()
}

// Flow is flow i.
func (s *Snapshot) Flow(i int) Flow {
	slot := s.order[i]
	r, id := &s.nums[slot], &s.ids[slot]
	return Flow{Key: id.key.key(), MirrorSource: s.mirrors[id.mirror].addr(), Direction: id.dir,
		Packets: r.packets, Bytes: r.bytes,
		PPS: float64(r.pps), BPS: float64(r.bps), AvgPPS: float64(r.avgPPS), AvgBPS: float64(r.avgBPS)}
}

// Rates are flow i's numbers without its key, for ranking without
// unpacking keys.
func (s *Snapshot) Rates(i int) (pps, bps float64, bytes uint64) {
	r := &s.nums[s.order[i]]
	return float64(r.pps), float64(r.bps), r.bytes
}

// NewSnapshot makes a snapshot of the given flows (fakes and tests);
// the totals are summed from them. Rates are kept as a tracker keeps
// them (float32).
func NewSnapshot(at time.Time, interval time.Duration, sweeps uint64, flows []Flow) *Snapshot {
	s := &Snapshot{At: at, Interval: interval, Sweeps: sweeps,
		order: make([]uint32, len(flows)), nums: make([]nums, len(flows)), ids: make([]ident, len(flows))}
	var mt mirrorTable
	for i, f := range flows {
		s.order[i] = uint32(i)
		s.ids[i] = ident{key: compact(f.Key), dir: f.Direction, mirror: mt.acquire(f.MirrorSource)}
		s.nums[i] = nums{packets: f.Packets, bytes: f.Bytes,
			pps: float32(f.PPS), bps: float32(f.BPS), avgPPS: float32(f.AvgPPS), avgBPS: float32(f.AvgBPS)}
		r := &s.nums[i]
		tt := &s.Totals
		tt.Flows++
		tt.Packets += f.Packets
		tt.Bytes += f.Bytes
		tt.PPS += float64(r.pps)
		tt.BPS += float64(r.bps)
		tt.AvgPPS += float64(r.avgPPS)
		tt.AvgBPS += float64(r.avgBPS)
	}
	s.mirrors = mt.entries
	return s
}

// readerWait bounds how long a view waits for the sweep that catches up
// after a skipped one: a daemon that stopped sweeping must not hang its
// readers.
const readerWait = 5 * time.Second

// View calls fn with the last closed sweep. It waits for a sweep in
// progress to close, then runs fn on the tracker's own arrays, copying
// nothing (a million flows' copy was 40 MB). A sweep that begins while
// fn runs is skipped, not held up: the next one measures the rates over
// both intervals. After a skip, new readers wait for that next sweep,
// so readers one after another cannot keep the rates stale. fn must
// not keep the snapshot.
func (t *Tracker) View(fn func(*Snapshot)) {
	t.mu.Lock()
	if ch := t.caughtUp; ch != nil {
		t.mu.Unlock()
		timer := time.NewTimer(readerWait)
		select {
		case <-ch:
		case <-timer.C:
		}
		timer.Stop()
		t.mu.Lock()
	}
	held := time.Now()
	h := t.front
	s := &Snapshot{At: h.at, Interval: h.interval, Sweeps: h.sweeps, Totals: h.totals,
		order: t.order, nums: t.nums, ids: t.ids, mirrors: t.mirrors.entries}
	t.readers++
	t.lastHold.Store(int64(time.Since(held)))
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.readers--
		t.mu.Unlock()
		s.order, s.nums, s.ids, s.mirrors = nil, nil, nil, nil
	}()
	fn(s)
}

// LastViewHold is how long the last View held the tracker's lock to
// register: the longest a reader can have made a sweep wait.
func (t *Tracker) LastViewHold() time.Duration { return time.Duration(t.lastHold.Load()) }
