package daemon

import (
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow/flowtest"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// TestEventBurstInBatches: a ring buffer read that brings more flow
// starts than one batch holds hands them on in batches of at most
// eventBatch, in order, none lost and none counted as lost.
func TestEventBurstInBatches(t *testing.T) {
	tab := flowtest.NewTable()
	const n = 2*eventBatch + 100
	for i := range n {
		tab.Packet(key(i), 100, time.Now(), 0)
	}
	d, err := New(fastConfig(), Sources{Flows: tab, Events: tab}, pipeline.Outputs{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.drainOnce(time.Now()); err != nil {
		t.Fatal(err)
	}
	got, batches := 0, 0
	for len(d.aggEvents) > 0 {
		evs := <-d.aggEvents
		if batches++; len(evs) > eventBatch {
			t.Errorf("batch %d: %d events, more than %d", batches, len(evs), eventBatch)
		}
		for _, e := range evs {
			if e.Key != key(got) {
				t.Fatalf("event %d: key %v, want %v", got, e.Key, key(got))
			}
			got++
		}
	}
	if got != n || batches != 3 {
		t.Errorf("%d events in %d batches, want %d in 3", got, batches, n)
	}
	if lost := d.lostStarts.Load(); lost != 0 {
		t.Errorf("%d starts counted as lost", lost)
	}
}
