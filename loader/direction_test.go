package loader

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/filter"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestFlowDirection: each new flow's slot carries its direction as the
// source ENI sees it: by the session's address list when it has one (in
// rules mode, as the classifier found it; in analyze mode, looked up once
// for the new flow), else by the copy's outer source; unknown when neither
// inner address is the ENI's.
func TestFlowDirection(t *testing.T) {
	testutil.RequirePrivileged(t)
	eni := outerSrc4                               // the source ENI's primary address = outer source
	second := netip.MustParseAddr("198.19.77.10")  // a secondary address of the ENI on VNI 42
	peer := netip.MustParseAddr("198.19.9.9")      // someone else
	other := netip.MustParseAddr("198.19.9.10")    // someone else again
	eni6 := netip.MustParseAddr("2001:db8:77::10") // the ENI's IPv6 address on VNI 42
	peer6 := netip.MustParseAddr("2001:db8:9::9")
	doc := `
sessions:
  42: {filter: f, addresses: [198.19.77.10, "2001:db8:77::10"], unknown_direction: analyze}
  43: {action: analyze, addresses: [198.19.77.10]}
  44: {filter: f}
default: {action: analyze}
amazon_dns: []
filters:
  f:
    ingress: [{rule: 10, action: accept}]
    egress: [{rule: 10, action: accept}]
`
	cases := []struct {
		name    string
		filters bool // rule set applied (else the program has none: outer source only)
		p       filter.Packet
		want    flow.Direction
	}{
		{"no rules: inner destination is the outer source", false, filter.Packet{VNI: 42, OuterSrc: eni, Src: peer, Dst: eni, Proto: 6, SrcPort: 1000, DstPort: 443}, flow.DirIngress},
		{"no rules: inner source is the outer source", false, filter.Packet{VNI: 42, OuterSrc: eni, Src: eni, Dst: peer, Proto: 6, SrcPort: 443, DstPort: 1000}, flow.DirEgress},
		{"no rules: neither", false, filter.Packet{VNI: 42, OuterSrc: eni, Src: peer, Dst: other, Proto: 17, SrcPort: 53, DstPort: 53}, flow.DirUnknown},
		{"no rules: inner ipv6 under outer ipv4", false, filter.Packet{VNI: 42, OuterSrc: eni, Src: peer6, Dst: eni6, Proto: 17, SrcPort: 53, DstPort: 53}, flow.DirUnknown},
		{"rules, address list: ingress to a secondary address", true, filter.Packet{VNI: 42, OuterSrc: eni, Src: peer, Dst: second, Proto: 6, SrcPort: 1001, DstPort: 443}, flow.DirIngress},
		{"rules, address list: egress from it", true, filter.Packet{VNI: 42, OuterSrc: eni, Src: second, Dst: peer, Proto: 6, SrcPort: 443, DstPort: 1001}, flow.DirEgress},
		{"rules, address list: the outer source is not on it", true, filter.Packet{VNI: 42, OuterSrc: eni, Src: peer, Dst: eni, Proto: 6, SrcPort: 1002, DstPort: 443}, flow.DirUnknown},
		{"rules, address list: ipv6 egress", true, filter.Packet{VNI: 42, OuterSrc: eni, Src: eni6, Dst: peer6, Proto: 6, SrcPort: 443, DstPort: 1003}, flow.DirEgress},
		{"analyze session, address list", true, filter.Packet{VNI: 43, OuterSrc: eni, Src: peer, Dst: second, Proto: 6, SrcPort: 1004, DstPort: 443}, flow.DirIngress},
		{"rules, no address list: outer source", true, filter.Packet{VNI: 44, OuterSrc: eni, Src: eni, Dst: peer, Proto: 6, SrcPort: 443, DstPort: 1005}, flow.DirEgress},
		{"no session for the VNI: outer source", true, filter.Packet{VNI: 45, OuterSrc: eni, Src: peer, Dst: eni, Proto: 6, SrcPort: 1006, DstPort: 443}, flow.DirIngress},
	}
	plain := loadFiltered(t, DefaultFilterCapacity)
	ruled := loadFiltered(t, DefaultFilterCapacity)
	if _, err := ruled.FilterMaps().Apply(compileYAML(t, "s.yaml", doc)); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := plain
			if c.filters {
				o = ruled
			}
			// Two packets: the second finds the flow and must not change it.
			for range 2 {
				if _, err := o.RunPacket(filterFrame(t, c.p), time.Time{}); err != nil {
					t.Fatal(err)
				}
			}
			k := flow.Key{VNI: c.p.VNI, Src: c.p.Src, Dst: c.p.Dst, Proto: c.p.Proto, SPort: c.p.SrcPort, DPort: c.p.DstPort}
			var got *flow.Counters
			if err := o.Walk(func(fk flow.Key, fc flow.Counters) {
				if fk == k {
					got = &fc
				}
			}); err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatalf("flow %s not in the table", k)
			}
			if got.Packets != 2 || got.Direction != c.want {
				t.Errorf("flow %s: %d packets, direction %q; want 2 packets, %q", k, got.Packets, got.Direction, c.want)
			}
		})
	}
}
