package aggregate

import (
	"net/netip"
	"testing"
	"time"

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

func TestEvictionNoticed(t *testing.T) {
	h := newHarness()
	h.tab.Packet(key(6), 100, t0, 0)
	h.tab.Packet(key(7), 100, t0, 0)
	h.tab.Evict(key(6)) // gone before any sweep saw it: known from its start event
	st := h.sweep(t, t0.Add(time.Second))
	if st.Evicted != 1 || st.Flows != 1 {
		t.Fatalf("sweep stats %+v: want 1 evicted, 1 flow", st)
	}
	h.tab.Evict(key(7))
	if st := h.sweep(t, t0.Add(2*time.Second)); st.Evicted != 1 {
		t.Fatalf("sweep stats %+v: want 1 evicted", st)
	}
	if h.agg.TotalEvicted != 2 || h.agg.Len() != 0 {
		t.Fatalf("total evicted %d, known %d", h.agg.TotalEvicted, h.agg.Len())
	}
}
