package loader

import (
	"fmt"
	"net/netip"
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
			if _, err := fm.Apply(comp); err != nil {
				t.Fatal(err)
			}
			gen, err := fm.ActiveGen()
			if err != nil {
				t.Fatal(err)
			}
			l := fm.layout(comp, gen)
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
