package livecap_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/livecap"
	"github.com/vxtap/vxtap/userspace/livecap/livecaptest"
)

func copyFor(slots uint8, gens map[int]uint8, n int) flow.Sample {
	s := flow.Sample{VNI: 101, Time: time.Unix(1700000000, 5), OrigLen: 1500, Rule: 7, Data: bytes.Repeat([]byte{0xab}, n),
		Captures: slots, MirrorSource: netip.MustParseAddr("198.18.0.11")}
	for i, g := range gens {
		s.CaptureGens[i] = g
	}
	return s
}

// TestHubRoutes: a copy reaches each capture whose bit and generation it
// carries, cut to that capture's snap length; a copy sent for a slot's
// earlier capture reaches nobody.
func TestHubRoutes(t *testing.T) {
	dp := &livecaptest.Datapath{}
	h := livecap.NewHub(dp)
	a, err := h.Start(livecap.Spec{SnapLen: 64}, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Start(livecap.Spec{SnapLen: 2048}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if a.Slot == b.Slot || dp.NActive() != 2 {
		t.Fatalf("slots %d %d, %d active", a.Slot, b.Slot, dp.NActive())
	}
	gens := map[int]uint8{a.Slot: a.Spec.Gen, b.Slot: b.Spec.Gen}
	both := copyFor(1<<a.Slot|1<<b.Slot, gens, 200)
	stale := copyFor(1<<a.Slot, map[int]uint8{a.Slot: a.Spec.Gen + 100}, 200)
	h.Route([]flow.Sample{both, stale, {VNI: 5}})
	ga, gb := <-a.C, <-b.C
	if len(ga) != 1 || len(ga[0].Data) != 64 || len(gb) != 1 || len(gb[0].Data) != 200 {
		t.Fatalf("a got %d copies, b %d; want one each, 64 and 200 bytes", len(ga), len(gb))
	}
	if ga[0].OrigLen != 1500 || ga[0].MirrorSource != both.MirrorSource {
		t.Errorf("copy lost its original length or mirror source: %+v", ga[0])
	}
	if _, err := h.Stop(a); err != nil {
		t.Fatal(err)
	}
	if dp.NActive() != 1 {
		t.Errorf("%d active after one stop", dp.NActive())
	}
	if _, err := h.Stop(a); err == nil {
		t.Error("stopping twice is not an error")
	}
}

// TestHubSlowClient: a capture nobody reads drops whole drains, counted,
// and Route returns at once every time.
func TestHubSlowClient(t *testing.T) {
	h := livecap.NewHub(&livecaptest.Datapath{})
	s, err := h.Start(livecap.Spec{SnapLen: 128}, 2)
	if err != nil {
		t.Fatal(err)
	}
	c := copyFor(1<<s.Slot, map[int]uint8{s.Slot: s.Spec.Gen}, 100)
	start := time.Now()
	for i := 0; i < 10; i++ {
		h.Route([]flow.Sample{c, c, c})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Route took %v with a full queue", d)
	}
	if s.Delivered() != 6 || s.Dropped() != 24 {
		t.Errorf("delivered %d dropped %d, want 6 and 24", s.Delivered(), s.Dropped())
	}
}

// TestHubLimit: with -c 5 exactly 5 copies are queued and Done closes.
func TestHubLimit(t *testing.T) {
	h := livecap.NewHub(&livecaptest.Datapath{})
	s, err := h.Start(livecap.Spec{SnapLen: 128, Limit: 5}, 8)
	if err != nil {
		t.Fatal(err)
	}
	c := copyFor(1<<s.Slot, map[int]uint8{s.Slot: s.Spec.Gen}, 10)
	h.Route([]flow.Sample{c, c, c})
	select {
	case <-s.Done:
		t.Fatal("done after 3 of 5")
	default:
	}
	h.Route([]flow.Sample{c, c, c, c})
	<-s.Done
	n := len(<-s.C) + len(<-s.C)
	if n != 5 {
		t.Errorf("%d copies queued, want 5", n)
	}
}

// TestHubBusy: a ninth capture is refused while eight run.
func TestHubBusy(t *testing.T) {
	h := livecap.NewHub(&livecaptest.Datapath{})
	for i := 0; i < livecap.MaxSlots; i++ {
		if _, err := h.Start(livecap.Spec{SnapLen: 64}, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Start(livecap.Spec{SnapLen: 64}, 1); err != livecap.ErrBusy {
		t.Errorf("ninth capture: %v, want ErrBusy", err)
	}
}

// TestParseFilterSessions: session NAME becomes its VNI; unknown names
// and too many terms are errors naming the problem.
func TestParseFilterSessions(t *testing.T) {
	f, err := livecap.ParseFilter("session web tcp", livecap.Sessions{"web": 101})
	if err != nil || f.String() != "vni 101 tcp" {
		t.Errorf("got %q %v", f.String(), err)
	}
	if _, err := livecap.ParseFilter("session db", livecap.Sessions{"web": 101}); err == nil || !bytes.Contains([]byte(err.Error()), []byte(`session "db"`)) {
		t.Errorf("unknown session: %v", err)
	}
	if _, err := livecap.ParseFilter("tcp tcp tcp tcp tcp tcp tcp tcp tcp", nil); err == nil {
		t.Error("9 terms accepted")
	}
	if _, err := livecap.ParseFilter("session", nil); err == nil {
		t.Error("session without a name accepted")
	}
}

// TestStreamRoundTrip: packets survive the framing, and a stream cut
// inside a frame says so.
func TestStreamRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := livecap.NewWriter(&buf)
	w.JSON(livecap.FrameHeader, livecap.Header{Iface: "eth1", Sessions: map[uint32]string{101: "web"}})
	in := copyFor(1, nil, 300)
	in6 := in
	in6.MirrorSource = netip.MustParseAddr("2001:db8::12")
	w.Packet(in)
	w.Packet(in6)
	w.JSON(livecap.FrameEnd, livecap.End{Reason: "count reached"})
	w.Flush()
	whole := buf.Bytes()
	r := livecap.NewReader(bytes.NewReader(whole))
	kinds := ""
	for {
		k, body, err := r.Next()
		if err != nil {
			break
		}
		kinds += string(k)
		if k == livecap.FramePacket {
			s, err := livecap.DecodePacket(body)
			if err != nil {
				t.Fatal(err)
			}
			if s.VNI != 101 || s.OrigLen != 1500 || s.Rule != 7 || !s.Time.Equal(in.Time) || len(s.Data) != 300 ||
				(s.MirrorSource != in.MirrorSource && s.MirrorSource != in6.MirrorSource) {
				t.Errorf("decoded %+v", s)
			}
		}
	}
	if kinds != "HPPE" {
		t.Errorf("frames %q", kinds)
	}
	r = livecap.NewReader(bytes.NewReader(whole[:len(whole)-3]))
	var err error
	for err == nil {
		_, _, err = r.Next()
	}
	if err != livecap.ErrTruncated {
		t.Errorf("cut stream: %v", err)
	}
}
