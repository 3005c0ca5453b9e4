package aggregate

import (
	"errors"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func key(sport uint16) flow.Key {
	return flow.Key{VNI: 42, Src: netip.MustParseAddr("198.18.1.10"), Dst: netip.MustParseAddr("198.18.2.20"), Proto: 6, SPort: sport, DPort: 443}
}

type harness struct {
	tab     *flowtest.Table
	agg     *Aggregator
	records []flow.Record
}

func newHarness() *harness {
	h := &harness{tab: flowtest.NewTable()}
	h.agg = New(DefaultConfig(), h.tab, func(r flow.Record) { h.records = append(h.records, r) })
	return h
}

func (h *harness) sweep(t *testing.T, at time.Time) Stats {
	t.Helper()
	if _, err := h.tab.Read(at, h.agg.OnEvent, nil); err != nil {
		t.Fatal(err)
	}
	st, err := h.agg.Sweep(at)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func sum(rs []flow.Record, k flow.Key) (p, b uint64) {
	for _, r := range rs {
		if r.Key() == k {
			p += r.Packets
			b += r.Bytes
		}
	}
	return
}

func TestTimeoutsAndDeltas(t *testing.T) {
	cases := []struct {
		name        string
		run         func(h *harness, t *testing.T)
		wantReasons []string
		wantPackets uint64
	}{
		{"idle timeout", func(h *harness, t *testing.T) {
			h.tab.Packet(key(1), 100, t0, 0x02)
			h.tab.Packet(key(1), 100, t0.Add(time.Second), 0x10)
			h.sweep(t, t0.Add(10*time.Second))
			h.sweep(t, t0.Add(16*time.Second))
		}, []string{flow.EndIdle}, 2},
		{"active timeout gives deltas", func(h *harness, t *testing.T) {
			for i := 0; i < 130; i++ {
				h.tab.Packet(key(2), 10, t0.Add(time.Duration(i)*time.Second), 0x10)
				h.sweep(t, t0.Add(time.Duration(i)*time.Second))
			}
			h.sweep(t, t0.Add(200*time.Second))
		}, []string{flow.EndActive, flow.EndActive, flow.EndIdle}, 130},
		{"tcp end after grace", func(h *harness, t *testing.T) {
			h.tab.Packet(key(3), 60, t0, 0x02)
			h.tab.Packet(key(3), 52, t0.Add(100*time.Millisecond), 0x11) // FIN|ACK
			h.sweep(t, t0.Add(500*time.Millisecond))                     // within grace: stays
			h.tab.Packet(key(3), 52, t0.Add(600*time.Millisecond), 0x10) // last ACK
			h.sweep(t, t0.Add(2*time.Second))
		}, []string{flow.EndTCP}, 3},
		{"shutdown", func(h *harness, t *testing.T) {
			h.tab.Packet(key(4), 60, t0, 0)
			h.sweep(t, t0.Add(time.Second))
			if _, err := h.agg.Shutdown(t0.Add(2*time.Second), true); err != nil {
				t.Fatal(err)
			}
		}, []string{flow.EndShutdown}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness()
			c.run(h, t)
			var reasons []string
			var pk uint64
			for _, r := range h.records {
				reasons = append(reasons, r.EndReason)
				pk += r.Packets
			}
			if len(reasons) != len(c.wantReasons) {
				t.Fatalf("reasons %v, want %v", reasons, c.wantReasons)
			}
			for i := range reasons {
				if reasons[i] != c.wantReasons[i] {
					t.Fatalf("reasons %v, want %v", reasons, c.wantReasons)
				}
			}
			if pk != c.wantPackets {
				t.Errorf("records sum to %d packets, want %d", pk, c.wantPackets)
			}
			if h.tab.Len() != 0 && c.name != "active timeout gives deltas" {
				t.Errorf("%d flows left in the table", h.tab.Len())
			}
		})
	}
}

func TestContinuationRecordsDoNotOverlap(t *testing.T) {
	h := newHarness()
	for i := 0; i < 200; i++ {
		h.tab.Packet(key(5), 1000, t0.Add(time.Duration(i)*time.Second), 0x10)
		h.sweep(t, t0.Add(time.Duration(i)*time.Second))
	}
	h.agg.Shutdown(t0.Add(201*time.Second), true)
	p, b := sum(h.records, key(5))
	if p != 200 || b != 200000 {
		t.Fatalf("records sum to %d packets %d bytes, want 200 and 200000", p, b)
	}
	for i := 1; i < len(h.records); i++ {
		if h.records[i].First.Before(h.records[i-1].Last) {
			t.Errorf("record %d starts %v before record %d ends %v", i, h.records[i].First, i-1, h.records[i-1].Last)
		}
	}
}

func TestVanishedNoticed(t *testing.T) {
	h := newHarness()
	h.tab.Packet(key(6), 100, t0, 0)
	h.tab.Packet(key(7), 100, t0, 0)
	h.tab.Vanish(key(6)) // gone before any sweep saw it: known from its start event
	st := h.sweep(t, t0.Add(time.Second))
	if st.Vanished != 1 || st.Flows != 1 {
		t.Fatalf("sweep stats %+v: want 1 vanished, 1 flow", st)
	}
	h.tab.Vanish(key(7))
	if st := h.sweep(t, t0.Add(2*time.Second)); st.Vanished != 1 {
		t.Fatalf("sweep stats %+v: want 1 vanished", st)
	}
	if h.agg.TotalVanished != 2 || h.agg.Len() != 0 || h.agg.TotalEvicted != 0 {
		t.Fatalf("total vanished %d, evicted %d, known %d", h.agg.TotalVanished, h.agg.TotalEvicted, h.agg.Len())
	}
}

// TestPressureRelief fills a small table past 90%: the next sweep removes
// the idlest flows, down to about 80%, with reason "evicted", and keeps
// the busy ones.
func TestPressureRelief(t *testing.T) {
	h := newHarness()
	h.agg.cfg.TableSize = 100
	for i := range 95 {
		// Flow i last saw a packet i*100 ms before the sweep at 10 s: the
		// higher i, the idler (all below the 15 s idle timeout).
		h.tab.Packet(key(uint16(1000+i)), 100, t0.Add(10*time.Second-time.Duration(i)*100*time.Millisecond), 0)
	}
	now := t0.Add(10 * time.Second)
	if st := h.sweep(t, now); st.Removed != 0 || st.Evicted != 0 {
		t.Fatalf("first sweep %+v: nothing is due yet", st)
	}
	st := h.sweep(t, now.Add(time.Millisecond))
	if st.Evicted < 15 || st.Evicted > 25 || st.Removed != st.Evicted {
		t.Fatalf("second sweep %+v: want ~15 of the idlest evicted", st)
	}
	if h.tab.Len() > 80 {
		t.Fatalf("table holds %d flows after relief, want at most 80", h.tab.Len())
	}
	evicted := map[uint16]bool{}
	for _, r := range h.records {
		if r.EndReason != flow.EndEvicted {
			t.Fatalf("record %+v: want end reason %q", r, flow.EndEvicted)
		}
		evicted[r.SPort] = true
	}
	for i := range 95 {
		// Every evicted flow is idler than every kept one.
		if evicted[uint16(1000+i)] && i < 95-st.Evicted {
			t.Errorf("flow %d (idle %v) evicted while idler ones stayed", i, time.Duration(i)*100*time.Millisecond)
		}
	}
	if st := h.sweep(t, now.Add(2*time.Millisecond)); st.Evicted != 0 {
		t.Fatalf("third sweep %+v: the table has room again, nothing more to evict", st)
	}
	if h.agg.TotalEvicted != uint64(st.Evicted) || h.agg.TotalVanished != 0 {
		t.Fatalf("totals evicted %d vanished %d", h.agg.TotalEvicted, h.agg.TotalVanished)
	}
}

// TestReliefOddAges: a packet that came during the walk (last after the
// sweep's now) and an idle timeout shorter than the histogram's buckets
// neither panic nor evict a busy flow.
func TestReliefOddAges(t *testing.T) {
	for _, idle := range []time.Duration{DefaultConfig().IdleTimeout, 10 * time.Nanosecond} {
		h := newHarness()
		h.agg.cfg.TableSize, h.agg.cfg.IdleTimeout = 1, idle
		h.tab.Packet(key(1), 100, t0.Add(time.Second), 0) // after the sweep's now
		if st := h.sweep(t, t0); st.Removed != 0 {
			t.Errorf("idle %v: sweep %+v removed a flow whose last packet is after now", idle, st)
		}
	}
}

// TestReliefStopsNearLow is the defect where relief evicted the whole
// table: with the idle ages bunched in one histogram bucket (or a few),
// an age threshold alone takes every flow at or past it. Whatever the
// distribution, relief must leave the table near 80% full.
func TestReliefStopsNearLow(t *testing.T) {
	cases := []struct {
		name string
		idle func(i int) time.Duration // idle age of flow i at the sweep
	}{
		{"all in one bucket", func(int) time.Duration { return 5 * time.Second }},
		{"all in the last bucket", func(int) time.Duration { return 14900 * time.Millisecond }},
		{"two buckets, idler one small", func(i int) time.Duration {
			if i < 10 {
				return 12 * time.Second
			}
			return 3 * time.Second
		}},
		{"one idle flow, the rest bunched", func(i int) time.Duration {
			if i == 0 {
				return 14 * time.Second
			}
			return 2 * time.Second
		}},
		{"spread out", func(i int) time.Duration { return time.Duration(i) * 150 * time.Millisecond }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness()
			h.agg.cfg.TableSize = 100
			now := t0.Add(20 * time.Second)
			for i := range 95 {
				h.tab.Packet(key(uint16(1000+i)), 100, now.Add(-tc.idle(i)), 0)
			}
			if st := h.sweep(t, now); st.Removed != 0 {
				t.Fatalf("first sweep %+v: nothing is due yet", st)
			}
			st := h.sweep(t, now.Add(time.Millisecond))
			if left := h.tab.Len(); left < 78 || left > 80 {
				t.Fatalf("relief left %d of 95 flows (evicted %d), want 78..80", left, st.Evicted)
			}
			// Never a busier flow out while an idler one stays.
			var minEvicted, maxKept time.Duration = time.Hour, -1
			gone := map[uint16]bool{}
			for _, r := range h.records {
				gone[r.SPort] = true
			}
			for i := range 95 {
				if gone[uint16(1000+i)] {
					minEvicted = min(minEvicted, tc.idle(i))
				} else {
					maxKept = max(maxKept, tc.idle(i))
				}
			}
			if bucket := DefaultConfig().IdleTimeout / ageBuckets; maxKept > minEvicted+bucket {
				t.Errorf("kept a flow idle %v while one idle only %v went", maxKept, minEvicted)
			}
			if st := h.sweep(t, now.Add(2*time.Millisecond)); st.Evicted != 0 {
				t.Fatalf("third sweep %+v: the table has room again", st)
			}
		})
	}
}

// failingTable walks its flows and, when fail is set, gives up after
// the first one with an error.
type failingTable struct {
	keys []flow.Key
	fail bool
}

func (f *failingTable) Walk(fn func(flow.Key, flow.Counters)) error {
	for i, k := range f.keys {
		if f.fail && i == 1 {
			return errors.New("walk failed")
		}
		fn(k, flow.Counters{Packets: 1, Bytes: 100, First: t0, Last: t0})
	}
	return nil
}

func (f *failingTable) Remove([]flow.Key) (map[flow.Key]flow.Counters, error) {
	return map[flow.Key]flow.Counters{}, nil
}

// A walk that fails part way makes no flow vanish, and a flow that does
// vanish later is still noticed (the sweeps' seen marks stay right).
func TestWalkErrorKeepsSeenMarks(t *testing.T) {
	tab := &failingTable{keys: []flow.Key{key(1), key(2)}}
	agg := New(Config{IdleTimeout: time.Hour, ActiveTimeout: time.Hour, EndGrace: time.Second}, tab, func(flow.Record) {})
	now := t0.Add(time.Second)
	if st, err := agg.Sweep(now); err != nil || st.Flows != 2 {
		t.Fatalf("sweep 1: %+v %v", st, err)
	}
	tab.fail = true
	if _, err := agg.Sweep(now); err == nil || agg.Len() != 2 {
		t.Fatalf("sweep 2: error %v, %d flows known; want the walk's error and both flows", err, agg.Len())
	}
	tab.fail, tab.keys = false, tab.keys[:1] // flow 2 really left the table
	st, err := agg.Sweep(now)
	if err != nil || st.Vanished != 1 || agg.Len() != 1 {
		t.Fatalf("sweep 3: %+v %v, %d known; want flow 2 vanished", st, err, agg.Len())
	}
}

// The per-flow state is what a million flows cost: keep it at 64 bytes.
func TestSlotSize(t *testing.T) {
	if n := unsafe.Sizeof(slot{}); n != 64 {
		t.Errorf("slot is %d bytes, want 64", n)
	}
}
