package loader

import (
	"sync/atomic"
	"testing"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestFreeHintLag: the free-slot hint only decides whether a new flow
// tries flow_free first. When it lags (a push not yet counted, or counts
// left uneven by a kill between a push and its count), a freed slot waits
// while never-used ones remain, and is taken once they run out: no slot is
// lost or given twice, and no new flow goes to the overflow while a slot
// waits in the queue.
func TestFreeHintLag(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadTable(t, 4)
	send := func(sport uint16) { sendUDP(t, o, sport, 1) }
	key := func(sport uint16) flow.Key { return flowKey(7, in4a, in4b, 17, sport, 53) }
	next := func() uint64 {
		var n uint64
		if err := o.FlowCtl.Lookup(uint32(VxtapVxtapConstFLOW_CTL_NEXT), &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	send(1)
	send(2)
	if _, err := o.Remove([]flow.Key{key(1)}); err != nil {
		t.Fatal(err)
	}
	if p, q := atomic.LoadUint64(&o.freeHint.Pushed), atomic.LoadUint64(&o.freeHint.Popped); p != 1 || q != 0 {
		t.Fatalf("hint pushed %d popped %d after one give-back, want 1 and 0", p, q)
	}
	// A push the hint has not counted yet.
	atomic.StoreUint64(&o.freeHint.Pushed, 0)
	send(3)
	send(4)
	if n := next(); n != 4 {
		t.Fatalf("next %d, want 4: with the hint saying empty the never-used slots go first", n)
	}
	send(5) // never-used slots gone: the queue is tried whatever the hint says
	if p := reasonPackets(t, o, "overflow"); p != 0 {
		t.Fatalf("overflow %d with a slot in flow_free, want 0", p)
	}
	if p := atomic.LoadUint64(&o.freeHint.Popped); p != 1 {
		t.Errorf("hint popped %d, want 1", p)
	}
	// The counts are now uneven the other way (popped ahead of pushed):
	// a slot given back is still found.
	if _, err := o.Remove([]flow.Key{key(3)}); err != nil {
		t.Fatal(err)
	}
	send(6)
	send(7) // the table is full again: this one overflows
	if p := reasonPackets(t, o, "overflow"); p != 1 {
		t.Errorf("overflow %d, want 1 (flow 7 only)", p)
	}
	got := map[flow.Key]bool{}
	if err := o.Walk(func(k flow.Key, c flow.Counters) {
		if got[k] || c.Packets != 1 {
			t.Errorf("flow %s seen twice or with %d packets", k, c.Packets)
		}
		got[k] = true
	}); err != nil {
		t.Fatal(err)
	}
	for _, sport := range []uint16{2, 4, 5, 6} {
		if !got[key(sport)] {
			t.Errorf("flow of port %d missing from the table", sport)
		}
	}
	if len(got) != 4 {
		t.Errorf("%d flows in the table, want 4", len(got))
	}
}
