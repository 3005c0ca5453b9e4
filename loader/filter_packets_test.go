package loader

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vxtap/vxtap/userspace/filter"
)

// filterFrame builds the mirror copy of a filter.Packet: outer
// Ethernet/IPv4 or IPv6 from p.OuterSrc, UDP 4789, VXLAN p.VNI, inner
// Ethernet/IPv4 or IPv6, then TCP or UDP with the ports, or a bare payload
// for other protocols.
func filterFrame(t testing.TB, p filter.Packet) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	if p.OuterSrc.Is4() {
		ls = append(ls, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP, p.OuterSrc, outerDst4))
	} else {
		ls = append(ls, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolUDP, p.OuterSrc, outerDst6))
	}
	ls = append(ls, udpL(65000, 4789), vxL(p.VNI))
	proto := layers.IPProtocol(p.Proto)
	if p.Src.Is4() {
		ls = append(ls, ethL(layers.EthernetTypeIPv4), ip4L(proto, p.Src, p.Dst))
	} else {
		ls = append(ls, ethL(layers.EthernetTypeIPv6), ip6L(proto, p.Src, p.Dst))
	}
	switch p.Proto {
	case 6:
		ls = append(ls, tcpL(p.SrcPort, p.DstPort))
	case 17:
		ls = append(ls, udpL(p.SrcPort, p.DstPort))
	}
	return build(t, append(ls, payload(40))...)
}

// loadFiltered loads the program with the filter on and tables of the
// given capacity.
func loadFiltered(t testing.TB, k FilterCapacity) *Objects {
	t.Helper()
	cfg := DefaultConfig()
	cfg.FilterEnabled = true
	cfg.MapSizes = k.MapSizes()
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// expectedSlot is the rule_hits slot the kernel must count a packet
// under, from the reference evaluator's decision, or -1 for none.
func expectedSlot(c *filter.Compiled, l layout, d filter.Decision) int {
	si := len(c.Sessions) - 1
	for i, cs := range c.Sessions {
		if !cs.Default && !d.Default && cs.VNI == d.Session.VNI {
			si = i
		}
	}
	cs := c.Sessions[si]
	switch d.By {
	case filter.BySession, filter.ByUnknownDirection:
		return int(l.sessionSlot[si])
	}
	rs := cs.Ruleset[d.Direction]
	base := int(l.rulesetBase[rs])
	switch d.By {
	case filter.ByRule:
		return base + d.RuleIndex
	case filter.ByNoMatch:
		return base + len(c.Rulesets[rs].Rules)
	}
	return base + len(c.Rulesets[rs].Rules) + 1
}

// slotPackets reads a slot's packet count, CPUs summed.
func slotPackets(t testing.TB, f *FilterMaps, slot int) uint64 {
	t.Helper()
	h := RuleHit{Slot: uint32(slot)}
	if err := f.count(&h); err != nil {
		t.Fatal(err)
	}
	return h.Packets
}

// reasonPackets reads one terminal reason's packet count.
func reasonPackets(t testing.TB, o *Objects, name string) uint64 {
	t.Helper()
	reasons, _, err := o.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reasons {
		if r.Name == name {
			return r.Packets
		}
	}
	t.Fatalf("no reason %s", name)
	return 0
}
