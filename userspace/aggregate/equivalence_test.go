package aggregate

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// The aggregator keeps its state in pointer-free slots for speed; these
// tests hold it to the reference implementation (reference_test.go) on
// random histories: every record, ledger write, statistic and count must
// be identical, in the same order.

// logEntry is one thing an aggregator did to the outside world.
type logEntry struct {
	rec    *flow.Record
	save   map[flow.Key][2]uint64
	forget []flow.Key
	remove []flow.Key
}

func (e logEntry) equal(o logEntry) bool {
	switch {
	case e.rec != nil || o.rec != nil:
		return e.rec != nil && o.rec != nil && *e.rec == *o.rec // == also compares locations and monotonic readings
	case e.save != nil || o.save != nil:
		return maps.Equal(e.save, o.save)
	case e.forget != nil || o.forget != nil:
		return slices.Equal(e.forget, o.forget)
	}
	return slices.Equal(e.remove, o.remove)
}

func (e logEntry) String() string {
	switch {
	case e.rec != nil:
		return fmt.Sprintf("record %+v", *e.rec)
	case e.save != nil:
		return fmt.Sprintf("save %v", e.save)
	case e.forget != nil:
		return fmt.Sprintf("forget %v", e.forget)
	}
	return fmt.Sprintf("remove %v", e.remove)
}

// scriptTable is a flow table whose walk can shuffle, and can meet a flow
// twice with more packets the second time, as a walk of a BPF hash map
// that changes under it does. Two tables built with the same seed and
// driven alike behave alike.
type scriptTable struct {
	flows   map[flow.Key]flow.Counters
	order   []flow.Key // walk order when not shuffled: flows join at random places
	rnd     *rand.Rand
	shuffle bool
	log     *[]logEntry
}

func newScriptTable(seed uint64, shuffle bool, log *[]logEntry) *scriptTable {
	return &scriptTable{flows: map[flow.Key]flow.Counters{}, rnd: rand.New(rand.NewPCG(seed, 7)), shuffle: shuffle, log: log}
}

func (t *scriptTable) put(k flow.Key, c flow.Counters) {
	if _, ok := t.flows[k]; !ok {
		t.order = slices.Insert(t.order, t.rnd.IntN(len(t.order)+1), k)
	}
	t.flows[k] = c
}

func (t *scriptTable) evict(k flow.Key) {
	delete(t.flows, k)
	t.order = slices.DeleteFunc(t.order, func(o flow.Key) bool { return o == k })
}

func (t *scriptTable) Walk(fn func(flow.Key, flow.Counters)) error {
	keys := slices.Clone(t.order)
	if t.shuffle {
		t.rnd.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	}
	for i := 0; i < len(keys); i++ {
		k := keys[i]
		c, ok := t.flows[k]
		if !ok {
			continue // removed while the walk ran
		}
		fn(k, c)
		if i < len(t.order) && t.rnd.IntN(40) == 0 { // a packet lands and the walk meets the flow again
			c := t.flows[k]
			c.Packets++
			c.Bytes += 60
			t.flows[k] = c
			keys = append(keys, k)
		}
	}
	return nil
}

func (t *scriptTable) Remove(keys []flow.Key) (map[flow.Key]flow.Counters, error) {
	*t.log = append(*t.log, logEntry{remove: slices.Clone(keys)})
	out := map[flow.Key]flow.Counters{}
	for _, k := range keys {
		if c, ok := t.flows[k]; ok {
			out[k] = c
			t.evict(k)
		}
	}
	return out, nil
}

// logLedger logs what it is told and loads a fixed list.
type logLedger struct {
	load []flow.Key
	log  *[]logEntry
}

func (l *logLedger) Load(fn func(k flow.Key, packets, bytes uint64)) error {
	for i, k := range l.load {
		fn(k, uint64(i+1), uint64(i+1)*100)
	}
	return nil
}

func (l *logLedger) Save(entries map[flow.Key][2]uint64) error {
	*l.log = append(*l.log, logEntry{save: maps.Clone(entries)})
	return nil
}

func (l *logLedger) Forget(keys []flow.Key) error {
	*l.log = append(*l.log, logEntry{forget: slices.Clone(keys)})
	return nil
}

// sweeper is what both implementations offer.
type sweeper interface {
	OnEvent(flow.Event)
	Sweep(time.Time) (Stats, error)
	Shutdown(time.Time, bool) (int, error)
	UseLedger(Ledger, time.Time) error
	Len() int
	totals() (records, evicted uint64)
}

func (a *Aggregator) totals() (uint64, uint64)    { return a.TotalRecords, a.TotalVanished }
func (a *refAggregator) totals() (uint64, uint64) { return a.TotalRecords, a.TotalVanished }

// side is one implementation with its own table and log.
type side struct {
	agg sweeper
	tab *scriptTable
	log []logEntry
}

// history describes one random run.
type history struct {
	seed    uint64
	shuffle bool   // the walk order changes every sweep
	clock   string // "wall": times without a monotonic reading; "mono": sweeps at time.Now()-based times; "mixed"
	ledger  bool
}

func TestMatchesReference(t *testing.T) {
	var hs []history
	for seed := uint64(1); seed <= 6; seed++ {
		for _, clk := range []string{"wall", "mono", "mixed"} {
			hs = append(hs, history{seed: seed, shuffle: seed%2 == 0, clock: clk, ledger: seed%3 != 0})
		}
	}
	for _, h := range hs {
		t.Run(fmt.Sprintf("seed%d-%s-shuffle%v-ledger%v", h.seed, h.clock, h.shuffle, h.ledger), func(t *testing.T) {
			runHistory(t, h)
		})
	}
}

func runHistory(t *testing.T, h history) {
	cfg := Config{IdleTimeout: 15 * time.Second, ActiveTimeout: 20 * time.Second, EndGrace: time.Second}
	var sides [2]*side
	for i := range sides {
		s := &side{}
		s.tab = newScriptTable(h.seed, h.shuffle, &s.log)
		emit := func(r flow.Record) { s.log = append(s.log, logEntry{rec: &r}) }
		if i == 0 {
			s.agg = newRef(cfg, s.tab, emit)
		} else {
			s.agg = New(cfg, s.tab, emit)
		}
		sides[i] = s
	}
	rnd := rand.New(rand.NewPCG(h.seed, 99))
	zones := []*time.Location{time.UTC, time.FixedZone("east", 3*3600), time.FixedZone("west", -5*3600)}
	keys := make([]flow.Key, 60)
	for i := range keys {
		src := netip.AddrFrom4([4]byte{10, 0, byte(i / 8), byte(i)})
		dst := netip.MustParseAddr("198.18.2.20")
		switch i % 5 {
		case 1:
			src = netip.AddrFrom16(src.As16()) // IPv4-mapped: a flow of its own
		case 2:
			src, dst = netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i)), netip.MustParseAddr("2001:db8::1")
		}
		keys[i] = flow.Key{VNI: uint32(i % 3), Src: src, Dst: dst, Proto: 6, SPort: uint16(1000 + i%7), DPort: 443}
	}
	keys[len(keys)-1] = flow.Key{} // packs to all zeroes, as a freed slot's key does
	monoBase := time.Now()
	wallBase := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clockAt := func(d time.Duration) time.Time {
		mono := h.clock == "mono" || (h.clock == "mixed" && rnd.IntN(2) == 0)
		if mono {
			return monoBase.Add(d)
		}
		return wallBase.Add(d)
	}
	if h.ledger {
		// Flows known before the ledger loads start over from it, and a
		// key loaded twice keeps its later totals.
		for _, k := range keys[:4] {
			ev := flow.Event{Type: flow.FlowStart, Time: wallBase, Key: k}
			for _, s := range sides {
				s.agg.OnEvent(ev)
			}
		}
		var load []flow.Key
		for i := 0; i < 20; i++ {
			load = append(load, keys[rnd.IntN(12)])
		}
		// Some of the loaded flows are in the table, with more or fewer
		// packets than their entry (the same flow, or a new one with the
		// key); the rest left it: their entries are forgotten.
		for _, k := range keys[:10] {
			c := flow.Counters{Packets: uint64(rnd.IntN(25)), First: wallBase, Last: wallBase}
			c.Bytes = c.Packets * 100
			for _, s := range sides {
				s.tab.put(k, c)
			}
		}
		at := clockAt(0)
		for _, s := range sides {
			if err := s.agg.UseLedger(&logLedger{load: load, log: &s.log}, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	elapsed := time.Duration(0)
	for step := 0; step < 400; step++ {
		elapsed += time.Duration(rnd.IntN(6)) * 500 * time.Millisecond // coarse, so timeouts land exactly on a sweep
		now := clockAt(elapsed)
		switch op := rnd.IntN(20); {
		case op < 12: // a packet, half of them on a few long-lived flows
			k := keys[rnd.IntN(len(keys))]
			if rnd.IntN(2) == 0 {
				k = keys[rnd.IntN(6)]
			}
			at := now.Round(0).In(zones[rnd.IntN(len(zones))]) // the data path's times: no monotonic reading
			flags := uint8(0x10)
			if rnd.IntN(15) == 0 {
				flags |= 0x01 // FIN
			}
			noFirst, lost := rnd.IntN(30) == 0, rnd.IntN(4) == 0
			for _, s := range sides {
				c, ok := s.tab.flows[k]
				if !ok {
					c = flow.Counters{First: at, MirrorSource: netip.MustParseAddr("10.9.9.9")}
					if noFirst {
						c.First = time.Time{} // a table entry whose first time was never written
					}
				}
				c.Packets++
				c.Bytes += uint64(60 + step)
				c.Last = at
				c.TCPFlags |= flags
				c.EndSeen = c.EndSeen || flags&0x01 != 0
				s.tab.put(k, c)
				if !ok && !lost { // some start events are lost
					s.agg.OnEvent(flow.Event{Type: flow.FlowStart, Time: at, Key: k})
				}
			}
		case op < 14: // a flow vanishes from the table behind the aggregator
			k := keys[rnd.IntN(len(keys))]
			for _, s := range sides {
				s.tab.evict(k)
			}
		case op == 14: // an event about a flow the table never got
			ev := flow.Event{Type: flow.FlowStart, Time: now.Round(0), Key: keys[rnd.IntN(len(keys))]}
			for _, s := range sides {
				s.agg.OnEvent(ev)
			}
		case op == 15 && step%50 == 0: // a shutdown that leaves the flows in place
			var n [2]int
			for i, s := range sides {
				var err error
				if n[i], err = s.agg.Shutdown(now, false); err != nil {
					t.Fatal(err)
				}
			}
			if n[0] != n[1] {
				t.Fatalf("step %d: shutdown emitted %d records, reference %d", step, n[1], n[0])
			}
		default:
			var st [2]Stats
			for i, s := range sides {
				var err error
				if st[i], err = s.agg.Sweep(now); err != nil {
					t.Fatal(err)
				}
				st[i].Duration = 0
			}
			if st[0] != st[1] {
				t.Fatalf("step %d: sweep stats %+v, reference %+v", step, st[1], st[0])
			}
		}
		compareSides(t, step, sides)
	}
	end := clockAt(elapsed + time.Hour)
	for _, s := range sides {
		if _, err := s.agg.Shutdown(end, true); err != nil {
			t.Fatal(err)
		}
	}
	compareSides(t, -1, sides)
	if len(sides[0].log) < 50 {
		t.Fatalf("history logged only %d entries: too short to compare", len(sides[0].log))
	}
}

func compareSides(t *testing.T, step int, sides [2]*side) {
	t.Helper()
	ref, got := sides[0], sides[1]
	for i := 0; i < max(len(ref.log), len(got.log)); i++ {
		if i >= len(ref.log) || i >= len(got.log) || !ref.log[i].equal(got.log[i]) {
			t.Fatalf("step %d: log entry %d differs:\n got %v\nwant %v", step, i, at(got.log, i), at(ref.log, i))
		}
	}
	if a, ok := got.agg.(*Aggregator); ok {
		checkStates(t, step, a.state)
	}
	if got.agg.Len() != ref.agg.Len() {
		t.Fatalf("step %d: knows %d flows, reference %d", step, got.agg.Len(), ref.agg.Len())
	}
	gr, ge := got.agg.totals()
	rr, re := ref.agg.totals()
	if gr != rr || ge != re {
		t.Fatalf("step %d: totals %d records %d evicted, reference %d and %d", step, gr, ge, rr, re)
	}
}

func at(log []logEntry, i int) any {
	if i < len(log) {
		return log[i]
	}
	return "nothing"
}

// checkStates checks the slot bookkeeping the aggregator's shortcuts rely
// on: the index and the used slots agree, and marked counts the slots the
// current sweep saw (a sweep that saw them all skips the eviction search).
func checkStates(t *testing.T, step int, s *states) {
	t.Helper()
	used, marked := 0, 0
	for i := range s.slots {
		sl := &s.slots[i]
		if !sl.used() {
			continue
		}
		used++
		if s.seenNow(sl) {
			marked++
		}
		k := s.key(uint32(i))
		if j, ok := s.get(&k); !ok || j != uint32(i) {
			t.Fatalf("step %d: slot %d is not indexed under its key", step, i)
		}
	}
	if used != s.index.Len() || marked != s.marked {
		t.Fatalf("step %d: %d used slots, %d indexed; %d seen this sweep, %d counted", step, used, s.index.Len(), marked, s.marked)
	}
}
