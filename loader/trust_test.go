package loader

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// The trusted mirror sources of the trust tests: the outer sources of
// packets_build_test.go are inside, attacker4/attacker6 are not.
var (
	trusted   = []netip.Prefix{netip.MustParsePrefix("198.18.0.8/29"), netip.MustParsePrefix("2001:db8:ff::/64")}
	attacker4 = netip.MustParseAddr("198.18.200.7")
	attacker6 = netip.MustParseAddr("2001:db8:bad::7")
	gwlb4     = netip.MustParseAddr("198.18.0.9") // a Gateway Load Balancer inside the trusted range
)

// trustSessions names VNI 42 only: no default session.
const trustSessions = `
sessions:
  42: {name: web, action: analyze}
`

// loadTrusting loads the program trusting only the trusted sources, with
// the sessions of doc applied ("" = none: every VNI accepted).
func loadTrusting(t *testing.T, doc string) (*Objects, *Events) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.FlowTableSize = 4096
	cfg.FilterEnabled = true
	cfg.SourceCheck = true
	cfg.MapSizes = DefaultFilterCapacity.MapSizes()
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	if err := o.Sources().Set(trusted); err != nil {
		t.Fatal(err)
	}
	if doc != "" {
		if _, err := o.FilterMaps().Apply(compileYAML(t, "sessions.yaml", doc)); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := o.OpenEvents()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	return o, ev
}

// from is a mirror copy of VNI vni sent by outer source src.
func from(src netip.Addr, vni uint32, inner ...gopacket.SerializableLayer) func(t testing.TB) []byte {
	return func(t testing.TB) []byte {
		outer := []gopacket.SerializableLayer{ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP, src, outerDst4)}
		if src.Is6() {
			outer = []gopacket.SerializableLayer{ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolUDP, src, outerDst6)}
		}
		return build(t, append(append(outer, udpL(65000, 4789), vxL(vni)), inner...)...)
	}
}

// viaGWLB is a copy from mirror source src carried in GENEVE by lb.
func viaGWLB(lb, src netip.Addr, vni uint32, inner ...gopacket.SerializableLayer) func(t testing.TB) []byte {
	return func(t testing.TB) []byte {
		return build(t, append([]gopacket.SerializableLayer{ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP, lb, outerDst4), udpL(60000, 6081),
			geneveHdr(0, 0, layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP, src, netip.MustParseAddr("198.18.5.6")), udpL(65000, 4789), vxL(vni)}, inner...)...)
	}
}

func trustCases() []pktCase {
	return []pktCase{
		{name: "trusted ipv4 source, configured vni", frame: from(outerSrc4, 42, innerUDP4(2001, 53, 10)...),
			verdict: XDPDrop, reason: "flow", flow: k4(42, 17, 2001, 53), bytes: 38, source: outerSrc4},
		{name: "trusted ipv6 source, configured vni", frame: from(outerSrc6, 42, innerUDP4(2002, 53, 10)...),
			verdict: XDPDrop, reason: "flow", flow: k4(42, 17, 2002, 53), bytes: 38, source: outerSrc6},
		{name: "untrusted ipv4 source", frame: from(attacker4, 42, innerUDP4(2003, 53, 10)...), verdict: XDPDrop, reason: "unknown_source"},
		{name: "untrusted ipv6 source", frame: from(attacker6, 42, innerUDP4(2004, 53, 10)...), verdict: XDPDrop, reason: "unknown_source"},
		{name: "untrusted source with a malformed inner frame is still unknown_source", frame: cut(offInner+6, from(attacker4, 42, innerUDP4(2005, 53, 10)...)),
			verdict: XDPDrop, reason: "unknown_source"},
		{name: "trusted source, unknown vni", frame: from(outerSrc4, 77, innerUDP4(2006, 53, 10)...), verdict: XDPDrop, reason: "unknown_vni"},
		{name: "unknown vni with a malformed inner frame is still unknown_vni", frame: cut(offInner+6, from(outerSrc4, 77, innerUDP4(2007, 53, 10)...)),
			verdict: XDPDrop, reason: "unknown_vni"},
		{name: "not mirror traffic from anywhere passes", frame: func(t testing.TB) []byte {
			return build(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP, attacker4, outerDst4), tcpL(50000, 22), payload(40))
		}, verdict: XDPPass, reason: "not_mirror"},
		{name: "geneve: trusted load balancer and mirror source", frame: viaGWLB(gwlb4, outerSrc4, 42, innerUDP4(2008, 53, 10)...),
			verdict: XDPDrop, reason: "flow", flags: []string{"geneve"}, flow: k4(42, 17, 2008, 53), bytes: 38, source: outerSrc4},
		{name: "geneve: untrusted load balancer", frame: viaGWLB(attacker4, outerSrc4, 42, innerUDP4(2009, 53, 10)...), verdict: XDPDrop, reason: "unknown_source"},
		{name: "geneve: untrusted mirror source inside", frame: viaGWLB(gwlb4, attacker4, 42, innerUDP4(2010, 53, 10)...),
			verdict: XDPDrop, reason: "unknown_source", flags: []string{"geneve"}},
	}
}

// TestTrustTable: only allowed sources and configured VNIs are accounted.
func TestTrustTable(t *testing.T) {
	testutil.RequirePrivileged(t)
	o, ev := loadTrusting(t, trustSessions)
	for _, c := range trustCases() {
		t.Run(c.name, func(t *testing.T) { runPktCase(t, o, ev, c) })
	}
	offs, err := o.Sources().Offenders(0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, of := range offs {
		got[of.Source.String()+" "+of.Reason] = of.Packets
	}
	want := map[string]uint64{
		attacker4.String() + " unknown_source": 4, // two plain, two GENEVE
		attacker6.String() + " unknown_source": 1,
		outerSrc4.String() + " unknown_vni":    2,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("offender %s: %d packets, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("offenders %v, want %v", got, want)
	}
}

// TestSpoofedCopiesNotAccounted reproduces issue 10 item 1: ten 114-byte
// VXLAN frames from an address that is no mirror source, claiming VNI 101
// and an inner total length of 65535, made flows worth 655,350 bytes. With
// allowed_sources they make none and are counted as unknown_source.
func TestSpoofedCopiesNotAccounted(t *testing.T) {
	testutil.RequirePrivileged(t)
	o, _ := loadTrusting(t, "sessions:\n  101: {name: prod, action: analyze}\n")
	frame := from(attacker4, 101, innerUDP4(4444, 80, 22)...)(t)
	if len(frame) != 114 {
		t.Fatalf("frame is %d bytes, want the reported 114", len(frame))
	}
	binary.BigEndian.PutUint16(frame[offInnerIP+2:], 65535) // inner total length
	for i := 0; i < 10; i++ {
		if v, err := o.RunPacket(frame, time.Now()); err != nil || v != XDPDrop {
			t.Fatalf("verdict %d, %v", v, err)
		}
	}
	n := 0
	if err := o.Walk(func(flow.Key, flow.Counters) { n++ }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d flows from a spoofed source, want none", n)
	}
	if got := reasonPackets(t, o, "unknown_source"); got != 10 {
		t.Errorf("unknown_source %d, want 10", got)
	}
	offs, err := o.Sources().Offenders(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(offs) != 1 || offs[0].Source != attacker4 || offs[0].Packets != 10 || offs[0].Bytes != 1140 {
		t.Errorf("top offender %+v, want %s with 10 packets, 1140 bytes", offs, attacker4)
	}
	// The same frame from the mirror source is accounted.
	good := from(outerSrc4, 101, innerUDP4(4444, 80, 22)...)(t)
	if _, err := o.RunPacket(good, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := reasonPackets(t, o, "flow"); got != 1 {
		t.Errorf("flow %d after a copy from the mirror source, want 1", got)
	}
}

// TestNoSessionsAcceptsEveryVNI: with no rule set applied (vxtap run
// without --config), every VNI is accepted; a config with a default
// session accepts unnamed VNIs too.
func TestNoSessionsAcceptsEveryVNI(t *testing.T) {
	testutil.RequirePrivileged(t)
	for _, doc := range []string{"", trustSessions + "default: {action: analyze}\n"} {
		o, _ := loadTrusting(t, doc)
		if _, err := o.RunPacket(from(outerSrc4, 77, innerUDP4(1, 2, 10)...)(t), time.Now()); err != nil {
			t.Fatal(err)
		}
		if got := reasonPackets(t, o, "flow"); got != 1 {
			t.Errorf("config %q: VNI 77 flow count %d, want 1", doc, got)
		}
	}
}

// TestSourcesSet: Set replaces the trusted set and List reads it back.
func TestSourcesSet(t *testing.T) {
	testutil.RequirePrivileged(t)
	o, _ := loadTrusting(t, "")
	s := o.Sources()
	next := []netip.Prefix{netip.MustParsePrefix("198.18.0.0/16"), netip.MustParsePrefix("::ffff:198.19.0.0/112")}
	if err := s.Set(next); err != nil {
		t.Fatal(err)
	}
	got, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"198.18.0.0/16", "198.19.0.0/16"}
	if len(got) != len(want) || got[0].String() != want[0] || got[1].String() != want[1] {
		t.Errorf("sources %v, want %v", got, want)
	}
	if err := s.Set([]netip.Prefix{{}}); err == nil {
		t.Error("an invalid prefix was accepted")
	}
}
