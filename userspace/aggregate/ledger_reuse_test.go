package aggregate

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
)

// dyingLedger is memLedger for a daemon killed right after its Remove:
// Forget never reaches the pinned map.
type dyingLedger struct {
	*memLedger
	dead bool
}

func (l *dyingLedger) Forget(keys []flow.Key) error {
	if l.dead {
		return errors.New("killed before forgetting")
	}
	return l.memLedger.Forget(keys)
}

// TestStaleLedgerEntryNotSubtractedFromNewFlow: a daemon killed between
// removing a finished flow and forgetting its ledger entry leaves the
// entry behind. When the 5-tuple comes back as a new flow with fewer
// packets than the old one had (the soak's vni 101 198.19.1.1:42394 ->
// 198.19.1.2:8080, 102 packets then 101), the restarted aggregator must
// not subtract the old flow's totals from the new one: every packet of
// the new flow is in a record.
func TestStaleLedgerEntryNotSubtractedFromNewFlow(t *testing.T) {
	k := flow.Key{VNI: 101, Src: netip.MustParseAddr("198.19.1.1"), Dst: netip.MustParseAddr("198.19.1.2"), Proto: 6, SPort: 42394, DPort: 8080}
	cfg := Config{IdleTimeout: 2 * time.Second, ActiveTimeout: time.Second, EndGrace: time.Second}
	for _, tc := range []struct {
		name string
		// before: the new flow's packets land before the restart reads
		// the ledger (the daemon was down); after: only after it.
		before, after int
	}{{"new flow started while down", 68, 33}, {"new flow started after restart", 0, 101}, {"split", 1, 100}} {
		t.Run(tc.name, func(t *testing.T) {
			tab := flowtest.NewTable()
			led := &dyingLedger{memLedger: &memLedger{m: map[flow.Key][2]uint64{}}}
			got := map[flow.Key]uint64{}
			var pending []flow.Record
			emit := func(r flow.Record) { pending = append(pending, r) }
			now := t0
			start := func() *Aggregator {
				a := New(cfg, tab, emit)
				a.DeferCommits()
				if err := a.UseLedger(led, now); err != nil {
					t.Fatal(err)
				}
				return a
			}
			settle := func(a *Aggregator) error {
				var err error
				for {
					for _, r := range pending {
						got[r.Key()] += r.Packets
					}
					pending = nil
					n, cerr := a.Commit(now)
					err = errors.Join(err, cerr)
					if n == 0 {
						return err
					}
				}
			}
			sweep := func(a *Aggregator) {
				tab.Read(now, a.OnEvent, nil)
				if _, err := a.Sweep(now); err != nil {
					t.Fatal(err)
				}
			}
			// First use: 102 packets, FIN, then the daemon removes it and
			// dies before Forget.
			a := start()
			for i := 0; i < 102; i++ {
				f := uint8(0x10)
				if i == 101 {
					f = 0x01
				}
				tab.Packet(k, 100, now, f)
			}
			now = now.Add(2 * time.Second)
			sweep(a)
			led.dead = true
			if err := settle(a); err == nil {
				t.Fatal("Forget did not fail")
			}
			if tab.Len() != 0 || got[k] != 102 {
				t.Fatalf("first use: %d flows left, %d packets in records", tab.Len(), got[k])
			}
			if _, ok := led.m[k]; !ok {
				t.Fatal("no stale ledger entry: the kill was not between Remove and Forget")
			}
			// Second use of the 5-tuple, 85 s later, across a restart.
			led.dead = false
			now = now.Add(85 * time.Second)
			for i := 0; i < tc.before; i++ {
				tab.Packet(k, 100, now, 0x10)
			}
			a = start()
			for i := 0; i < tc.after; i++ {
				f := uint8(0x10)
				if i == tc.after-1 {
					f = 0x01
				}
				tab.Packet(k, 100, now, f)
			}
			for range 4 {
				now = now.Add(time.Second)
				sweep(a)
				if err := settle(a); err != nil {
					t.Fatal(err)
				}
			}
			if tab.Len() != 0 {
				t.Fatalf("%d flows left in the table", tab.Len())
			}
			if want := uint64(102 + tc.before + tc.after); got[k] != want {
				t.Errorf("records carry %d packets of %d sent", got[k], want)
			}
			if len(led.m) != 0 {
				t.Errorf("ledger entries left: %v", led.m)
			}
		})
	}
}
