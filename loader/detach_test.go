package loader

import (
	"testing"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestDetachedSlotsRecovered: flows Detach took out are in no walk, and a
// new packet of the same key makes a new flow; Release gives the slot back.
// A daemon killed before Release (its follow-up records not stored) leaves
// the slots DETACHED: the next start's RecoverSlots puts one back and adds
// the other into the newer flow of its key, so every packet is in the
// table again, once. One killed after Settle (every packet recorded)
// leaves it RECORDED: RecoverSlots forgets its ledger entry and frees it.
func TestDetachedSlotsRecovered(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadTable(t, 64)
	send := func(sport uint16, n int) { sendUDP(t, o, sport, n) }
	k := func(sport uint16) flow.Key { return flowKey(7, in4a, in4b, 17, sport, 53) }
	walk := func() map[uint16]flow.Counters {
		got := map[uint16]flow.Counters{}
		if err := o.Walk(func(k flow.Key, c flow.Counters) {
			if _, dup := got[k.SPort]; dup {
				t.Errorf("flow %s walked twice", k)
			}
			got[k.SPort] = c
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	send(1, 3) // detached, released
	send(2, 4) // detached, left for recovery
	send(3, 5) // detached, then a new flow of its key, then recovery
	send(4, 6) // detached, settled, then recovery
	if err := o.Ledger().Save(map[flow.Key][2]uint64{k(2): {4, 4 * 48}, k(4): {6, 6 * 48}}); err != nil {
		t.Fatal(err)
	}
	final, err := o.Detach([]flow.Key{k(1), k(2), k(3), k(4)})
	if err != nil {
		t.Fatal(err)
	}
	for sport, want := range map[uint16]uint64{1: 3, 2: 4, 3: 5} {
		if c := final[k(sport)]; c.Packets != want {
			t.Errorf("detached flow sport %d: %d packets, want %d", sport, c.Packets, want)
		}
	}
	if got := walk(); len(got) != 0 {
		t.Errorf("walk shows detached flows: %v", got)
	}
	send(3, 2)
	detached := map[uint16]uint64{}
	if err := o.WalkDetached(func(k flow.Key, c flow.Counters) { detached[k.SPort] = c.Packets }); err != nil {
		t.Fatal(err)
	}
	if len(detached) != 4 || detached[3] != 5 {
		t.Errorf("detached slots %v, want sport 1, 2, 3 (5 packets), 4", detached)
	}
	if err := o.Settle([]flow.Key{k(4)}); err != nil {
		t.Fatal(err)
	}
	var next uint64
	if err := o.FlowCtl.Lookup(uint32(VxtapVxtapConstFLOW_CTL_NEXT), &next); err != nil {
		t.Fatal(err)
	}
	if err := o.Release([]flow.Key{k(1)}); err != nil {
		t.Fatal(err)
	}
	send(9, 1) // takes the released slot
	var after uint64
	if err := o.FlowCtl.Lookup(uint32(VxtapVxtapConstFLOW_CTL_NEXT), &after); err != nil {
		t.Fatal(err)
	}
	if after != next {
		t.Errorf("a new flow took a never-used slot (next %d -> %d): the released one was not reused", next, after)
	}
	// The daemon is killed here: sport 2 and the old sport 3 stay DETACHED.
	rec, err := o.RecoverSlots()
	if err != nil {
		t.Fatal(err)
	}
	if rec != (Recovered{Republished: 1, Merged: 1, Freed: 1}) {
		t.Fatalf("recovered %+v, want 1 republished, 1 merged, 1 freed", rec)
	}
	ledger := map[uint16]uint64{}
	if err := o.Ledger().Load(func(k flow.Key, p, _ uint64) { ledger[k.SPort] = p }); err != nil {
		t.Fatal(err)
	}
	if len(ledger) != 1 || ledger[2] != 4 {
		t.Errorf("ledger after recovery %v, want only sport 2 (4 packets): the settled flow's entry forgotten", ledger)
	}
	got := walk()
	for sport, want := range map[uint16]uint64{2: 4, 3: 7, 9: 1} {
		if c := got[sport]; c.Packets != want || c.Bytes != want*48 {
			t.Errorf("flow sport %d: %d packets %d bytes, want %d and %d", sport, c.Packets, c.Bytes, want, want*48)
		}
	}
	if len(got) != 3 {
		t.Errorf("walk saw %d flows, want 3: %v", len(got), got)
	}
	send(2, 1) // the republished flow counts again
	if c := walk()[2]; c.Packets != 5 {
		t.Errorf("republished flow: %d packets after one more, want 5", c.Packets)
	}
	if rec, err := o.RecoverSlots(); err != nil || rec != (Recovered{}) {
		t.Errorf("second pass: %+v, %v", rec, err)
	}
}
