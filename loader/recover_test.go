package loader

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestRecoverSlots: a daemon killed inside Remove, after taking flows out
// of flow_index (and marking their slots DYING, as Remove does) and before
// freeing their slots. One such flow got no more packets: it goes back in
// the index. One came back in a new slot: the orphan's counts are added
// there and the orphan is freed. One was killed before its slot was marked
// DYING, so the flow cache may still add to the orphan: either way its
// packets are all counted once. One slot is DYING but still in the index
// (killed while republishing): it is LIVE again. The walk shows each flow
// once with every packet, and a freed slot is used again.
func TestRecoverSlots(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadTable(t, 64)
	send := func(sport uint16, n int) { sendUDP(t, o, sport, n) }
	slotOf := func(sport uint16) uint32 {
		k := keyToBPF(flowKey(7, in4a, in4b, 17, sport, 53))
		idx, ok := o.index.Lookup(&k)
		if !ok {
			t.Fatalf("flow %d not in the index", sport)
		}
		return idx
	}
	unpublish := func(sport uint16) {
		k := keyToBPF(flowKey(7, in4a, in4b, 17, sport, 53))
		if _, ok := o.index.Delete(&k); !ok {
			t.Fatalf("flow %d not in the index", sport)
		}
	}
	send(1, 3) // stays whole
	send(2, 4) // orphaned, no more packets
	send(3, 5) // orphaned, then back in a new slot with 2 more
	send(4, 1) // DYING but still published
	send(5, 2) // orphaned but still LIVE, then 3 more
	for _, sport := range []uint16{2, 3} {
		idx := slotOf(sport)
		unpublish(sport)
		o.dying(idx)
	}
	o.dying(slotOf(4))
	unpublish(5)
	send(3, 2)
	send(5, 3)
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
	rec, err := o.RecoverSlots()
	if err != nil {
		t.Fatal(err)
	}
	// Flow 5's orphan is merged when its 3 packets opened a new slot, or
	// republished when the flow cache added them to the orphan.
	if rec.Republished+rec.Merged != 4 || rec.Merged < 1 || rec.Merged > 2 {
		t.Fatalf("recovered %+v, want 2 or 3 republished (flows 2, 4, maybe 5) and 1 or 2 merged (flow 3, maybe 5)", rec)
	}
	got := walk()
	for sport, want := range map[uint16]uint64{1: 3, 2: 4, 3: 7, 4: 1, 5: 5} {
		if c := got[sport]; c.Packets != want || c.Bytes != want*48 {
			t.Errorf("flow sport %d: %d packets %d bytes, want %d and %d", sport, c.Packets, c.Bytes, want, want*48)
		}
	}
	if len(got) != 5 {
		t.Errorf("walk saw %d flows, want 5", len(got))
	}
	// Packets of the republished and the revived flow land in their slots again.
	send(2, 1)
	send(4, 1)
	if c := walk()[2]; c.Packets != 5 {
		t.Errorf("republished flow: %d packets after one more, want 5", c.Packets)
	}
	if c := walk()[4]; c.Packets != 2 {
		t.Errorf("revived flow: %d packets after one more, want 2", c.Packets)
	}
	// A second pass finds nothing more to do.
	if rec, err := o.RecoverSlots(); err != nil || rec != (Recovered{}) {
		t.Errorf("second pass: %+v, %v", rec, err)
	}
	// The freed slot is the next one a new flow gets.
	var next uint64
	if err := o.FlowCtl.Lookup(uint32(VxtapVxtapConstFLOW_CTL_NEXT), &next); err != nil {
		t.Fatal(err)
	}
	send(9, 1)
	var after uint64
	if err := o.FlowCtl.Lookup(uint32(VxtapVxtapConstFLOW_CTL_NEXT), &after); err != nil {
		t.Fatal(err)
	}
	if after != next {
		t.Errorf("a new flow took a never-used slot (next %d -> %d): the freed one was not reused", next, after)
	}
	if n, _ := o.FlowCount(); n != 6 {
		t.Errorf("flow count %d, want 6", n)
	}
}

// TestFullTable: a full table refuses a new flow a slot; its copy is
// accounted in the overflow aggregates (reason overflow, with its bytes),
// while known flows keep counting; once Remove frees a slot, the next new
// flow gets it.
func TestFullTable(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadTable(t, 16)
	send := func(sport uint16) { sendUDP(t, o, sport, 1) }
	for sport := uint16(1); sport <= 16; sport++ {
		send(sport)
	}
	send(17) // no room
	send(1)  // known: still counted
	if p := reasonPackets(t, o, "overflow"); p != 1 {
		t.Fatalf("overflow %d, want 1", p)
	}
	if p := reasonPackets(t, o, "flow_insert_failed"); p != 0 {
		t.Fatalf("flow_insert_failed %d, want 0", p)
	}
	if _, ov, err := o.SettledOverflow(); err != nil || len(ov) != 0 {
		t.Fatalf("settled half %+v, %v: want nothing before a turn", ov, err)
	}
	if ok, err := o.TurnOverflow(); err != nil || !ok {
		t.Fatalf("turn %v, %v: want a turn", ok, err)
	}
	half, ov, err := o.SettledOverflow()
	if err != nil {
		t.Fatal(err)
	}
	want := flowKey(7, netip.IPv4Unspecified(), in4b, 17, 0, 53)
	if len(ov) != 1 || ov[0].Level != flow.OverflowByDest || ov[0].Key != want || ov[0].Counters.Packets != 1 || ov[0].Counters.Bytes != 48 {
		t.Fatalf("overflow aggregates %+v, want one of %s with 1 packet, 48 bytes", ov, want)
	}
	if ok, err := o.TurnOverflow(); err != nil || ok {
		t.Fatalf("turn %v, %v: the settled half is not empty, want none", ok, err)
	}
	if err := o.RemoveOverflow([]flow.OverflowID{{Half: half ^ 1, Level: flow.OverflowAll}}); err == nil {
		t.Error("removed an aggregate of the half in use")
	}
	if err := o.RemoveOverflow([]flow.OverflowID{ov[0].OverflowID}); err != nil {
		t.Fatal(err)
	}
	if _, ov, err := o.SettledOverflow(); err != nil || len(ov) != 0 {
		t.Fatalf("settled half after removal %+v, %v: want nothing", ov, err)
	}
	if p := reasonPackets(t, o, "flow"); p != 17 {
		t.Fatalf("flow %d, want 17", p)
	}
	final, err := o.Remove([]flow.Key{flowKey(7, in4a, in4b, 17, 5, 53)})
	if err != nil {
		t.Fatal(err)
	}
	if c := final[flowKey(7, in4a, in4b, 17, 5, 53)]; c.Packets != 1 || c.Bytes != 48 {
		t.Errorf("removed flow's final counters %+v", c)
	}
	send(17) // now it fits
	if p := reasonPackets(t, o, "overflow"); p != 1 {
		t.Errorf("overflow %d after a slot was freed, want still 1", p)
	}
	if n, _ := o.FlowCount(); n != 16 {
		t.Errorf("flow count %d, want 16", n)
	}
}

// loadTable loads the program with a flow table of size slots, closed
// when the test ends.
func loadTable(tb testing.TB, size uint32) *Objects {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.FlowTableSize = size
	o, err := Load(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { o.Close() })
	return o
}

// sendUDP runs n mirror copies (VNI 7) of one inner IPv4 UDP packet with
// source port sport and 20 bytes of payload (48 inner IP bytes).
func sendUDP(tb testing.TB, o *Objects, sport uint16, n int) {
	tb.Helper()
	frame := mirrored(tb, 7, innerUDP4(sport, 53, 20)...)
	for range n {
		if _, err := o.RunPacket(frame, time.Now()); err != nil {
			tb.Fatal(err)
		}
	}
}
