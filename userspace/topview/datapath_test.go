package topview

import (
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

func counters(flowPkts, notMirror, short, ring uint64) ([]flow.Counter, []flow.Counter) {
	return []flow.Counter{{Name: "flow", Class: flow.ClassAccounted, Packets: flowPkts}, {Name: "non_ip", Class: flow.ClassAccounted, Packets: 2}, {Name: "not_mirror", Class: flow.ClassPassed, Packets: notMirror},
			{Name: "filter_reject", Class: flow.ClassAccounted, Packets: 1}, {Name: "outer_fragment", Class: flow.ClassPassed, Packets: 4}, {Name: "short_vxlan", Class: flow.ClassMalformed, Packets: short},
			{Name: "flow_insert_failed", Class: flow.ClassLost, Packets: 1}},
		[]flow.Counter{{Name: "truncated", Class: flow.ClassShape, Packets: 9}, {Name: "ringbuf_full", Class: flow.ClassLost, Packets: ring}}
}

func TestSumCounters(t *testing.T) {
	r, f := counters(100, 50, 3, 7)
	want := Datapath{MirrorPackets: 100 + 2 + 1 + 3 + 1, Drops: 3 + 1, RingLost: 7}
	if got := SumCounters(r, f); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestDatapathMeter(t *testing.T) {
	var m DatapathMeter
	if m.Datapath() != nil {
		t.Fatal("a reading before any")
	}
	t0 := time.Unix(1000, 0)
	tests := []struct {
		at              time.Duration
		flowPkts, short uint64
		wantMirror      float64 // per second since the reading before
		wantDrops       float64
	}{
		{0, 100, 0, 0, 0}, // first reading: no rate yet
		{2 * time.Second, 300, 4, (200 + 4) / 2.0, 4 / 2.0},
		{3 * time.Second, 10, 0, 10 + 2 + 1 + 1, 1}, // counters restarted: all of them are new
	}
	for i, tc := range tests {
		r, f := counters(tc.flowPkts, 0, tc.short, 0)
		m.Update(t0.Add(tc.at), r, f)
		d := m.Datapath()
		if d.MirrorPacketsPerSecond != tc.wantMirror || d.DropsPerSecond != tc.wantDrops {
			t.Errorf("reading %d: mirror %v/s drops %v/s, want %v and %v", i, d.MirrorPacketsPerSecond, d.DropsPerSecond, tc.wantMirror, tc.wantDrops)
		}
	}
}
