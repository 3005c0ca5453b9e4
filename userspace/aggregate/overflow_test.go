package aggregate

import (
	"errors"
	"maps"
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
)

// ovLedger is the pinned flow and overflow ledgers, outliving an
// aggregator; failForget makes the next ForgetOverflow fail (a kill
// between removing aggregates and forgetting them looks the same).
type ovLedger struct {
	memLedger
	ov         map[flow.OverflowID][2]uint64
	failForget int
}

func newOvLedger() *ovLedger {
	return &ovLedger{memLedger: memLedger{m: map[flow.Key][2]uint64{}}, ov: map[flow.OverflowID][2]uint64{}}
}

func (l *ovLedger) LoadOverflow(fn func(id flow.OverflowID, p, b uint64)) error {
	for id, v := range l.ov {
		fn(id, v[0], v[1])
	}
	return nil
}
func (l *ovLedger) SaveOverflow(e map[flow.OverflowID][2]uint64) error {
	maps.Copy(l.ov, e)
	return nil
}
func (l *ovLedger) ForgetOverflow(ids []flow.OverflowID) error {
	if l.failForget > 0 {
		l.failForget--
		return errors.New("forget overflow: injected failure")
	}
	for _, id := range ids {
		delete(l.ov, id)
	}
	return nil
}

// ovRig runs an aggregator with deferred commits, as the daemon does, over
// the in-memory table, and can kill it.
type ovRig struct {
	t       *testing.T
	tab     *flowtest.Table
	led     *ovLedger
	a       *Aggregator
	now     time.Time
	pending []flow.Record // emitted, not yet stored
	stored  map[flow.OverflowID]uint64
	sent    map[flow.OverflowID]uint64
}

func newOvRig(t *testing.T) *ovRig {
	r := &ovRig{t: t, tab: flowtest.NewTable(), led: newOvLedger(), now: t0,
		stored: map[flow.OverflowID]uint64{}, sent: map[flow.OverflowID]uint64{}}
	r.start()
	return r
}

// start is a new daemon on the same table and ledger.
func (r *ovRig) start() {
	r.pending = nil
	r.a = New(DefaultConfig(), r.tab, func(rec flow.Record) { r.pending = append(r.pending, rec) })
	r.a.DeferCommits()
	if err := r.a.UseLedger(r.led, r.now); err != nil {
		r.t.Fatal(err)
	}
}

var ovKeys = []flow.OverflowID{
	{Level: flow.OverflowByDest, Key: flow.Key{VNI: 7, Src: netip.IPv4Unspecified(), Dst: netip.MustParseAddr("198.19.0.1"), Proto: 6, DPort: 443}},
	{Level: flow.OverflowByVNI, Key: flow.Key{VNI: 7}},
	{Level: flow.OverflowAll},
}

// packets adds n packets to every aggregate.
func (r *ovRig) packets(n int) {
	for range n {
		r.now = r.now.Add(time.Millisecond)
		for _, id := range ovKeys {
			r.tab.OverflowPacket(id.Level, id.Key, 100, r.now)
			r.sent[id]++
		}
	}
}

func (r *ovRig) sweep() {
	r.now = r.now.Add(time.Second)
	if _, err := r.a.Sweep(r.now); err != nil {
		r.t.Fatal(err)
	}
}

// commit stores what is pending, then commits; a commit error is kept
// (the daemon logs it and goes on).
func (r *ovRig) commit() error {
	for _, rec := range r.pending {
		if rec.EndReason != flow.EndOverflow {
			continue
		}
		lvl := flow.OverflowByDest
		switch {
		case !rec.Dst.IsValid() && rec.VNI == 0:
			lvl = flow.OverflowAll
		case !rec.Dst.IsValid():
			lvl = flow.OverflowByVNI
		}
		r.stored[flow.OverflowID{Level: lvl, Key: rec.Key()}] += rec.Packets
	}
	r.pending = nil
	_, err := r.a.Commit(r.now)
	return err
}

// settle sweeps and commits until nothing is left, then checks every
// packet was stored exactly once and nothing is left behind.
func (r *ovRig) settle() {
	r.t.Helper()
	for range 6 {
		r.sweep()
		if err := r.commit(); err != nil {
			r.t.Fatal(err)
		}
	}
	for _, id := range ovKeys {
		if r.stored[id] != r.sent[id] {
			r.t.Errorf("%v %s: stored records carry %d packets, %d were sent", id.Level, id.Key, r.stored[id], r.sent[id])
		}
	}
	if n := r.tab.OverflowLen(); n != 0 {
		r.t.Errorf("%d overflow aggregates left in the table", n)
	}
	if n := len(r.led.ov); n != 0 {
		r.t.Errorf("%d overflow ledger entries left: %v", n, r.led.ov)
	}
	if len(r.led.m) != 0 {
		r.t.Errorf("overflow totals in the flow ledger: %v", r.led.m)
	}
}

// TestOverflowExactlyOnce: the overflow aggregates' packets reach the
// stored records exactly once whatever fails in between: a kill between
// the sweep and the commit, a removal that fails (then a kill), a kill
// between the removal and the ledger forgetting, a batch held by an
// output that cannot store.
func TestOverflowExactlyOnce(t *testing.T) {
	t.Run("kill between sweep and commit", func(t *testing.T) {
		r := newOvRig(t)
		r.packets(5)
		r.sweep()
		if len(r.pending) == 0 {
			t.Fatal("the sweep made no overflow record")
		}
		r.start() // SIGKILL: the batch is gone with the process
		r.packets(3)
		r.settle()
	})
	t.Run("removal fails", func(t *testing.T) {
		r := newOvRig(t)
		r.packets(5)
		r.sweep()
		r.tab.FailRemoveOverflow(1)
		if err := r.commit(); err == nil {
			t.Error("a failed removal was not reported")
		}
		r.packets(2)
		r.settle()
	})
	t.Run("removal fails then kill", func(t *testing.T) {
		r := newOvRig(t)
		r.packets(5)
		r.sweep()
		r.tab.FailRemoveOverflow(1)
		r.commit()
		r.start()
		r.packets(2)
		r.settle()
	})
	t.Run("kill between removal and forget", func(t *testing.T) {
		r := newOvRig(t)
		r.packets(5)
		r.sweep()
		r.led.failForget = 1
		r.commit()
		r.start()
		// The same aggregates come back in the half whose ledger entries
		// were left behind: none of their packets may be taken as
		// already carried.
		for range 2 {
			r.packets(4)
			r.sweep()
			r.commit()
		}
		r.settle()
	})
	t.Run("held batch", func(t *testing.T) {
		r := newOvRig(t)
		r.packets(5)
		r.sweep()
		held := r.pending
		r.pending = nil
		before := r.tab.OverflowLen()
		for range 3 { // the output cannot store: the daemon does not sweep, packets go on
			r.packets(2)
			if !r.a.Uncommitted() {
				t.Fatal("records wait for the output, but the aggregator has nothing uncommitted")
			}
		}
		if r.tab.OverflowLen() < before {
			t.Errorf("aggregates removed while their records wait: %d left of %d", r.tab.OverflowLen(), before)
		}
		r.pending = held // the output recovers
		if err := r.commit(); err != nil {
			t.Fatal(err)
		}
		r.settle()
	})
	t.Run("held batch then kill", func(t *testing.T) {
		r := newOvRig(t)
		r.packets(5)
		r.sweep()
		r.packets(2)
		r.start()
		r.packets(1)
		r.settle()
	})
}
