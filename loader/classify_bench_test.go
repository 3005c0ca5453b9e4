package loader

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket/layers"
	"github.com/vxtap/vxtap/userspace/filter"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// benchCapacity holds a 4,096-rule ruleset twice over.
var benchCapacity = FilterCapacity{Rulesets: 4, Bitsets: 4 * filter.MaxRules, Blocks: 64, Slots: 2*filter.MaxRules + 16,
	Sessions: 4, ENIAddrs: 4, Nodes4: 64, Prefix6: 16}

// benchRules is n ingress rules of which only the last matches the
// benchmark packet: rule i is TCP to port 443 from 10.(i/256).(i%256).0/24,
// the first n-1 reject, the last accepts. The sources are consecutive
// /24s, so the last one sits at the bottom of a trie of n prefixes.
func benchRules(n int) *filter.Config {
	rules := make([]filter.Rule, n)
	for i := range rules {
		rules[i] = filter.Rule{Number: i + 1, Action: filter.Reject, Protocol: 6,
			Src:      netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24),
			Dst:      netip.MustParsePrefix("0.0.0.0/0"),
			DstPorts: filter.PortRange{From: 443, To: 443, Set: true}}
	}
	rules[n-1].Action = filter.Accept
	f := &filter.Filter{ID: "bench"}
	f.Rules[filter.Ingress] = rules
	return &filter.Config{Filters: map[string]*filter.Filter{"bench": f},
		Sessions: []*filter.Session{{VNI: 42, Name: "bench", Filter: "bench"}},
		Default:  filter.Session{Name: "default", Mode: filter.ModeAnalyze}}
}

// worstRules: n-1 rules alternately matching only the benchmark packet's
// source (10.0.0.0/8 to 192.0.2.0/24) and only its destination
// (172.16.0.0/12 to anywhere), then benchRules' last rule.
func worstRules(n int) *filter.Config {
	cfg := benchRules(n)
	rules := cfg.Filters["bench"].Rules[filter.Ingress]
	for i := 0; i < n-1; i++ {
		if i%2 == 0 {
			rules[i].Src, rules[i].Dst = netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24")
		} else {
			rules[i].Src = netip.MustParsePrefix("172.16.0.0/12")
		}
	}
	return cfg
}

// benchFrame is the packet rule n-1 alone matches: from inside its /24 to
// the source ENI (the outer source: ingress), TCP 443.
func benchFrame(b *testing.B, n int) []byte {
	k := n - 1
	src := netip.AddrFrom4([4]byte{10, byte(k >> 8), byte(k), 7})
	return mirrored(b, 42, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP, src, outerSrc4), tcpL(40000, 443), payload(100))
}

// BenchmarkClassify reports nanoseconds per packet for the whole program
// as the kernel measures them (BPF_PROG_TEST_RUN with repeat), with N
// rules and the last one deciding: rules=N is the bit-vector classifier,
// linear/rules=N the same program scanning the rules in order.
func BenchmarkClassify(b *testing.B) {
	testutil.RequirePrivileged(b)
	// Every packet classified: with the flow's kept decision replayed, the
	// repeated frame would measure the replay, not the classifier.
	cfg := DefaultConfig()
	cfg.FilterEnabled, cfg.NoVerdictCache = true, true
	cfg.MapSizes = benchCapacity.MapSizes()
	o, err := Load(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	lin := loadLinear(b)
	sizes := []int{1, 16, 256, 4096}
	for _, n := range sizes {
		comp := filter.Compile(benchRules(n))
		fm := o.FilterMaps()
		if _, err := fm.Apply(comp); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("rules=%d", n), benchProg(o.VxtapXdp, fm, comp, benchFrame(b, n)))
	}
	// Worst case of the bit-vector search: every 64-rule word holds rules
	// matching the source and others matching the destination, so all 64
	// summary bits survive the AND and only the last word decides.
	worst := filter.Compile(worstRules(filter.MaxRules))
	if _, err := o.FilterMaps().Apply(worst); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("worst-case/rules=%d", filter.MaxRules), benchProg(o.VxtapXdp, o.FilterMaps(), worst, benchFrame(b, filter.MaxRules)))
	for _, n := range sizes {
		comp := filter.Compile(benchRules(n))
		fm := lin.filterMaps()
		if _, err := fm.Apply(comp); err != nil {
			b.Fatal(err)
		}
		if err := lin.putRules(fm, comp); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("linear/rules=%d", n), benchProg(lin.VxtapXdp, fm, comp, benchFrame(b, n)))
	}
}

// benchProg runs the frame b.N times in the kernel, in five batches, and
// reports the median batch's ns per run (a batch that another task or an
// interrupt slowed down does not move the figure); it checks that the last
// rule decided every run.
func benchProg(prog *ebpf.Program, fm *FilterMaps, comp *filter.Compiled, frame []byte) func(*testing.B) {
	return func(b *testing.B) {
		gen, err := fm.ActiveGen()
		if err != nil {
			b.Fatal(err)
		}
		l := fm.layout(comp, gen)
		last := int(l.rulesetBase[0]) + len(comp.Rulesets[0].Rules) - 1
		before := slotPackets(b, fm, last)
		prog.Benchmark(frame, 1, nil) // the first run creates the flow
		const batches = 5
		per := max(b.N/batches, 1)
		var ds []time.Duration
		for i := 0; i < batches; i++ {
			_, d, err := prog.Benchmark(frame, per, nil)
			if err != nil {
				b.Fatal(err)
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		if got := slotPackets(b, fm, last) - before; got < uint64(per*batches)+1 {
			b.Fatalf("the last rule decided %d of %d runs", got, per*batches+1)
		}
		b.ReportMetric(float64(ds[batches/2].Nanoseconds()), "ns/op")
	}
}

// linearObjects is the baseline program with its maps.
type linearObjects struct {
	LinearObjects
}

func loadLinear(b *testing.B) *linearObjects {
	spec, err := LoadLinear()
	if err != nil {
		b.Fatal(err)
	}
	if err := spec.Variables["cfg_filter_enabled"].Set(uint8(1)); err != nil {
		b.Fatal(err)
	}
	for name, size := range benchCapacity.MapSizes() {
		spec.Maps[name].MaxEntries = size
	}
	spec.Maps["linear_rules"].MaxEntries = 2 * uint32(benchCapacity.Slots)
	lin := &linearObjects{}
	if err := spec.LoadAndAssign(&lin.LinearObjects, nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lin.Close() })
	return lin
}

func (lin *linearObjects) filterMaps() *FilterMaps {
	m := lin.LinearMaps
	return &FilterMaps{Gen: m.FilterGen, Sessions: m.FilterSessions, VNI: m.FilterVni, ENI: m.FilterEni, V4Root: m.FilterV4root,
		V4Node: m.FilterV4node, LPM6: m.FilterLpm6, Proto: m.FilterProto, PortTop: m.FilterPortTop, PortBlk: m.FilterPortBlk,
		Bitsets: m.FilterBitsets, Rules: m.FilterRules, Hits: m.RuleHits, Rulesets: m.FilterRulesets,
		ncpu: ebpf.MustPossibleCPU()}
}

// putRules writes the rules for the linear scan at their slots.
func (lin *linearObjects) putRules(fm *FilterMaps, comp *filter.Compiled) error {
	gen, err := fm.ActiveGen()
	if err != nil {
		return err
	}
	l := fm.layout(comp, gen)
	var keys []uint32
	var vals []LinearLinearRule
	for i, rs := range comp.Rulesets {
		for j, r := range rs.Rules {
			keys = append(keys, l.rulesetBase[i]+uint32(j))
			vals = append(vals, linearRule(r))
		}
	}
	return putBatch(lin.LinearRules, keys, vals)
}

// linearRule is a rule as the scan tests it: masked addresses in the
// packet's byte order, ports as inclusive ranges.
func linearRule(r filter.Rule) LinearLinearRule {
	lr := LinearLinearRule{Number: uint32(r.Number), Action: uint8(r.Action), SportHi: 65535, DportHi: 65535}
	if r.Protocol != filter.AnyProtocol {
		lr.HasProto, lr.Proto = 1, uint8(r.Protocol)
	}
	words := func(p netip.Prefix) (addr, mask [4]uint32) {
		if !p.IsValid() {
			return
		}
		var a, m [16]byte
		raw := p.Addr().AsSlice()
		copy(a[:], raw)
		for i := 0; i < p.Bits(); i++ {
			m[i/8] |= 0x80 >> (i % 8)
		}
		for w := range addr {
			addr[w] = binary.NativeEndian.Uint32(a[w*4:])
			mask[w] = binary.NativeEndian.Uint32(m[w*4:])
		}
		return
	}
	lr.Src, lr.SrcMask = words(r.Src)
	lr.Dst, lr.DstMask = words(r.Dst)
	for _, p := range []netip.Prefix{r.Src, r.Dst} {
		if p.IsValid() {
			lr.Family = 6
			if p.Addr().Is4() {
				lr.Family = 4
			}
		}
	}
	if r.SrcPorts.Set {
		lr.SportLo, lr.SportHi = r.SrcPorts.From, r.SrcPorts.To
	}
	if r.DstPorts.Set {
		lr.DportLo, lr.DportHi = r.DstPorts.From, r.DstPorts.To
	}
	return lr
}
