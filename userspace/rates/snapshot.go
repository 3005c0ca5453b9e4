package rates

import (
	"net/netip"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Snapshot is one closed sweep. Readers get it through Tracker.View and
// must not keep it (or anything from it) after their function returns.
type Snapshot struct {
	At       time.Time     // when the sweep walked the table
	Interval time.Duration // since the previous sweep; 0 = first sweep, rates unknown
	Sweeps   uint64        // sweeps so far, this one included
	Totals   Totals

	rows    []row         // the sweep's flows in walk order
	ids     []ident       // identities the rows point at (the tracker's, or the snapshot's own)
	mirrors []mirrorEntry // mirror sources the identities point at
}

// row is a flow's numbers as a sweep closed them, and its identity's slot.
type row struct {
	slot                     uint32
	pps, bps, avgPPS, avgBPS float32
	packets, bytes           uint64
}

// Len is the number of flows.
func (s *Snapshot) Len() int { return len(s.rows) }

// Key is flow i's key.
func (s *Snapshot) Key(i int) flow.Key { return s.ids[s.rows[i].slot].key.key() }

// KeyMirror is flow i's key and mirror source, what filters look at.
func (s *Snapshot) KeyMirror(i int) (flow.Key, netip.Addr) {
	id := &s.ids[s.rows[i].slot]
	return id.key.key(), s.mirrors[id.mirror].addr()
}

// Flow is flow i.
func (s *Snapshot) Flow(i int) Flow {
	r := &s.rows[i]
	id := &s.ids[r.slot]
	return Flow{Key: id.key.key(), MirrorSource: s.mirrors[id.mirror].addr(), Direction: id.dir,
		Packets: r.packets, Bytes: r.bytes,
		PPS: float64(r.pps), BPS: float64(r.bps), AvgPPS: float64(r.avgPPS), AvgBPS: float64(r.avgBPS)}
}

// Rates are flow i's numbers without its key, for ranking without
// unpacking keys.
func (s *Snapshot) Rates(i int) (pps, bps float64, bytes uint64) {
	r := &s.rows[i]
	return float64(r.pps), float64(r.bps), r.bytes
}

// NewSnapshot makes a snapshot of the given flows (fakes and tests);
// the totals are summed from them. Rates are kept as a tracker keeps
// them (float32).
func NewSnapshot(at time.Time, interval time.Duration, sweeps uint64, flows []Flow) *Snapshot {
	s := &Snapshot{At: at, Interval: interval, Sweeps: sweeps, rows: make([]row, len(flows)), ids: make([]ident, len(flows))}
	var mt mirrorTable
	for i, f := range flows {
		s.ids[i] = ident{key: compact(f.Key), dir: f.Direction, mirror: mt.acquire(f.MirrorSource)}
		s.rows[i] = row{slot: uint32(i), packets: f.Packets, bytes: f.Bytes,
			pps: float32(f.PPS), bps: float32(f.BPS), avgPPS: float32(f.AvgPPS), avgBPS: float32(f.AvgBPS)}
		r := &s.rows[i]
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

// View calls fn with the last closed sweep. It waits for a sweep in
// progress to close, copies the sweep's numbers (40 bytes a flow, a few
// milliseconds for a million: the only time it holds the sweep up) and
// runs fn on the copy while sweeps go on. fn must not keep the snapshot.
// The copy is not kept for the next reader (see rowBuffer): 40 MB at a
// million flows is better given back than held for a `vxtap top` that
// may never come.
func (t *Tracker) View(fn func(*Snapshot)) {
	// The buffer is made before the lock is taken, so the sweep never
	// waits for the memory to be mapped and touched; a sweep that grew
	// the table meanwhile makes the rare second try.
	t.mu.Lock()
	n := len(t.order)
	t.mu.Unlock()
	rows, free := rowBuffer(n + n/64)
	t.mu.Lock()
	for len(t.order) > len(rows) {
		n = len(t.order)
		t.mu.Unlock()
		free()
		rows, free = rowBuffer(n + n/64)
		t.mu.Lock()
	}
	held := time.Now()
	h := t.front
	s := &Snapshot{At: h.at, Interval: h.interval, Sweeps: h.sweeps, Totals: h.totals, rows: rows[:len(t.order)]}
	for j, i := range t.order {
		n := &t.nums[i]
		s.rows[j] = row{slot: i, pps: n.pps, bps: n.bps, avgPPS: n.avgPPS, avgBPS: n.avgBPS, packets: n.packets, bytes: n.bytes}
	}
	s.ids, s.mirrors = t.ids, t.mirrors.entries
	t.readers = append(t.readers, h.sweeps)
	t.lastHold.Store(int64(time.Since(held)))
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		for j, r := range t.readers {
			if r == h.sweeps {
				t.readers = append(t.readers[:j], t.readers[j+1:]...)
				break
			}
		}
		t.mu.Unlock()
		s.rows, s.ids, s.mirrors = nil, nil, nil
		free()
	}()
	fn(s)
}

// LastViewHold is how long the last View held the tracker's lock for its
// copy: the longest a reader can have made a sweep wait.
func (t *Tracker) LastViewHold() time.Duration { return time.Duration(t.lastHold.Load()) }
