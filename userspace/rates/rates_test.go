package rates

import (
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func key(n int) flow.Key {
	return flow.Key{VNI: 101, Src: netip.AddrFrom4([4]byte{198, 18, byte(n >> 8), byte(n)}),
		Dst: netip.MustParseAddr("198.19.0.1"), Proto: 6, SPort: uint16(40000 + n), DPort: 443}
}

// sweep feeds one sweep of (key number -> packets, bytes) at time at.
func sweep(tr *Tracker, at, first time.Time, flows map[int][2]uint64) {
	for n, pb := range flows {
		tr.Observe(at, key(n), flow.Counters{Packets: pb[0], Bytes: pb[1], First: first, Last: at})
	}
	tr.EndSweep(at)
}

// view copies the published snapshot's header and flows out of View.
func view(tr *Tracker) (snap Snapshot, byKey map[flow.Key]Flow) {
	byKey = map[flow.Key]Flow{}
	tr.View(func(s *Snapshot) {
		snap = Snapshot{At: s.At, Interval: s.Interval, Sweeps: s.Sweeps, Totals: s.Totals}
		for i := range s.Len() {
			f := s.Flow(i)
			byKey[f.Key] = f
		}
	})
	return snap, byKey
}

// near allows for the tracker keeping rates as float32 (seven digits).
func near(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }

func TestRates(t *testing.T) {
	alpha := 1 - math.Exp(-1.0/10) // one-second sweeps, 10 s smoothing
	tests := []struct {
		name             string
		first            time.Duration // flow start relative to the first sweep
		sweeps           []map[int][2]uint64
		wantPPS, wantBPS float64 // flow 1 in the last sweep
		wantAvg          float64 // its smoothed packets/s
		wantN            int     // flows in the last snapshot
	}{
		{name: "first sweep: rates unknown", first: -time.Minute,
			sweeps: []map[int][2]uint64{{1: {10, 1000}}}, wantN: 1},
		{name: "two sweeps: delta over one second", first: -time.Minute,
			sweeps:  []map[int][2]uint64{{1: {10, 1000}}, {1: {30, 4000}}},
			wantPPS: 20, wantBPS: 3000, wantAvg: 20, wantN: 1},
		{name: "average follows with alpha", first: -time.Minute,
			sweeps:  []map[int][2]uint64{{1: {0, 0}}, {1: {10, 100}}, {1: {40, 400}}},
			wantPPS: 30, wantBPS: 300, wantAvg: 10 + alpha*(30-10), wantN: 1},
		{name: "counters went back: the flow restarted", first: -time.Minute,
			sweeps:  []map[int][2]uint64{{1: {0, 0}}, {1: {100, 1000}}, {1: {5, 50}}},
			wantPPS: 5, wantBPS: 50, wantAvg: 100 + alpha*(5-100), wantN: 1},
		{name: "a flow the sweep did not see is dropped", first: -time.Minute,
			sweeps:  []map[int][2]uint64{{1: {1, 1}, 2: {1, 1}}, {1: {2, 2}}},
			wantPPS: 1, wantBPS: 1, wantAvg: 1, wantN: 1},
		{name: "a flow new since the last sweep: all its packets are in the interval", first: 500 * time.Millisecond,
			sweeps:  []map[int][2]uint64{{}, {1: {7, 700}}},
			wantPPS: 7, wantBPS: 700, wantAvg: 7, wantN: 1},
		{name: "an old flow first seen now: rate unknown", first: -time.Minute,
			sweeps: []map[int][2]uint64{{}, {1: {7, 700}}}, wantN: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Config{Capacity: 4})
			for i, sw := range tc.sweeps {
				sweep(tr, t0.Add(time.Duration(i)*time.Second), t0.Add(tc.first), sw)
			}
			snap, got := view(tr)
			if snap.Totals.Flows != tc.wantN || len(got) != tc.wantN || tr.Len() != tc.wantN {
				t.Fatalf("flows: totals %d, snapshot %d, tracked %d; want %d", snap.Totals.Flows, len(got), tr.Len(), tc.wantN)
			}
			f := got[key(1)]
			if !near(f.PPS, tc.wantPPS) || !near(f.BPS, tc.wantBPS) || !near(f.AvgPPS, tc.wantAvg) {
				t.Errorf("pps %v bps %v avg %v; want %v %v %v", f.PPS, f.BPS, f.AvgPPS, tc.wantPPS, tc.wantBPS, tc.wantAvg)
			}
			wantInterval := time.Duration(0)
			if len(tc.sweeps) > 1 {
				wantInterval = time.Second
			}
			if snap.Interval != wantInterval || snap.Sweeps != uint64(len(tc.sweeps)) {
				t.Errorf("interval %v after %d sweeps; want %v after %d", snap.Interval, snap.Sweeps, wantInterval, len(tc.sweeps))
			}
		})
	}
}

func TestTotals(t *testing.T) {
	tr := New(Config{})
	first := t0.Add(-time.Hour)
	sweep(tr, t0, first, map[int][2]uint64{1: {10, 100}, 2: {20, 200}, 3: {30, 300}})
	sweep(tr, t0.Add(2*time.Second), first, map[int][2]uint64{1: {12, 120}, 2: {30, 300}, 3: {30, 300}})
	snap, _ := view(tr)
	want := Totals{Flows: 3, Packets: 72, Bytes: 720, PPS: 6, BPS: 60, AvgPPS: 6, AvgBPS: 60}
	if snap.Totals != want {
		t.Errorf("totals %+v, want %+v", snap.Totals, want)
	}
}

// A reader's snapshot does not change under it while sweeps come (they
// are skipped); the first sweep after it catches up.
func TestViewIsStableDuringSweeps(t *testing.T) {
	tr := New(Config{Capacity: 2})
	first := t0.Add(-time.Hour)
	sweep(tr, t0, first, map[int][2]uint64{1: {1, 1}})
	tr.View(func(s *Snapshot) {
		held := s.Flow(0)
		for i := 1; i <= 5; i++ {
			sweep(tr, t0.Add(time.Duration(i)*time.Second), first, map[int][2]uint64{1: {uint64(1 + i), 1}, 2: {1, 1}})
		}
		if s.Len() != 1 || s.Flow(0) != held || s.Sweeps != 1 {
			t.Fatalf("snapshot changed under the reader: sweep %d, %+v", s.Sweeps, s.Flow(0))
		}
	})
	sweep(tr, t0.Add(6*time.Second), first, map[int][2]uint64{1: {7, 1}, 2: {1, 1}})
	snap, got := view(tr)
	if snap.Sweeps != 2 || len(got) != 2 || got[key(1)].PPS != 1 || tr.Skipped() != 5 {
		t.Fatalf("after the reader: sweep %d with %d flows (flow 1 %+v, %d skipped), want 2 with 2",
			snap.Sweeps, len(got), got[key(1)], tr.Skipped())
	}
}

func TestSweepFromFlowSource(t *testing.T) {
	tab := flowtest.NewTable()
	tr := New(Config{})
	k := key(1)
	tab.Packet(k, 100, t0.Add(-time.Minute), 0)
	if err := tr.Sweep(tab, t0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		tab.Packet(k, 250, t0, 0)
	}
	if err := tr.Sweep(tab, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	_, got := view(tr)
	if f := got[k]; f.PPS != 2 || f.BPS != 500 || f.Packets != 5 || f.Bytes != 1100 {
		t.Errorf("got %+v, want 2 pkt/s, 500 B/s, 5 packets, 1100 bytes", f)
	}
}

func TestCompactKey(t *testing.T) {
	a := flow.Key{VNI: 7, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: 6, SPort: 1, DPort: 2}
	mapped := a
	mapped.Src, mapped.Dst = netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("::ffff:10.0.0.2")
	tests := []struct {
		name string
		b    flow.Key
	}{
		{"IPv4-mapped IPv6", mapped},
		{"vni", flow.Key{VNI: 8, Src: a.Src, Dst: a.Dst, Proto: 6, SPort: 1, DPort: 2}},
		{"swapped addresses", flow.Key{VNI: 7, Src: a.Dst, Dst: a.Src, Proto: 6, SPort: 1, DPort: 2}},
		{"proto", flow.Key{VNI: 7, Src: a.Src, Dst: a.Dst, Proto: 17, SPort: 1, DPort: 2}},
		{"swapped ports", flow.Key{VNI: 7, Src: a.Src, Dst: a.Dst, Proto: 6, SPort: 2, DPort: 1}},
	}
	for _, tc := range tests {
		if compact(a) == compact(tc.b) {
			t.Errorf("%s: %v and %v share a compact key", tc.name, a, tc.b)
		}
	}
}

// After the first sweeps the steady path allocates nothing.
func TestSteadySweepDoesNotAllocate(t *testing.T) {
	const n = 1000
	keys := make([]flow.Key, n)
	for i := range keys {
		keys[i] = key(i)
	}
	tr := New(Config{Capacity: n})
	at := t0
	c := flow.Counters{First: t0.Add(-time.Hour)}
	run := func() {
		at = at.Add(time.Second)
		c.Packets++
		c.Bytes += 100
		for _, k := range keys {
			tr.Observe(at, k, c)
		}
		tr.EndSweep(at)
	}
	run()
	run()
	if a := testing.AllocsPerRun(10, run); a != 0 {
		t.Errorf("%v allocations per steady sweep, want 0", a)
	}
}

// The walk-order shortcut must give the same rates as the map when flows
// come, go and move between sweeps.
func TestWalkOrderChanges(t *testing.T) {
	first := t0.Add(-time.Hour)
	tests := []struct {
		name  string
		order [][]int // flow numbers in walk order, one list per sweep
	}{
		{"stable", [][]int{{1, 2, 3, 4}, {1, 2, 3, 4}, {1, 2, 3, 4}}},
		{"insert in the middle", [][]int{{1, 2, 3, 4}, {1, 2, 9, 3, 4}, {1, 2, 9, 3, 4}}},
		{"remove in the middle", [][]int{{1, 2, 3, 4}, {1, 3, 4}, {1, 4}}},
		{"reversed", [][]int{{1, 2, 3, 4}, {4, 3, 2, 1}, {1, 2, 3, 4}}},
		{"rotated", [][]int{{1, 2, 3, 4}, {3, 4, 1, 2}, {2, 3, 4, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Config{})
			for s, order := range tc.order {
				at := t0.Add(time.Duration(s) * time.Second)
				for _, n := range order {
					// flow n has sent n packets of 100 bytes per second
					tr.Observe(at, key(n), flow.Counters{Packets: uint64(n * (s + 1)), Bytes: uint64(100 * n * (s + 1)), First: first})
				}
				tr.EndSweep(at)
			}
			last := tc.order[len(tc.order)-1]
			prev := map[int]bool{}
			for _, n := range tc.order[len(tc.order)-2] {
				prev[n] = true
			}
			_, got := view(tr)
			if len(got) != len(last) || tr.Len() != len(last) {
				t.Fatalf("%d flows in the snapshot, %d tracked; want %d", len(got), tr.Len(), len(last))
			}
			for _, n := range last {
				want := float64(n)
				if !prev[n] {
					want = 0 // first seen now and older than the last sweep: unknown
				}
				if f := got[key(n)]; f.PPS != want || f.BPS != 100*want {
					t.Errorf("flow %d: %v pkt/s %v B/s, want %v and %v", n, f.PPS, f.BPS, want, 100*want)
				}
			}
		})
	}
}

// A flow a walk meets twice is counted once.
func TestDuplicateInWalk(t *testing.T) {
	tr := New(Config{})
	first := t0.Add(-time.Hour)
	for s := 0; s < 2; s++ {
		at := t0.Add(time.Duration(s) * time.Second)
		c := flow.Counters{Packets: uint64(10 * (s + 1)), Bytes: uint64(1000 * (s + 1)), First: first}
		tr.Observe(at, key(1), c)
		tr.Observe(at, key(2), c)
		tr.Observe(at, key(1), c)
		tr.EndSweep(at)
	}
	snap, got := view(tr)
	if snap.Totals.Flows != 2 || snap.Totals.Packets != 40 || got[key(1)].PPS != 10 {
		t.Errorf("totals %+v, flow 1 %+v", snap.Totals, got[key(1)])
	}
}

// A sweep that begins while a reader reads is skipped, not waited for:
// the reader's flows stay as they were, and the next sweep measures the
// rates over the whole time since the last one it made.
func TestSweepsSkippedWhileRead(t *testing.T) {
	tr := New(Config{Capacity: 64})
	first := t0.Add(-time.Hour)
	flows := func(from, to int, packets uint64) map[int][2]uint64 {
		m := map[int][2]uint64{}
		for n := from; n < to; n++ {
			m[n] = [2]uint64{packets, 100 * packets}
		}
		return m
	}
	sweep(tr, t0, first, flows(0, 10, 10))
	sweep(tr, t0.Add(time.Second), first, flows(0, 10, 20))
	tr.View(func(s *Snapshot) {
		before := map[int]Flow{}
		for i := range s.Len() {
			before[i] = s.Flow(i)
		}
		for i := 2; i <= 4; i++ { // flows 0..9 go, 10..19 come: while read, none of it happens
			sweep(tr, t0.Add(time.Duration(i)*time.Second), first, flows(10, 20, 5))
		}
		for i := range s.Len() {
			if got := s.Flow(i); got != before[i] {
				t.Fatalf("flow %d changed under the reader: %+v, was %+v", i, got, before[i])
			}
		}
	})
	if n := tr.Skipped(); n != 3 {
		t.Errorf("%d sweeps skipped, want 3", n)
	}
	// Flows 0..4 went on from 20 to 60 packets over the 4 s since the
	// last sweep made: 10 packets/s; flows 5..9 left.
	sweep(tr, t0.Add(5*time.Second), first, flows(0, 5, 60))
	snap, got := view(tr)
	if snap.Sweeps != 3 || snap.Interval != 4*time.Second || len(got) != 5 || got[key(1)].PPS != 10 || got[key(1)].BPS != 1000 {
		t.Errorf("after the skips: sweep %d over %v, %d flows, flow 1 %+v", snap.Sweeps, snap.Interval, len(got), got[key(1)])
	}
	// Freed slots are reused at once: no reader can show them.
	for i := 6; i <= 40; i++ {
		sweep(tr, t0.Add(time.Duration(i)*time.Second), first, flows(10*i, 10*i+10, 1))
	}
	if n := len(tr.ids); n > 20 {
		t.Errorf("%d slots for 10 live flows", n)
	}
}

// After one skipped sweep a new reader reads at once; after two in a row
// it waits for the sweep that catches up, so views one after another
// cannot keep the rates stale.
func TestReaderWaitsAfterSkips(t *testing.T) {
	tr := New(Config{})
	first := t0.Add(-time.Hour)
	sweep(tr, t0, first, map[int][2]uint64{1: {1, 1}})
	tr.View(func(*Snapshot) { sweep(tr, t0.Add(time.Second), first, map[int][2]uint64{1: {2, 2}}) })
	done := make(chan struct{})
	go func() { tr.View(func(*Snapshot) {}); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("a reader after one skip waited")
	}
	tr.View(func(*Snapshot) { sweep(tr, t0.Add(time.Second), first, map[int][2]uint64{1: {2, 2}}) })
	got := make(chan uint64)
	go func() { tr.View(func(s *Snapshot) { got <- s.Sweeps }) }()
	select {
	case n := <-got:
		t.Fatalf("a reader after the skip read sweep %d before the catching-up sweep", n)
	case <-time.After(50 * time.Millisecond):
	}
	sweep(tr, t0.Add(2*time.Second), first, map[int][2]uint64{1: {3, 3}})
	if n := <-got; n != 2 {
		t.Errorf("reader read sweep %d, want 2", n)
	}
}

// A flow whose mirror source or direction changes shows the new ones,
// keeping its rates.
func TestMirrorChange(t *testing.T) {
	tr := New(Config{})
	first := t0.Add(-time.Hour)
	m1, m2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1")
	tr.Observe(t0, key(1), flow.Counters{Packets: 10, Bytes: 100, First: first, MirrorSource: m1, Direction: flow.DirIngress})
	tr.EndSweep(t0)
	tr.Observe(t0.Add(time.Second), key(1), flow.Counters{Packets: 30, Bytes: 300, First: first, MirrorSource: m2, Direction: flow.DirEgress})
	tr.EndSweep(t0.Add(time.Second))
	_, got := view(tr)
	if f := got[key(1)]; f.MirrorSource != m2 || f.Direction != flow.DirEgress || f.PPS != 20 || f.Packets != 30 || tr.Len() != 1 {
		t.Errorf("after the change: %+v (%d tracked)", f, tr.Len())
	}
}

// A mirror entry freed and reused for another source is not taken for
// the source it last matched (the mirror table remembers its last match).
func TestMirrorEntryReused(t *testing.T) {
	tr := New(Config{})
	first := t0.Add(-time.Hour)
	m1, m2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	at := t0
	obs := func(n int, m netip.Addr) {
		tr.Observe(at, key(n), flow.Counters{Packets: 1, Bytes: 1, First: first, MirrorSource: m})
	}
	for _, step := range []struct {
		n int
		m netip.Addr
	}{{1, m1}, {1, m1}, {0, netip.Addr{}}, {2, m2}, {2, m1}} {
		if step.n != 0 {
			obs(step.n, step.m) // flow 1 leaves at step 3, its entry going to m2 at step 4
		}
		tr.EndSweep(at)
		at = at.Add(time.Second)
	}
	if _, got := view(tr); got[key(2)].MirrorSource != m1 {
		t.Errorf("flow 2 shows mirror source %v, want %v", got[key(2)].MirrorSource, m1)
	}
}

// Readers on other goroutines while sweeps run and flows churn: every
// snapshot is one whole sweep (run with -race).
func TestConcurrentReaders(t *testing.T) {
	tr := New(Config{Capacity: 256})
	first := t0.Add(-time.Hour)
	done := make(chan struct{})
	errs := make(chan string, 4)
	for range 2 {
		go func() {
			for {
				select {
				case <-done:
					errs <- ""
					return
				default:
				}
				tr.View(func(s *Snapshot) {
					// Sweep i holds flows i..i+49, each with packets = its number.
					var sum uint64
					for j := range s.Len() {
						f := s.Flow(j)
						if uint64(f.Key.SPort-40000) != f.Packets {
							errs <- fmt.Sprintf("flow %v with %d packets", f.Key, f.Packets)
						}
						sum += f.Packets
					}
					if sum != s.Totals.Packets || s.Len() != s.Totals.Flows {
						errs <- fmt.Sprintf("sweep %d: rows sum to %d packets in %d flows, totals %+v", s.Sweeps, sum, s.Len(), s.Totals)
					}
				})
			}
		}()
	}
	for i := range 300 {
		m := map[int][2]uint64{}
		for n := i; n < i+50; n++ {
			m[n] = [2]uint64{uint64(n), 1}
		}
		sweep(tr, t0.Add(time.Duration(i)*time.Second), first, m)
	}
	close(done)
	for range 2 {
		for e := <-errs; e != ""; e = <-errs {
			t.Fatal(e)
		}
	}
}

// Mirror sources are interned while flows use them and reclaimed after:
// a stream of flows from ever new sources does not grow the table.
func TestMirrorTableReclaimed(t *testing.T) {
	tr := New(Config{})
	first := t0.Add(-time.Hour)
	for s := range 50 {
		at := t0.Add(time.Duration(s) * time.Second)
		for n := range 10 {
			m := netip.AddrFrom4([4]byte{10, 0, byte(s), byte(n)})
			tr.Observe(at, key(100*s+n), flow.Counters{Packets: 1, Bytes: 1, First: first, MirrorSource: m})
		}
		tr.EndSweep(at)
	}
	_, got := view(tr)
	if len(got) != 10 || got[key(4903)].MirrorSource != netip.AddrFrom4([4]byte{10, 0, 49, 3}) {
		t.Fatalf("last sweep: %d flows, flow 4903 %+v", len(got), got[key(4903)])
	}
	if n := len(tr.mirrors.entries); n > 30 || len(tr.mirrors.byAddr) > 20 {
		t.Errorf("%d mirror entries (%d in use) for 10 live flows", n, len(tr.mirrors.byAddr))
	}
}

// What a million flows cost per slot: keep it there.
func TestSlotSizes(t *testing.T) {
	if n := unsafe.Sizeof(ident{}) + unsafe.Sizeof(nums{}) + 4; n != 60 {
		t.Errorf("identity, numbers and state are %d bytes a flow, want 60", n)
	}
}

// IPv6 flows keep their addresses in the key store's address table,
// each distinct one once: their keys read back whole, and a flow that
// goes gives its addresses back.
func TestIPv6Keys(t *testing.T) {
	tr := New(Config{})
	first := t0.Add(-time.Hour)
	key6 := func(n int) flow.Key {
		return flow.Key{VNI: 7, Src: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(n >> 8), 15: byte(n)}),
			Dst: netip.MustParseAddr("2001:db8::53"), Proto: 17, SPort: uint16(n), DPort: 53}
	}
	for s := range 20 {
		at := t0.Add(time.Duration(s) * time.Second)
		for n := 10 * s; n < 10*s+30; n++ { // 30 live IPv6 flows and 30 IPv4, 10 of each new a sweep
			tr.Observe(at, key6(n), flow.Counters{Packets: uint64(s), Bytes: 1, First: first})
			tr.Observe(at, key(n), flow.Counters{Packets: uint64(s), Bytes: 1, First: first})
		}
		tr.EndSweep(at)
	}
	_, got := view(tr)
	for n := 190; n < 220; n++ {
		if f, ok := got[key6(n)]; !ok || f.Packets != 19 {
			t.Errorf("flow %v: %+v (%v)", key6(n), f, ok)
		}
		if _, ok := got[key(n)]; !ok {
			t.Errorf("flow %v missing", key(n))
		}
	}
	if len(got) != 60 || tr.keys.Long() != 30 || tr.keys.Addrs() != 31 {
		t.Errorf("%d flows; address table holds %d keys' %d addresses, want 30 keys' 31 (one destination)", len(got), tr.keys.Long(), tr.keys.Addrs())
	}
}

// The snapshot's unpacking shortcuts (Key, Addrs, Ports, MirrorAddr,
// Diff) agree with the flows as given, IPv4, IPv6, mixed and absent
// addresses alike.
func TestSnapshotAccessors(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.19.7.9"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:198.18.0.1"), {}}
	mirrors := []netip.Addr{netip.MustParseAddr("198.18.255.1"), netip.MustParseAddr("2001:db8::ff")}
	var fs []Flow
	for i, src := range addrs {
		for j, dst := range addrs {
			fs = append(fs, Flow{Key: flow.Key{VNI: uint32(i * 70000), Src: src, Dst: dst, Proto: uint8(6 + j),
				SPort: uint16(i * 300), DPort: uint16(j * 500)}, MirrorSource: mirrors[(i+j)%2], Direction: flow.Direction(j % 3)})
		}
	}
	fam := func(a netip.Addr) uint8 {
		switch {
		case a.Is4():
			return Family4
		case a.Is6():
			return Family6
		}
		return FamilyNone
	}
	s := NewSnapshot(t0, time.Second, 1, fs)
	for i, f := range fs {
		if got := s.Key(i); got != f.Key {
			t.Errorf("Key(%d) = %v, want %v", i, got, f.Key)
		}
		src, dst, sf, df := s.Addrs(i)
		if src != f.Key.Src.As16() || dst != f.Key.Dst.As16() || sf != fam(f.Key.Src) || df != fam(f.Key.Dst) {
			t.Errorf("Addrs(%d) = %x %x %d %d for %v", i, src, dst, sf, df, f.Key)
		}
		if vni, proto, dport := s.Ports(i); vni != f.Key.VNI || proto != f.Key.Proto || dport != f.Key.DPort {
			t.Errorf("Ports(%d) = %d %d %d for %v", i, vni, proto, dport, f.Key)
		}
		if m, mf := s.MirrorAddr(i); m != f.MirrorSource.As16() || mf != fam(f.MirrorSource) {
			t.Errorf("MirrorAddr(%d) = %x %d", i, m, mf)
		}
		for j, g := range fs {
			var want uint8
			for _, c := range []struct {
				bit  uint8
				diff bool
			}{{DiffVNI, f.Key.VNI != g.Key.VNI}, {DiffMirror, f.MirrorSource != g.MirrorSource}, {DiffSrc, f.Key.Src != g.Key.Src},
				{DiffDst, f.Key.Dst != g.Key.Dst}, {DiffProto, f.Key.Proto != g.Key.Proto},
				{DiffSPort, f.Key.SPort != g.Key.SPort}, {DiffDPort, f.Key.DPort != g.Key.DPort}} {
				if c.diff {
					want |= c.bit
				}
			}
			if got := s.Diff(i, j); got != want {
				t.Errorf("Diff(%v, %v) = %b, want %b", f.Key, g.Key, got, want)
			}
		}
	}
}
