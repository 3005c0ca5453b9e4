package aggregate

import (
	"maps"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
)

// racyTable is the in-memory table with packets landing while a walk runs
// (between the walk and a removal), as they do on the real data path.
type racyTable struct {
	*flowtest.Table
	rnd  *rand.Rand
	sent map[flow.Key]uint64
	now  time.Time
}

func (t *racyTable) packet(k flow.Key, flags uint8) {
	t.Packet(k, 100, t.now, flags)
	t.sent[k]++
}

func (t *racyTable) Walk(fn func(flow.Key, flow.Counters)) error {
	var met []flow.Key
	err := t.Table.Walk(func(k flow.Key, c flow.Counters) {
		fn(k, c)
		met = append(met, k)
	})
	for _, k := range met {
		if t.rnd.IntN(10) == 0 {
			t.packet(k, 0) // lands after the walk read the flow
		}
	}
	return err
}

// memLedger is the pinned ledger map, outliving an aggregator.
type memLedger struct{ m map[flow.Key][2]uint64 }

func (l *memLedger) Load(fn func(k flow.Key, p, b uint64)) error {
	for k, v := range l.m {
		fn(k, v[0], v[1])
	}
	return nil
}
func (l *memLedger) Save(e map[flow.Key][2]uint64) error { maps.Copy(l.m, e); return nil }
func (l *memLedger) Forget(keys []flow.Key) error {
	for _, k := range keys {
		delete(l.m, k)
	}
	return nil
}

// TestDeferredCommitsLoseNothing: with commits deferred, records that are
// committed sum exactly to the packets the table counted, per flow, even
// when packets land between the walk and the removal, when a commit comes
// several sweeps late (an output that could not store), and when the
// aggregator is killed between a sweep and its commit (its uncommitted
// records never stored) or between a commit and the storing of its
// follow-up records (packets that came after the walk), and a new one
// starts from the ledger and the recovered table.
func TestDeferredCommitsLoseNothing(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rnd := rand.New(rand.NewPCG(seed, 3))
		tab := &racyTable{Table: flowtest.NewTable(), rnd: rnd, sent: map[flow.Key]uint64{}, now: t0}
		led := &memLedger{m: map[flow.Key][2]uint64{}}
		got := map[flow.Key]uint64{}
		cfg := Config{IdleTimeout: 3 * time.Second, ActiveTimeout: 5 * time.Second, EndGrace: time.Second, TableSize: 40}
		var pending []flow.Record // emitted, not yet stored
		start := func() *Aggregator {
			tab.Recover(led) // vxtap run: the flows a killed daemon detached come back
			a := New(cfg, tab, func(r flow.Record) { pending = append(pending, r) })
			a.DeferCommits()
			if err := a.UseLedger(led, tab.now); err != nil {
				t.Fatal(err)
			}
			return a
		}
		a := start()
		commit := func() {
			for {
				for _, r := range pending {
					got[r.Key()] += r.Packets
				}
				pending = nil
				n, err := a.Commit(tab.now)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					return
				}
			}
		}
		keys := make([]flow.Key, 50)
		for i := range keys {
			keys[i] = flow.Key{VNI: 7, Src: netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}), Dst: netip.MustParseAddr("198.19.0.1"), Proto: 6, SPort: uint16(i), DPort: 443}
		}
		for step := 0; step < 600; step++ {
			tab.now = tab.now.Add(time.Duration(rnd.IntN(4)) * 250 * time.Millisecond)
			switch op := rnd.IntN(20); {
			case op < 12:
				flags := uint8(0)
				if rnd.IntN(12) == 0 {
					flags = 0x01
				}
				tab.packet(keys[rnd.IntN(len(keys))], flags)
			case op < 17:
				tab.Read(tab.now, a.OnEvent, nil)
				if a.Uncommitted() {
					break // the daemon does not sweep while a batch waits
				}
				if _, err := a.Sweep(tab.now); err != nil {
					t.Fatal(err)
				}
				if rnd.IntN(3) > 0 {
					commit()
				}
			case op < 19:
				if a.Uncommitted() || len(pending) > 0 {
					commit()
				}
			default: // SIGKILL: what was not stored is gone with the process
				if rnd.IntN(2) == 0 && len(pending) > 0 {
					// ... after the commit, before its follow-up is stored
					for _, r := range pending {
						got[r.Key()] += r.Packets
					}
					pending = nil
					if _, err := a.Commit(tab.now); err != nil {
						t.Fatal(err)
					}
				}
				pending = nil
				a = start()
			}
		}
		if a.Uncommitted() || len(pending) > 0 {
			commit()
		}
		if _, err := a.Shutdown(tab.now, true); err != nil {
			t.Fatal(err)
		}
		commit()
		if tab.Len() != 0 || tab.Detached() != 0 {
			t.Errorf("seed %d: %d flows left in the table, %d detached", seed, tab.Len(), tab.Detached())
		}
		for k, n := range tab.sent {
			if got[k] != n {
				t.Errorf("seed %d: %v: records carry %d packets, %d were sent", seed, k, got[k], n)
			}
		}
		if len(led.m) != 0 {
			t.Errorf("seed %d: %d ledger entries left", seed, len(led.m))
		}
	}
}
