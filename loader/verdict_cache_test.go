package loader

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/filter"
	"github.com/vxtap/vxtap/userspace/filter/filtertest"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// loadVerdict loads the filtered program with the flow's kept decision
// replayed (cache) or every packet classified.
func loadVerdict(t testing.TB, cache bool) *Objects {
	t.Helper()
	cfg := DefaultConfig()
	cfg.FilterEnabled = true
	cfg.NoVerdictCache = !cache
	cfg.FlowTableSize = 1 << 14
	cfg.MapSizes = differentialCapacity.MapSizes()
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// otherOuter is a mirror source that is neither filtertest ENI: a copy of
// a known inner flow from it has no direction by its outer source.
var otherOuter = netip.MustParseAddr("198.18.77.1")

// TestVerdictCacheDifferential: a flow's later packets replay the decision
// its slot kept instead of being classified, and must be decided, counted
// and sampled exactly as when every packet is classified. Random rule sets
// are applied one after another to two programs, one replaying and one
// not, while the same pool of inner flows (half of it renewed per rule
// set) keeps sending, each copy from a random mirror source (so a flow's
// direction by outer source can change under it). Every packet is checked
// against the Go reference evaluator in both programs; at the end every
// reason and flag count (dir_unknown and sampled among them) and every
// flow's packets and bytes must be equal.
func TestVerdictCacheDifferential(t *testing.T) {
	testutil.RequirePrivileged(t)
	on, off := loadVerdict(t, true), loadVerdict(t, false)
	rng := rand.New(rand.NewPCG(15, 30))
	outers := []netip.Addr{filtertest.ENI4, filtertest.ENI6, otherOuter}
	var pool []filter.Packet
	total, repeats := 0, 0
	seen := map[filter.Packet]bool{}
	for round := 0; round < 24; round++ {
		n := []int{1, 3, 8, 40, 300, 4096}[round%6]
		// A round on one CPU, so the flows it repeats meet their cache.
		err := pinnedTo(round%runtime.NumCPU(), func() error {
			cfg := filtertest.Config(rng, filtertest.Options{Rules: n, Sessions: 5, V6Share: 40, Narrow: round%2 == 0})
			comp := filter.Compile(cfg)
			var l layout
			for _, o := range []*Objects{on, off} {
				if _, err := o.FilterMaps().Apply(comp); err != nil {
					t.Fatalf("round %d (%d rules): %v", round, n, err)
				}
				gen, err := o.FilterMaps().ActiveGen()
				if err != nil {
					t.Fatal(err)
				}
				l = o.FilterMaps().layout(comp, gen) // both programs use the same layout
			}
			// Half the pool carries on from the last rule set, half is new.
			for len(pool) < 64 {
				pool = append(pool, filtertest.Packet(rng, cfg))
			}
			for i := range pool {
				if rng.IntN(2) == 0 {
					pool[i] = filtertest.Packet(rng, cfg)
				}
			}
			want := map[int]uint64{}
			base := map[int][2]uint64{}
			for k := 0; k < 1500; k++ {
				p := pool[rng.IntN(len(pool))]
				p.OuterSrc = outers[rng.IntN(len(outers))]
				if seen[p] {
					repeats++
				}
				seen[p] = true
				slot := expectedSlot(comp, l, cfg.Evaluate(p))
				if _, ok := base[slot]; !ok {
					base[slot] = [2]uint64{slotPackets(t, on.FilterMaps(), slot), slotPackets(t, off.FilterMaps(), slot)}
				}
				frame := filterFrame(t, p)
				for j, o := range []*Objects{on, off} {
					if _, err := o.RunPacket(frame, time.Time{}); err != nil {
						t.Fatal(err)
					}
					if got := slotPackets(t, o.FilterMaps(), slot) - base[slot][j]; got != want[slot]+1 {
						t.Fatalf("round %d (%d rules), packet %d %+v, %s: counted %d under slot %d, the reference says %d",
							round, n, k, p, []string{"replaying", "classifying"}[j], got, slot, want[slot]+1)
					}
				}
				want[slot]++
				total++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, kind := range []string{"reasons", "flags"} {
		a, b := countsOf(t, on, kind), countsOf(t, off, kind)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s differ:\n replaying   %v\n classifying %v", kind, a, b)
		}
	}
	fa, fb := flowsOf(t, on), flowsOf(t, off)
	if len(fa) != len(fb) {
		t.Errorf("%d flows replaying, %d classifying", len(fa), len(fb))
	}
	for k, c := range fa {
		if d := fb[k]; d.Packets != c.Packets || d.Bytes != c.Bytes {
			t.Errorf("flow %v: %d packets %d bytes replaying, %d %d classifying", k, c.Packets, c.Bytes, d.Packets, d.Bytes)
		}
	}
	t.Logf("%d packets, %d of them repeats of a flow and source, over 24 rule sets: replaying and classifying agree with the reference", total, repeats)
	if repeats < total/2 {
		t.Errorf("only %d of %d packets repeat a flow: the replay is hardly exercised", repeats, total)
	}
}

// countsOf is a program's reason or flag packet counts by name.
func countsOf(t *testing.T, o *Objects, kind string) map[string]uint64 {
	t.Helper()
	reasons, flags, err := o.Counters()
	if err != nil {
		t.Fatal(err)
	}
	cs := reasons
	if kind == "flags" {
		cs = flags
	}
	m := map[string]uint64{}
	for _, c := range cs {
		m[c.Name] = c.Packets
	}
	return m
}

// flowsOf is a program's flow table.
func flowsOf(t *testing.T, o *Objects) map[flow.Key]flow.Counters {
	t.Helper()
	m := map[flow.Key]flow.Counters{}
	if err := o.Walk(func(k flow.Key, c flow.Counters) { m[k] = c }); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestVerdictKeptInSlot: the first packet of a flow leaves the decision in
// the flow's slot under the filter_gen value it read; a later packet is
// counted by what the slot keeps (shown by changing it behind the
// program's back); a packet from another mirror source is classified and
// leaves the slot as it was; and an apply makes the kept decision stale,
// so the next packet is classified again and stamps the new value.
func TestVerdictKeptInSlot(t *testing.T) {
	testutil.RequirePrivileged(t)
	// One CPU: the replay needs this CPU's flow cache to name the slot.
	if err := pinnedTo(0, func() error { verdictKeptInSlot(t); return nil }); err != nil {
		t.Fatal(err)
	}
}

func verdictKeptInSlot(t *testing.T) {
	o := loadVerdict(t, true)
	fm := o.FilterMaps()
	comp := compileYAML(t, "A.yaml", reloadA)
	if _, err := fm.Apply(comp); err != nil {
		t.Fatal(err)
	}
	// Rule 10 of A accepts it (ingress: to the outer source).
	p := filter.Packet{VNI: 42, OuterSrc: outerSrc4, Src: netip.MustParseAddr("10.1.1.1"), Dst: outerSrc4, Proto: 6, SrcPort: 1000, DstPort: 443}
	run := func(p filter.Packet) {
		t.Helper()
		if _, err := o.RunPacket(filterFrame(t, p), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	word := func() uint32 {
		var w uint32
		if err := fm.Gen.Lookup(uint32(0), &w); err != nil {
			t.Fatal(err)
		}
		return w
	}
	gen, err := fm.ActiveGen()
	if err != nil {
		t.Fatal(err)
	}
	l := fm.layout(comp, gen)
	rule10, rule20 := int(l.rulesetBase[0]), int(l.rulesetBase[0])+2
	run(p)
	s := &o.table.slots[0]
	v := atomic.LoadUint64(&s.Verdict)
	wantV := uint64(rule10|int(VxtapFilterVerdictFILTER_VERDICT_RULE))<<32 | uint64(word())
	if v != wantV {
		t.Fatalf("slot verdict %#x after the first packet, want %#x", v, wantV)
	}
	// The program now counts the flow by what its slot keeps.
	atomic.StoreUint64(&s.Verdict, uint64(rule20|int(VxtapFilterVerdictFILTER_VERDICT_RULE))<<32|uint64(word()))
	before := slotPackets(t, fm, rule20)
	run(p)
	if got := slotPackets(t, fm, rule20) - before; got != 1 {
		t.Fatalf("a packet of the flow counted %d times under the slot's kept rule, want 1 (not replayed)", got)
	}
	atomic.StoreUint64(&s.Verdict, v)
	// From another mirror source the flow has no direction by outer
	// source: classified (the session's unknown_direction: ingress, rule
	// 10), not replayed, and the slot keeps its first source's decision.
	q := p
	q.OuterSrc = otherOuter
	atomic.StoreUint64(&s.Verdict, uint64(rule20|int(VxtapFilterVerdictFILTER_VERDICT_RULE))<<32|uint64(word()))
	before10, before20 := slotPackets(t, fm, rule10), slotPackets(t, fm, rule20)
	run(q)
	if d10, d20 := slotPackets(t, fm, rule10)-before10, slotPackets(t, fm, rule20)-before20; d10 != 1 || d20 != 0 {
		t.Fatalf("a copy from another mirror source counted %d under rule 10, %d under the kept rule 20: want 1, 0", d10, d20)
	}
	if got := atomic.LoadUint64(&s.Verdict); got>>32 != uint64(rule20|int(VxtapFilterVerdictFILTER_VERDICT_RULE)) {
		t.Fatalf("a copy from another mirror source rewrote the slot's decision: %#x", got)
	}
	atomic.StoreUint64(&s.Verdict, v)
	// An apply, even of the same rules, counts one more apply: the kept
	// decision is stale and the next packet stamps the new value.
	w0 := word()
	if _, err := fm.Apply(comp); err != nil {
		t.Fatal(err)
	}
	w1 := word()
	shift := uint32(VxtapFilterConstFILTER_GEN_APPLY_SHIFT)
	if w1>>shift != w0>>shift+1 || w1&1 == w0&1 {
		t.Fatalf("filter_gen %#x after an apply of %#x: want the other generation and one more apply", w1, w0)
	}
	run(p)
	gen, err = fm.ActiveGen()
	if err != nil {
		t.Fatal(err)
	}
	l = fm.layout(comp, gen)
	wantV = uint64(int(l.rulesetBase[0])|int(VxtapFilterVerdictFILTER_VERDICT_RULE))<<32 | uint64(w1)
	if got := atomic.LoadUint64(&s.Verdict); got != wantV {
		t.Fatalf("slot verdict %#x after an apply and a packet, want %#x", got, wantV)
	}
}
