package loader

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// Threat-listed addresses of the threat tests: bad4 (list 1) and
// 2001:db8:66::/48 (list 2); good4/good6 are on no list.
var (
	bad4  = netip.MustParseAddr("198.19.66.6")
	bad6  = netip.MustParseAddr("2001:db8:66::9")
	good4 = netip.MustParseAddr("198.19.7.7")
	good6 = netip.MustParseAddr("2001:db8:7::7")
	lists = []flow.ThreatEntry{
		{Prefix: netip.PrefixFrom(bad4, 32), List: 1},
		{Prefix: netip.MustParsePrefix("2001:db8:66::/48"), List: 2},
	}
)

// loadThreats loads the program with the threat check switched as on says
// and the test lists in its trie.
func loadThreats(t *testing.T, on bool) (*Objects, *Events) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.FlowTableSize = 1024
	cfg.ThreatEnabled = on
	cfg.ThreatSize = 16
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	if err := o.Threats().SetThreats(lists); err != nil {
		t.Fatal(err)
	}
	ev, err := o.OpenEvents()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	return o, ev
}

// tcp4 is a mirror copy (outer source outerSrc4, VNI 42) of a TCP packet
// src:sp -> dst:dp with flags syn / ack.
func tcpCopy(src, dst netip.Addr, sp, dp uint16, syn bool) func(t testing.TB) []byte {
	return func(t testing.TB) []byte {
		tcp := tcpL(sp, dp)
		tcp.SYN, tcp.ACK = syn, !syn
		inner := []gopacket.SerializableLayer{ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP, src, dst), tcp, payload(10)}
		if src.Is6() {
			inner = []gopacket.SerializableLayer{ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolTCP, src, dst), tcp, payload(10)}
		}
		return from(outerSrc4, 42, inner...)(t)
	}
}

// threatCase is one packet through the program with the threat check:
// the verdict, the one reason and the flags that move, the ring records.
type threatCase struct {
	name    string
	frame   func(t testing.TB) []byte
	verdict uint32
	reason  string
	flags   []string
	events  []flow.EventType
	hit     *flow.ThreatMatch // the threat event's match, when one is expected
}

func runThreatCase(t *testing.T, o *Objects, ev *Events, c threatCase) {
	t.Helper()
	before := takeSnapshot(t, o)
	frame := c.frame(t)
	verdict, err := o.RunPacket(frame, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	after := takeSnapshot(t, o)
	var got []flow.Event
	if _, err := ev.Read(time.Unix(1, 0), func(e flow.Event) { got = append(got, e) }, nil); err != nil {
		t.Fatal(err)
	}
	if verdict != c.verdict {
		t.Errorf("verdict %d, want %d", verdict, c.verdict)
	}
	for name, v := range after.reasons {
		want := uint64(0)
		if name == c.reason {
			want = 1
		}
		if d := v - before.reasons[name]; d != want {
			t.Errorf("reason %s moved by %d, want %d", name, d, want)
		}
	}
	for name, v := range after.flags {
		want := uint64(0)
		if slices.Contains(c.flags, name) {
			want = 1
		}
		if d := v - before.flags[name]; d != want {
			t.Errorf("flag %s moved by %d, want %d", name, d, want)
		}
	}
	var types []flow.EventType
	for _, e := range got {
		types = append(types, e.Type)
		if e.Type != flow.ThreatHit {
			continue
		}
		if c.hit == nil {
			t.Errorf("unexpected threat event %+v", e)
			continue
		}
		if e.Threat != *c.hit {
			t.Errorf("threat match %+v, want %+v", e.Threat, *c.hit)
		}
		if e.MirrorSource != outerSrc4 || e.Key.VNI != 42 {
			t.Errorf("threat event mirror source %s vni %d, want %s 42", e.MirrorSource, e.Key.VNI, outerSrc4)
		}
		if e.Time.IsZero() {
			t.Error("threat event without a time")
		}
	}
	if !slices.Equal(types, c.events) {
		t.Errorf("ring events %v, want %v", types, c.events)
	}
}

// TestThreatTable: every accounted copy is checked against the threats
// trie; a flow's first hit sends one event, later hits are only counted.
func TestThreatTable(t *testing.T) {
	testutil.RequirePrivileged(t)
	o, ev := loadThreats(t, true)
	start, hit := flow.FlowStart, flow.ThreatHit
	cases := []threatCase{
		{name: "listed destination, first packet", frame: tcpCopy(good4, bad4, 40000, 443, true), verdict: XDPDrop, reason: "flow",
			flags: []string{"flow_start", "threat_hit", "threat_event"}, events: []flow.EventType{start, hit},
			hit: &flow.ThreatMatch{DstList: 1, First: true}},
		{name: "same flow again: counted, no second event", frame: tcpCopy(good4, bad4, 40000, 443, false), verdict: XDPDrop, reason: "flow",
			flags: []string{"threat_hit"}},
		{name: "the answer is its own flow: listed source", frame: tcpCopy(bad4, good4, 443, 40000, false), verdict: XDPDrop, reason: "flow",
			flags: []string{"flow_start", "threat_hit", "threat_event"}, events: []flow.EventType{start, hit},
			hit: &flow.ThreatMatch{SrcList: 1, First: true}},
		{name: "ipv6 inside a listed /48", frame: tcpCopy(bad6, good6, 22, 50000, true), verdict: XDPDrop, reason: "flow",
			flags: []string{"flow_start", "threat_hit", "threat_event"}, events: []flow.EventType{start, hit},
			hit: &flow.ThreatMatch{SrcList: 2, First: true}},
		{name: "both sides listed", frame: tcpCopy(bad6, netip.MustParseAddr("2001:db8:66:ffff::1"), 1, 2, true), verdict: XDPDrop, reason: "flow",
			flags: []string{"flow_start", "threat_hit", "threat_event"}, events: []flow.EventType{start, hit},
			hit: &flow.ThreatMatch{SrcList: 2, DstList: 2, First: true}},
		{name: "ipv6 just outside the /48", frame: tcpCopy(netip.MustParseAddr("2001:db8:67::9"), good6, 22, 50000, true), verdict: XDPDrop, reason: "flow",
			flags: []string{"flow_start"}, events: []flow.EventType{start}},
		{name: "the ipv4 address as ipv6 bytes is not listed", frame: tcpCopy(netip.AddrFrom16(bad4.As16()), good6, 5, 6, true), verdict: XDPDrop, reason: "flow",
			flags: []string{"flow_start"}, events: []flow.EventType{start}},
		{name: "unlisted ipv4", frame: tcpCopy(good4, netip.MustParseAddr("198.19.66.7"), 40001, 443, true), verdict: XDPDrop, reason: "flow",
			flags: []string{"flow_start"}, events: []flow.EventType{start}},
		{name: "malformed copy of a listed address: not accounted, not checked", frame: cut(offInner+20, tcpCopy(good4, bad4, 40002, 443, true)),
			verdict: XDPDrop, reason: "short_inner_ip"},
		{name: "not mirror traffic to a listed address passes unchecked", frame: func(t testing.TB) []byte {
			return build(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP, bad4, outerDst4), tcpL(50000, 22), payload(40))
		}, verdict: XDPPass, reason: "not_mirror"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runThreatCase(t, o, ev, c) })
	}
}

// TestThreatListReplaced: a flow already in the table hits on its next
// packet once its address is listed (first = false), and an address taken
// off the list stops hitting.
func TestThreatListReplaced(t *testing.T) {
	testutil.RequirePrivileged(t)
	o, ev := loadThreats(t, true)
	late := netip.MustParseAddr("198.19.99.1")
	runThreatCase(t, o, ev, threatCase{frame: tcpCopy(good4, late, 7, 8, true), verdict: XDPDrop, reason: "flow",
		flags: []string{"flow_start"}, events: []flow.EventType{flow.FlowStart}})
	next := []flow.ThreatEntry{{Prefix: netip.MustParsePrefix("198.19.99.0/24"), List: 3}, {Prefix: netip.MustParsePrefix("2001:db8:66::/48"), List: 2}}
	if err := o.Threats().SetThreats(next); err != nil {
		t.Fatal(err)
	}
	got, err := o.Threats().List()
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b flow.ThreatEntry) int { return int(a.List) - int(b.List) })
	if !slices.Equal(got, next[1:2]) && !(len(got) == 2 && got[0] == next[1] && got[1] == next[0]) {
		t.Errorf("trie holds %v, want %v", got, next)
	}
	runThreatCase(t, o, ev, threatCase{frame: tcpCopy(good4, late, 7, 8, false), verdict: XDPDrop, reason: "flow",
		flags: []string{"threat_hit", "threat_event"}, events: []flow.EventType{flow.ThreatHit}, hit: &flow.ThreatMatch{DstList: 3}})
	runThreatCase(t, o, ev, threatCase{frame: tcpCopy(good4, bad4, 9, 10, true), verdict: XDPDrop, reason: "flow",
		flags: []string{"flow_start"}, events: []flow.EventType{flow.FlowStart}})
	// Too many for the table: refused, the trie unchanged.
	var many []flow.ThreatEntry
	for i := 0; i < 17; i++ {
		many = append(many, flow.ThreatEntry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, 100, byte(i)}), 32), List: 1})
	}
	if err := o.Threats().SetThreats(many); err == nil {
		t.Error("17 prefixes fit a 16-entry table")
	}
	if after, _ := o.Threats().List(); len(after) != 2 {
		t.Errorf("a refused set changed the trie: %v", after)
	}
	// Two sets of 10 in a 16-entry table: the stale ones make room first.
	for _, base := range []byte{100, 101} {
		var ten []flow.ThreatEntry
		for i := 0; i < 10; i++ {
			ten = append(ten, flow.ThreatEntry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, base, byte(i)}), 32), List: 1})
		}
		if err := o.Threats().SetThreats(ten); err != nil {
			t.Fatalf("10 prefixes replacing others in a 16-entry table: %v", err)
		}
		if got, _ := o.Threats().List(); len(got) != 10 || got[0].Prefix.Addr().As4()[2] != base {
			t.Fatalf("trie holds %v", got)
		}
	}
	if err := o.Threats().SetThreats([]flow.ThreatEntry{{Prefix: netip.PrefixFrom(bad4, 32)}}); err == nil {
		t.Error("list id 0 accepted")
	}
}

// TestThreatSlotReused: a removed flow's slot, claimed again by a new
// flow, starts without the mark: the new flow's first hit is sent.
func TestThreatSlotReused(t *testing.T) {
	testutil.RequirePrivileged(t)
	o, ev := loadThreats(t, true)
	c := threatCase{frame: tcpCopy(good4, bad4, 11, 12, true), verdict: XDPDrop, reason: "flow",
		flags: []string{"flow_start", "threat_hit", "threat_event"}, events: []flow.EventType{flow.FlowStart, flow.ThreatHit},
		hit: &flow.ThreatMatch{DstList: 1, First: true}}
	runThreatCase(t, o, ev, c)
	k := flowKey(42, good4, bad4, 6, 11, 12)
	if _, err := o.Remove([]flow.Key{k}); err != nil {
		t.Fatal(err)
	}
	runThreatCase(t, o, ev, c)
}

// TestThreatOff: loaded without the switch, listed addresses are accounted
// as any other: no hit counted, no event.
func TestThreatOff(t *testing.T) {
	testutil.RequirePrivileged(t)
	o, ev := loadThreats(t, false)
	if o.ThreatEnabled() {
		t.Error("ThreatEnabled with the switch off")
	}
	runThreatCase(t, o, ev, threatCase{frame: tcpCopy(good4, bad4, 40000, 443, true), verdict: XDPDrop, reason: "flow",
		flags: []string{"flow_start"}, events: []flow.EventType{flow.FlowStart}})
}

// TestThreatSwitchReadBack: a daemon re-opening a pinned program reads
// from the program's .rodata whether it was loaded with the threat check.
func TestThreatSwitchReadBack(t *testing.T) {
	testutil.RequirePrivileged(t)
	spec, err := LoadVxtap()
	if err != nil {
		t.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		o, _ := loadThreats(t, on)
		got, err := pinnedSwitch(o.VxtapXdp, spec, "cfg_threat_enabled")
		if err != nil || got != on {
			t.Errorf("loaded with the switch %v, read back %v (%v)", on, got, err)
		}
	}
	o, _ := loadThreats(t, true)
	if _, err := pinnedSwitch(o.VxtapXdp, spec, "cfg_flow_max"); err == nil {
		t.Error("a four-byte variable read as a one-byte switch")
	}
}
