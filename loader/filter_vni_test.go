package loader

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/filter"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestFilterVNISlots: the VNI gate finds every session through filter_vni
// (bpf/include/filter_lookup.h) as the reference evaluator does, whether
// its VNI has a slot to itself, shares one (looked up in filter_sessions),
// or has no session (the default), across reloads that move sessions
// between slots and generations, and with no default session (unknown_vni).
func TestFilterVNISlots(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadFiltered(t, DefaultFilterCapacity)
	fm := o.FilterMaps()
	slots := uint32(VxtapFilterLayoutFILTER_VNI_SLOTS)
	// 5 alone in its slot; 7 and 7+slots share one; 9 rejects everything.
	configs := []string{`
sessions:
  5: {filter: a}
  7: {filter: b}
  %d: {action: reject}
  9: {action: reject}
default: {action: analyze}
filters:
  a: {ingress: [{rule: 1, action: accept, protocol: tcp}, {rule: 2, action: reject}]}
  b: {ingress: [{rule: 1, action: reject, protocol: tcp}, {rule: 2, action: accept}]}
`, `
sessions:
  %d: {filter: a}
  7: {action: reject}
  11: {filter: b}
default: {filter: b}
filters:
  a: {ingress: [{rule: 1, action: accept, protocol: tcp}, {rule: 2, action: reject}]}
  b: {ingress: [{rule: 1, action: reject, protocol: tcp}, {rule: 2, action: accept}]}
`, `
sessions:
  7: {filter: a}
  %d: {filter: a}
filters:
  a: {ingress: [{rule: 1, action: reject, protocol: tcp}, {rule: 2, action: accept}]}
`}
	shared := []uint32{7 + slots, 5 + slots, 5 + 2*slots}
	vnis := []uint32{5, 7, 9, 11, 5 + slots, 7 + slots, 7 + 2*slots, 9 + slots, 5 + 2*slots, 11 + 3*slots, 4095, 1<<24 - 1}
	src, dst := netip.MustParseAddr("198.19.1.1"), netip.MustParseAddr("198.19.2.2")
	for round := 0; round < 2; round++ {
		for ci, doc := range configs {
			comp := compileYAML(t, "vni.yaml", fmt.Sprintf(doc, shared[ci]))
			l := applyLayout(t, fm, comp)
			for _, vni := range vnis {
				for _, proto := range []uint8{6, 17} {
					p := filter.Packet{VNI: vni, OuterSrc: dst, Src: src, Dst: dst, Proto: proto, SrcPort: 1000, DstPort: 80}
					d := comp.Config.Evaluate(p)
					unknown := reasonPackets(t, o, "unknown_vni")
					slot := -1
					var before uint64
					if !(d.Default && comp.Config.Default.Mode == filter.ModeUnknownVNI) {
						slot = expectedSlot(comp, l, d)
						before = slotPackets(t, fm, slot)
					}
					if _, err := o.RunPacket(filterFrame(t, p), time.Time{}); err != nil {
						t.Fatal(err)
					}
					if slot < 0 {
						if got := reasonPackets(t, o, "unknown_vni") - unknown; got != 1 {
							t.Errorf("round %d config %d VNI %d proto %d: no session, no default: counted %d under unknown_vni, want 1", round, ci, vni, proto, got)
						}
						continue
					}
					if got := slotPackets(t, fm, slot) - before; got != 1 {
						t.Errorf("round %d config %d VNI %d proto %d: the reference decides it by %s (slot %d); the kernel counted %d there", round, ci, vni, proto, d.By, slot, got)
					}
				}
			}
		}
	}
}

// TestFilterVNIAddrs: the direction from the source-ENI addresses a
// filter_vni entry holds agrees with the reference evaluator for sessions
// whose list fits the entry (up to FILTER_VNI_ADDRS4 IPv4 and
// FILTER_VNI_ADDRS6 IPv6 addresses), whose list does not (looked up in
// filter_eni), and whose slot is shared; for inner addresses on the list,
// off it, and 0.0.0.0 (an unused entry's bytes).
func TestFilterVNIAddrs(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadFiltered(t, DefaultFilterCapacity)
	fm := o.FilterMaps()
	slots := uint32(VxtapFilterLayoutFILTER_VNI_SLOTS)
	v4 := func(i int) string { return fmt.Sprintf("198.18.1.%d", i) }
	v6 := func(i int) string { return fmt.Sprintf("\"2001:db8::%d\"", i) }
	list := func(n4, n6 int) string {
		var l []string
		for i := 1; i <= n4; i++ {
			l = append(l, v4(i))
		}
		for i := 1; i <= n6; i++ {
			l = append(l, v6(i))
		}
		return "[" + strings.Join(l, ", ") + "]"
	}
	doc := fmt.Sprintf(`
sessions:
  1: {filter: f, addresses: %s}
  2: {filter: f, addresses: %s}
  3: {filter: f, addresses: %s}
  4: {filter: f, addresses: %s}
  5: {filter: f, addresses: %s}
  %d: {filter: f, addresses: %s}
  6: {filter: f}
filters:
  f:
    ingress: [{rule: 1, action: accept, protocol: udp}, {rule: 2, action: reject}]
    egress: [{rule: 1, action: reject, protocol: udp}, {rule: 2, action: accept}]
`, list(1, 0), list(4, 2), list(5, 1), list(1, 3), list(2, 1), 5+slots, list(0, 1))
	comp := compileYAML(t, "addrs.yaml", doc)
	for round := 0; round < 2; round++ { // both generations
		l := applyLayout(t, fm, comp)
		peer4, peer6 := netip.MustParseAddr("198.19.9.9"), netip.MustParseAddr("2001:db8:9::9")
		var addrs []netip.Addr
		for i := 1; i <= 6; i++ {
			addrs = append(addrs, netip.MustParseAddr(v4(i)), netip.MustParseAddr(strings.Trim(v6(i), "\"")))
		}
		addrs = append(addrs, netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::"))
		for _, vni := range []uint32{1, 2, 3, 4, 5, 5 + slots, 6} {
			for _, a := range addrs {
				peer, outer := peer4, netip.MustParseAddr("198.18.200.1")
				if a.Is6() {
					peer, outer = peer6, netip.MustParseAddr("2001:db8:200::1")
				}
				for _, proto := range []uint8{6, 17} {
					for _, p := range []filter.Packet{
						{VNI: vni, OuterSrc: outer, Src: peer, Dst: a, Proto: proto, SrcPort: 1000, DstPort: 80},
						{VNI: vni, OuterSrc: outer, Src: a, Dst: peer, Proto: proto, SrcPort: 1000, DstPort: 80},
					} {
						d := comp.Config.Evaluate(p)
						slot := expectedSlot(comp, l, d)
						before := slotPackets(t, fm, slot)
						if _, err := o.RunPacket(filterFrame(t, p), time.Time{}); err != nil {
							t.Fatal(err)
						}
						if got := slotPackets(t, fm, slot) - before; got != 1 {
							t.Errorf("round %d VNI %d %s -> %s proto %d: the reference decides it by %s (%s, slot %d); the kernel counted %d there",
								round, vni, p.Src, p.Dst, proto, d.By, d.Direction, slot, got)
						}
					}
				}
			}
		}
	}
}

// TestFilterVNIOlderApply: rules applied by an older vxtap (filter_sessions
// and filter_eni written, filter_vni not, filter_gen without
// FILTER_GEN_VNI) decide, not the stale filter_vni half of that
// generation.
func TestFilterVNIOlderApply(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadFiltered(t, DefaultFilterCapacity)
	fm := o.FilterMaps()
	compA := compileYAML(t, "a.yaml", `
sessions: {5: {filter: a, addresses: [198.19.2.2]}}
filters:
  a: {ingress: [{rule: 1, action: accept}], egress: [{rule: 1, action: accept}]}
`)
	compB := compileYAML(t, "b.yaml", `
sessions: {5: {action: reject}}
filters: {}
`)
	for _, c := range []*filter.Compiled{compA, compB, compA} {
		if _, err := fm.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	// gen holds A (filter_vni included); an older vxtap now applies B
	// into the other half: everything but filter_vni, then the flip
	// with its filter_gen value (no FILTER_GEN_VNI).
	gen, err := fm.ActiveGen()
	if err != nil {
		t.Fatal(err)
	}
	old := gen ^ 1
	if err := fm.clearGen(old); err != nil {
		t.Fatal(err)
	}
	l := fm.layout(compB, old)
	for _, step := range []func(*filter.Compiled, layout) error{fm.fillBitsets, fm.fillSlots, fm.fillRulesets, fm.fillFields, fm.fillPrefixes} {
		if err := step(compB, l); err != nil {
			t.Fatal(err)
		}
	}
	var sk []VxtapFilterSessionKey
	var sv []VxtapFilterSession
	for i, cs := range compB.Sessions {
		vni := cs.VNI
		if cs.Default {
			vni = uint32(VxtapFilterConstFILTER_DEFAULT_VNI)
		}
		sk = append(sk, VxtapFilterSessionKey{Vni: vni, Gen: old})
		sv = append(sv, VxtapFilterSession{Slot: l.sessionSlot[i], Mode: filterMode(cs.Mode)})
	}
	if err := putBatch(fm.Sessions, sk, sv); err != nil {
		t.Fatal(err)
	}
	// The half's filter_vni entries are A's, as two applies ago left them.
	for i := uint32(0); i < vniStride; i++ {
		var e VxtapFilterVniSlot
		if err := fm.VNI.Lookup(gen*vniStride+i, &e); err != nil {
			t.Fatal(err)
		}
		if err := fm.VNI.Put(old*vniStride+i, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := fm.Gen.Put(uint32(0), old|uint32(VxtapFilterConstFILTER_GEN_SESSIONS)); err != nil {
		t.Fatal(err)
	}
	p := filter.Packet{VNI: 5, OuterSrc: netip.MustParseAddr("198.18.0.1"), Src: netip.MustParseAddr("198.19.1.1"),
		Dst: netip.MustParseAddr("198.19.2.2"), Proto: 6, SrcPort: 1000, DstPort: 80}
	d := compB.Config.Evaluate(p)
	slot := expectedSlot(compB, l, d)
	before, rejected := slotPackets(t, fm, slot), reasonPackets(t, o, "filter_reject")
	if _, err := o.RunPacket(filterFrame(t, p), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := slotPackets(t, fm, slot) - before; got != 1 {
		t.Errorf("B's session slot %d counted %d packets, want 1", slot, got)
	}
	if got := reasonPackets(t, o, "filter_reject") - rejected; got != 1 {
		t.Errorf("filter_reject counted %d packets, want 1 (B rejects VNI 5)", got)
	}
}

// applyLayout applies comp and returns the layout of the generation it
// went into.
func applyLayout(t *testing.T, fm *FilterMaps, comp *filter.Compiled) layout {
	t.Helper()
	if _, err := fm.Apply(comp); err != nil {
		t.Fatal(err)
	}
	gen, err := fm.ActiveGen()
	if err != nil {
		t.Fatal(err)
	}
	return fm.layout(comp, gen)
}
