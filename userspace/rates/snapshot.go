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

	rows []row   // the sweep's flows in walk order
	ids  []ident // identities the rows point at (the tracker's, or the snapshot's own)
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
	return id.key.key(), addr(id.mirror, id.mfam)
}

// Flow is flow i.
func (s *Snapshot) Flow(i int) Flow {
	r := &s.rows[i]
	id := &s.ids[r.slot]
	return Flow{Key: id.key.key(), MirrorSource: addr(id.mirror, id.mfam), Direction: id.dir,
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
	for i, f := range flows {
		ck := compact(f.Key)
		s.ids[i] = identOf(&ck, f.MirrorSource, f.Direction)
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
	return s
}

// View calls fn with the last closed sweep. It waits for a sweep in
// progress to close, copies the sweep's numbers (a few milliseconds for
// a million flows, the only time it holds the sweep up) and runs fn on
// the copy while sweeps go on. fn must not keep the snapshot.
func (t *Tracker) View(fn func(*Snapshot)) {
	t.mu.Lock()
	s := t.spare
	t.spare = nil
	if s == nil {
		s = &Snapshot{}
	}
	h := t.front
	s.At, s.Interval, s.Sweeps, s.Totals = h.at, h.interval, h.sweeps, h.totals
	if cap(s.rows) < len(t.order) {
		s.rows = make([]row, 0, len(t.order)+len(t.order)/8)
	}
	s.rows = s.rows[:len(t.order)]
	for j, i := range t.order {
		n := &t.nums[i]
		s.rows[j] = row{slot: i, pps: n.pps, bps: n.bps, avgPPS: n.avgPPS, avgBPS: n.avgBPS, packets: n.packets, bytes: n.bytes}
	}
	s.ids = t.ids
	t.readers = append(t.readers, h.sweeps)
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		for j, r := range t.readers {
			if r == h.sweeps {
				t.readers = append(t.readers[:j], t.readers[j+1:]...)
				break
			}
		}
		s.ids = nil
		// One buffer is kept for the next reader; more concurrent
		// readers' buffers go to the garbage collector.
		if t.spare == nil || cap(t.spare.rows) < cap(s.rows) {
			t.spare = s
		}
		t.mu.Unlock()
	}()
	fn(s)
}
