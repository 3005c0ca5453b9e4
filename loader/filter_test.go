package loader

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/filter"
	"github.com/vxtap/vxtap/userspace/filter/filtertest"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestFilterEnumsMatchGo: the Go model's numbering is what the C enums
// say, since loader/filter_apply.go writes one as the other.
func TestFilterEnumsMatchGo(t *testing.T) {
	for _, c := range []struct {
		name   string
		goV, c uint32
	}{
		{"accept", uint32(filter.Accept), uint32(VxtapFilterActionFILTER_ACCEPT)},
		{"reject", uint32(filter.Reject), uint32(VxtapFilterActionFILTER_REJECT)},
		{"ingress", uint32(filter.Ingress), uint32(VxtapFilterDirFILTER_DIR_INGRESS)},
		{"egress", uint32(filter.Egress), uint32(VxtapFilterDirFILTER_DIR_EGRESS)},
		{"mode filter", uint32(filter.ModeFilter), uint32(VxtapFilterModeFILTER_MODE_RULES)},
		{"mode analyze", uint32(filter.ModeAnalyze), uint32(VxtapFilterModeFILTER_MODE_ACCEPT)},
		{"mode reject", uint32(filter.ModeReject), uint32(VxtapFilterModeFILTER_MODE_REJECT)},
		{"unknown analyze", uint32(filter.UnknownAnalyze), uint32(VxtapFilterUnknownFILTER_UNKNOWN_ACCEPT)},
		{"unknown reject", uint32(filter.UnknownReject), uint32(VxtapFilterUnknownFILTER_UNKNOWN_REJECT)},
		{"unknown ingress", uint32(filter.UnknownIngress), uint32(VxtapFilterUnknownFILTER_UNKNOWN_INGRESS)},
		{"unknown egress", uint32(filter.UnknownEgress), uint32(VxtapFilterUnknownFILTER_UNKNOWN_EGRESS)},
		{"max rules", filter.MaxRules, uint32(VxtapFilterConstFILTER_MAX_RULES)},
		{"mode unknown_vni", uint32(filter.ModeUnknownVNI), uint32(VxtapFilterModeFILTER_MODE_UNKNOWN_VNI)},
		{"field src", filter.FieldSrc, uint32(VxtapFilterLayoutFILTER_FIELD_SRC)},
		{"field dst", filter.FieldDst, uint32(VxtapFilterLayoutFILTER_FIELD_DST)},
	} {
		if c.goV != c.c {
			t.Errorf("%s: Go %d, C %d", c.name, c.goV, c.c)
		}
	}
}

// differentialCapacity holds the largest random rule sets in either generation.
var differentialCapacity = FilterCapacity{Rulesets: 8, Bitsets: 16000, Blocks: 256, Slots: 2*filter.MaxRules + 64,
	Sessions: 16, ENIAddrs: 32, Nodes4: 6000, Prefix6: 16000}

// TestFilterDifferential runs random packets through the real program
// (BPF_PROG_TEST_RUN) over random rule sets of 1 to 4,096 rules, IPv4 and
// IPv6, overlapping CIDRs and port ranges, and checks every packet against
// the reference evaluator: the hit counter of the rule (or no-match,
// network-service or session slot) that decides it must move, and in total
// the packets rejected and analyzed must be the evaluator's.
func TestFilterDifferential(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadFiltered(t, differentialCapacity)
	fm := o.FilterMaps()
	type set struct {
		rules, packets int
		opts           filtertest.Options
	}
	var sets []set
	for _, n := range []int{1, 1, 2, 3, 4, 8, 16, 40, 100, 300} {
		sets = append(sets, set{n, 5000, filtertest.Options{V6Share: 50}})
	}
	sets = append(sets,
		set{5, 4000, filtertest.Options{V6Share: 50, AWSLike: true}},
		set{64, 6000, filtertest.Options{V6Share: 30, Narrow: true}},
		set{1000, 8000, filtertest.Options{V6Share: 50, Narrow: true}},
		set{1000, 6000, filtertest.Options{V6Share: 20}},
		set{4096, 16000, filtertest.Options{V6Share: 50, Narrow: true}},
		set{4096, 8000, filtertest.Options{V6Share: 50}},
		set{4096, 8000, filtertest.Options{V6Share: 0, AWSLike: true, Narrow: true}},
		set{4096, 6000, filtertest.Options{V6Share: 100, Narrow: true}},
	)
	total, deep := 0, 0
	var need FilterCapacity
	rejectBase, flowBase := reasonPackets(t, o, "filter_reject"), reasonPackets(t, o, "flow")
	var wantReject, wantAccept uint64
	for i, s := range sets {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		s.opts.Rules, s.opts.Sessions = s.rules, 5
		cfg := filtertest.Config(rng, s.opts)
		comp := filter.Compile(cfg)
		if _, err := fm.Apply(comp); err != nil {
			t.Fatalf("set %d (%d rules): %v", i, s.rules, err)
		}
		need = need.Max(CapacityFor(comp))
		gen, err := fm.ActiveGen()
		if err != nil {
			t.Fatal(err)
		}
		l := fm.layout(comp, gen)
		want := map[int]uint64{}
		for n := 0; n < s.packets; n++ {
			p := filtertest.Packet(rng, cfg)
			d := cfg.Evaluate(p)
			slot := expectedSlot(comp, l, d)
			if _, err := o.RunPacket(filterFrame(t, p), time.Time{}); err != nil {
				t.Fatal(err)
			}
			want[slot]++
			if got := slotPackets(t, fm, slot); got != want[slot] {
				t.Fatalf("set %d (%d rules), packet %d %+v: the reference says %s by %s (rule index %d, slot %d); the kernel did not count it there (%d, want %d)",
					i, s.rules, n, p, map[bool]string{true: "accept", false: "reject"}[d.Accept], d.By, d.RuleIndex, slot, got, want[slot])
			}
			if d.Accept {
				wantAccept++
			} else {
				wantReject++
			}
			if d.RuleIndex >= 256 {
				deep++
			}
			total++
		}
	}
	if got := reasonPackets(t, o, "filter_reject") - rejectBase; got != wantReject {
		t.Errorf("filter_reject counted %d packets, the reference rejected %d", got, wantReject)
	}
	if got := reasonPackets(t, o, "flow") - flowBase; got != wantAccept {
		t.Errorf("flow counted %d packets, the reference accepted %d", got, wantAccept)
	}
	t.Logf("%d packets over %d rule sets: 0 disagreements (%d accepted, %d rejected, %d decided by a rule at index >= 256)",
		total, len(sets), wantAccept, wantReject, deep)
	t.Logf("largest tables: %+v", need)
	if total < 100000 {
		t.Errorf("only %d packets", total)
	}
}

// TestFilterApplyKeepsRulesOnFailure: a rule set that does not fit is
// refused before anything changes; the running rules keep deciding.
func TestFilterApplyKeepsRulesOnFailure(t *testing.T) {
	testutil.RequirePrivileged(t)
	small := DefaultFilterCapacity
	small.Slots = 64
	o := loadFiltered(t, small)
	fm := o.FilterMaps()
	rng := rand.New(rand.NewPCG(1, 1))
	cfg := filtertest.Config(rng, filtertest.Options{Rules: 10, Sessions: 2})
	comp := filter.Compile(cfg)
	if _, err := fm.Apply(comp); err != nil {
		t.Fatal(err)
	}
	before, _ := fm.ActiveGen()
	big := filtertest.Config(rng, filtertest.Options{Rules: 100, Sessions: 2})
	if _, err := fm.Apply(filter.Compile(big)); err == nil {
		t.Fatal("a rule set larger than the tables was applied")
	} else {
		t.Logf("refused: %v", err)
	}
	if after, _ := fm.ActiveGen(); after != before {
		t.Fatalf("generation moved from %d to %d", before, after)
	}
	l := fm.layout(comp, before)
	for n := 0; n < 300; n++ {
		p := filtertest.Packet(rng, cfg)
		slot := expectedSlot(comp, l, cfg.Evaluate(p))
		b := slotPackets(t, fm, slot)
		if _, err := o.RunPacket(filterFrame(t, p), time.Time{}); err != nil {
			t.Fatal(err)
		}
		if slotPackets(t, fm, slot) != b+1 {
			t.Fatalf("packet %+v not decided by the old rules (slot %d)", p, slot)
		}
	}
}

// TestFilterHitCounts: counters by rule, readable from the pinned maps by
// another process, with the AWS sample documents as the rule set.
func TestFilterHitCounts(t *testing.T) {
	testutil.RequirePrivileged(t)
	cfg, err := filter.Load("", []string{"../../shared/aws/describe-traffic-mirror-filters.json"},
		[]string{"../../shared/aws/describe-traffic-mirror-sessions.json"})
	if err != nil {
		t.Fatal(err)
	}
	o := loadFiltered(t, DefaultFilterCapacity)
	fm := o.FilterMaps()
	if _, err := fm.Apply(filter.Compile(cfg)); err != nil {
		t.Fatal(err)
	}
	eni := outerSrc4
	bastion := netip.MustParseAddr("10.20.1.1")
	send := func(p filter.Packet, n int) {
		for i := 0; i < n; i++ {
			if _, err := o.RunPacket(filterFrame(t, p), time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(filter.Packet{VNI: 42, OuterSrc: eni, Src: bastion, Dst: eni, Proto: 6, SrcPort: 40000, DstPort: 22}, 3)  // ingress 100 reject
	send(filter.Packet{VNI: 42, OuterSrc: eni, Src: bastion, Dst: eni, Proto: 6, SrcPort: 40000, DstPort: 443}, 2) // ingress 200 accept
	send(filter.Packet{VNI: 43, OuterSrc: eni, Src: eni, Dst: bastion, Proto: 17, SrcPort: 5000, DstPort: 53}, 4)  // egress 100
	send(filter.Packet{VNI: 42, OuterSrc: eni, Src: bastion, Dst: eni, Proto: 1}, 1)                               // ingress no match
	hits, err := fm.HitCounts()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, h := range hits {
		if h.Packets > 0 {
			got[fmt.Sprintf("%s %s %s %d %s", h.Kind, h.Filter, h.Dir, h.Rule, h.Action)] = h.Packets
		}
	}
	want := map[string]uint64{
		"rule tmf-0a1b2c3d4e5f60718 ingress 100 reject":   3,
		"rule tmf-0a1b2c3d4e5f60718 ingress 200 accept":   2,
		"rule tmf-0a1b2c3d4e5f60718 egress 100 accept":    4,
		"no-match tmf-0a1b2c3d4e5f60718 ingress 0 reject": 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("hits %v, want %v", got, want)
	}
}

// TestFilterSampling: the vxtap extensions. A capture rule sends every
// packet it accepts to the sample stream, tagged with its number; a rule's
// sample rate overrides the session's, which overrides the program's; a
// rejected packet is never sampled.
func TestFilterSampling(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadFiltered(t, DefaultFilterCapacity)
	ev, err := o.OpenEvents()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	doc := `
sessions: {42: {filter: f, sample_rate: 5}}
amazon_dns: []
filters:
  f:
    ingress:
      - {rule: 10, action: accept, protocol: tcp, destination_ports: 22, capture: true}
      - {rule: 20, action: accept, protocol: tcp, destination_ports: 80, sample_rate: 2}
      - {rule: 30, action: reject, protocol: tcp, destination_ports: 25, capture: true}
      - {rule: 40, action: accept}
`
	if _, err := o.FilterMaps().Apply(compileYAML(t, "s.yaml", doc)); err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddr("198.19.9.9")
	for _, c := range []struct {
		dport uint16
		n     int
	}{{22, 4}, {80, 8}, {25, 6}, {443, 20}} {
		p := filter.Packet{VNI: 42, OuterSrc: outerSrc4, Src: peer, Dst: outerSrc4, Proto: 6, SrcPort: 1234, DstPort: c.dport}
		for i := 0; i < c.n; i++ {
			if _, err := o.RunPacket(filterFrame(t, p), time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	byRule := map[uint32]int{}
	if _, err := ev.Read(time.Now().Add(100*time.Millisecond), nil, func(s flow.Sample) { byRule[s.Rule]++ }); err != nil {
		t.Fatal(err)
	}
	// Rule 10: all 4, tagged 10. Rule 20: 1 in 2 of 8. Rule 40: 1 in 5
	// (the session's rate) of 20. The countdown is shared, so the rate
	// samples of 20 and 40 together are 4 + 4 = 8 give or take one.
	rate := byRule[0]
	if byRule[10] != 4 || byRule[30] != 0 || rate < 7 || rate > 9 || len(byRule) != 2 {
		t.Errorf("samples by rule %v: want 4 tagged 10, about 8 rate samples, none for the rejected rule 30", byRule)
	}
}
