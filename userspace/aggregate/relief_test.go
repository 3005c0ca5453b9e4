package aggregate

import (
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// TestReliefPrefersOnePacketFlows: a table past 90% full of established
// flows that are idler than a crowd of one-packet flows (a SYN flood):
// relief evicts the one-packet flows, not the established ones.
func TestReliefPrefersOnePacketFlows(t *testing.T) {
	h := newHarness()
	h.agg.cfg.TableSize = 100
	now := t0.Add(10 * time.Second)
	for i := range 50 { // established: 3 packets, last 5..9.9 s ago
		for range 3 {
			h.tab.Packet(key(uint16(1000+i)), 100, now.Add(-5*time.Second-time.Duration(i)*100*time.Millisecond), 0)
		}
	}
	for i := range 45 { // one-packet flows, 0.5..1.4 s ago
		h.tab.Packet(key(uint16(3000+i)), 60, now.Add(-500*time.Millisecond-time.Duration(i)*20*time.Millisecond), 0)
	}
	if st := h.sweep(t, now); st.Evicted != 0 {
		t.Fatalf("first sweep %+v: nothing is due yet", st)
	}
	st := h.sweep(t, now.Add(time.Millisecond))
	if st.Evicted < 15 || st.Evicted > 25 {
		t.Fatalf("second sweep %+v: want ~15 evicted", st)
	}
	for _, r := range h.records {
		if r.EndReason == flow.EndEvicted && r.Packets != 1 {
			t.Errorf("established flow %s evicted while one-packet flows were there", r.Key())
		}
	}
}
