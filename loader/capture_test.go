package loader

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/livecap"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// captureSpec compiles a filter expression for a test.
func captureSpec(t *testing.T, expr string, snap uint32, limit uint64, gen uint8) livecap.Spec {
	t.Helper()
	f, err := livecap.ParseFilter(expr, livecap.Sessions{"web": 42})
	if err != nil {
		t.Fatalf("filter %q: %v", expr, err)
	}
	return livecap.Spec{Terms: f.Terms(), SnapLen: snap, Limit: limit, Gen: gen}
}

// readCaptures drains the ring and keeps the capture records.
func readCaptures(t *testing.T, ev *Events) []flow.Sample {
	t.Helper()
	var out []flow.Sample
	if _, err := ev.Read(time.Unix(1, 0), nil, func(s flow.Sample) {
		if s.Captures != 0 {
			out = append(out, s)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func loadForCapture(t *testing.T) (*Objects, *Events) {
	t.Helper()
	testutil.RequirePrivileged(t)
	return loadWithEvents(t, DefaultConfig())
}

// loadWithEvents loads the program with cfg and opens its ring buffer's
// reader, both closed when the test ends.
func loadWithEvents(t testing.TB, cfg Config) (*Objects, *Events) {
	t.Helper()
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	ev, err := o.OpenEvents()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	return o, ev
}

// TestCaptureFilterTable: each row runs one frame through the program
// with one capture slot set to a filter; the copy crosses the ring buffer
// exactly when the filter matches it, and the slot's counters say so.
func TestCaptureFilterTable(t *testing.T) {
	o, ev := loadForCapture(t)
	m := func(vni uint32, inner func() []byte) []byte { return inner() }
	_ = m
	tcp4 := mirrored(t, 42, innerTCP4(1001, 443, 100)...)
	udp4 := mirrored(t, 43, innerUDP4(1002, 53, 30)...)
	icmp6 := mirrored(t, 42, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolICMPv6, in6a, in6b), payload(16))
	tcp6 := mirrored(t, 42, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolTCP, in6a, in6b), tcpL(1006, 443), payload(20))
	cases := []struct {
		filter string
		frame  []byte
		match  bool
	}{
		{"", tcp4, true},
		{"vni 42", tcp4, true},
		{"vni 43", tcp4, false},
		{"session web", tcp4, true},
		{"session web", udp4, false},
		{"port 443", tcp4, true},
		{"port 1001", tcp4, true},
		{"sport 443", tcp4, false},
		{"dport 443", tcp4, true},
		{"dport 53", udp4, true},
		{"tcp", tcp4, true},
		{"udp", tcp4, false},
		{"icmp", icmp6, true},
		{"icmp port 0", icmp6, false}, // ICMP has no ports, as in the top view
		{"proto 58", icmp6, true},
		{"198.19.1.0/24", tcp4, true},
		{"198.19.2.0/24", tcp4, false},
		{"src 198.19.1.1", tcp4, true},
		{"src 198.19.1.2", tcp4, false},
		{"dst 198.19.1.2", tcp4, true},
		{"2001:db8:1::/48", tcp6, true},
		{"2001:db8:1::/48", tcp4, false}, // family differs
		{"198.19.0.0/16", tcp6, false},
		{"dst 2001:db8:1::2 tcp port 443", tcp6, true},
		{"dst 2001:db8:1::2 tcp port 444", tcp6, false},
		{"mirror 198.18.0.11", tcp4, true},
		{"mirror 198.18.0.0/15", tcp4, true},
		{"mirror 2001:db8:ff::12", tcp4, false},
		{"0.0.0.0/0", tcp4, true},
		{"::ffff:198.19.1.0/120", tcp4, false}, // IPv4-mapped stays IPv6, as in the top view
		{"vni 42 udp", tcp4, false},
	}
	for i, c := range cases {
		gen := uint8(i + 1)
		if err := o.SetCapture(3, captureSpec(t, c.filter, 64, 0, gen)); err != nil {
			t.Fatalf("%q: %v", c.filter, err)
		}
		if _, err := o.RunPacket(c.frame, time.Now()); err != nil {
			t.Fatal(err)
		}
		got := readCaptures(t, ev)
		cnt, err := o.CaptureCounters(3)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if c.match {
			want = 1
		}
		if len(got) != want || cnt.Matched != uint64(want) || cnt.Sent != uint64(want) || cnt.Lost != 0 {
			t.Errorf("filter %q: %d records, counters %+v; want %d", c.filter, len(got), cnt, want)
			continue
		}
		if want == 1 && (got[0].Captures != 1<<3 || got[0].CaptureGens[3] != gen) {
			t.Errorf("filter %q: captures %08b gen %d, want slot 3 gen %d", c.filter, got[0].Captures, got[0].CaptureGens[3], gen)
		}
	}
	if err := o.ClearCapture(3); err != nil {
		t.Fatal(err)
	}
	if _, err := o.RunPacket(tcp4, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := readCaptures(t, ev); len(got) != 0 {
		t.Errorf("cleared slot: %d records", len(got))
	}
}

// TestCaptureRecord: the record carries the inner frame up to the largest
// snap length of the captures it matched, the original length, the mirror
// source, and one bit per capture; a copy matching two captures crosses
// the ring buffer once.
func TestCaptureRecord(t *testing.T) {
	o, ev := loadForCapture(t)
	if err := o.SetCapture(0, captureSpec(t, "tcp", 40, 0, 7)); err != nil {
		t.Fatal(err)
	}
	if err := o.SetCapture(5, captureSpec(t, "port 443", 96, 0, 9)); err != nil {
		t.Fatal(err)
	}
	frame := mirrored(t, 42, innerTCP4(1001, 443, 300)...)
	inner := frame[offInner:]
	if _, err := o.RunPacket(frame, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := readCaptures(t, ev)
	if len(got) != 1 {
		t.Fatalf("%d records for one copy matching two captures, want 1", len(got))
	}
	s := got[0]
	if s.Captures != 1|1<<5 || s.CaptureGens[0] != 7 || s.CaptureGens[5] != 9 {
		t.Errorf("captures %08b gens %v", s.Captures, s.CaptureGens)
	}
	if s.VNI != 42 || s.OrigLen != uint32(len(inner)) || !bytes.Equal(s.Data, inner[:96]) || s.MirrorSource != outerSrc4 {
		t.Errorf("record vni %d orig %d len %d mirror %s; want 42, %d, 96 inner bytes, %s", s.VNI, s.OrigLen, len(s.Data), s.MirrorSource, len(inner), outerSrc4)
	}
	// A copy the session truncated (AWS PacketLength) reports the inner
	// frame's length as its IP header states it: Wireshark then shows
	// the copy as cut, with its real length.
	if _, err := o.RunPacket(frame[:offInner+80], time.Now()); err != nil {
		t.Fatal(err)
	}
	got = readCaptures(t, ev)
	if len(got) != 1 || got[0].OrigLen != uint32(len(inner)) || !bytes.Equal(got[0].Data, inner[:80]) {
		t.Errorf("truncated copy: %d records %+v; want orig %d and its 80 bytes", len(got), got, len(inner))
	}
	// A rejected or malformed copy is never captured: only accounted ones.
	if _, err := o.RunPacket(frame[:offInner+10], time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := readCaptures(t, ev); len(got) != 0 {
		t.Errorf("malformed copy captured: %d records", len(got))
	}
}

// TestCaptureNothingMatches: a capture whose filter matches nothing puts
// nothing in the ring buffer, and its counters show none matched.
func TestCaptureNothingMatches(t *testing.T) {
	o, ev := loadForCapture(t)
	if err := o.SetCapture(1, captureSpec(t, "vni 999", 128, 0, 1)); err != nil {
		t.Fatal(err)
	}
	frame := mirrored(t, 42, innerTCP4(1001, 443, 300)...)
	for i := 0; i < 50; i++ {
		if _, err := o.RunPacket(frame, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var records int
	if _, err := ev.Read(time.Unix(1, 0), func(flow.Event) { records++ }, func(flow.Sample) { records++ }); err != nil {
		t.Fatal(err)
	}
	// The flow's start event is the only record: no capture, no sample.
	if records != 1 {
		t.Errorf("%d ring records, want 1 (the flow start)", records)
	}
	if c, _ := o.CaptureCounters(1); c != (livecap.Counters{}) {
		t.Errorf("counters %+v, want zero", c)
	}
}

// TestCaptureLimit: with -c 3 the program sends 3 copies and then stops
// on its own; the rest are counted over the limit.
func TestCaptureLimit(t *testing.T) {
	o, ev := loadForCapture(t)
	if err := o.SetCapture(2, captureSpec(t, "", 64, 3, 1)); err != nil {
		t.Fatal(err)
	}
	frame := mirrored(t, 42, innerTCP4(1001, 443, 300)...)
	for i := 0; i < 10; i++ {
		if _, err := o.RunPacket(frame, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if got := readCaptures(t, ev); len(got) != 3 {
		t.Errorf("%d records, want 3", len(got))
	}
	c, _ := o.CaptureCounters(2)
	if c.Matched != 10 || c.Sent != 3 || c.OverLimit != 7 {
		t.Errorf("counters %+v, want matched 10 sent 3 over_limit 7", c)
	}
	act, _ := o.CaptureActive()
	if act != 1<<2 {
		t.Errorf("active %08b", act)
	}
	o.ClearCapture(2)
	if act, _ := o.CaptureActive(); act != 0 {
		t.Errorf("active after clear %08b", act)
	}
}

// TestCaptureRule: a capture record names the filter rule that accepted
// the copy (0 for a session without rules), and a copy the rules reject
// is never captured.
func TestCaptureRule(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadFiltered(t, DefaultFilterCapacity)
	comp := compileYAML(t, "rules.yaml", `
sessions:
  42: {filter: f}
  43: {action: analyze}
filters:
  f:
    ingress: [{rule: 300, action: accept, protocol: udp}, {rule: 310, action: reject, protocol: tcp}]
`)
	if _, err := o.FilterMaps().Apply(comp); err != nil {
		t.Fatal(err)
	}
	ev, err := o.OpenEvents()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	if err := o.SetCapture(0, captureSpec(t, "", 64, 0, 1)); err != nil {
		t.Fatal(err)
	}
	for _, vni := range []uint32{42, 43} {
		if _, err := o.RunPacket(from(outerSrc4, vni, ethL(0x0800), ip4L(17, in4a, outerSrc4), udpL(5000, 53), payload(8))(t), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// Rejected by rule 310: not accounted, so not captured.
	if _, err := o.RunPacket(from(outerSrc4, 42, ethL(0x0800), ip4L(6, in4a, outerSrc4), tcpL(5000, 80), payload(8))(t), time.Now()); err != nil {
		t.Fatal(err)
	}
	got := map[uint32]uint32{}
	for _, s := range readCaptures(t, ev) {
		got[s.VNI] = s.Rule
	}
	if got[42] != 300 || got[43] != 0 || len(got) != 2 {
		t.Errorf("captured rules by VNI %v, want 42:300 43:0 and no rejected copy", got)
	}
	if c, _ := o.CaptureCounters(0); c.Matched != 2 || c.Sent != 2 {
		t.Errorf("counters %+v, want 2 matched and sent", c)
	}
}
