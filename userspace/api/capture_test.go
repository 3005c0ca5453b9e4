package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/api/apitest"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/livecap"
	"github.com/vxtap/vxtap/userspace/livecap/livecaptest"
)

// serveCaptures starts a server with live captures on a fake data path.
func serveCaptures(t *testing.T) (*api.Client, *livecap.Hub, *livecaptest.Datapath) {
	t.Helper()
	t.Cleanup(api.SetGroupName("vxtap-no-such-group"))
	dp := &livecaptest.Datapath{}
	hub := livecap.NewHub(dp)
	s2, err := api.ListenPath(filepath.Join(t.TempDir(), "cap.sock"), "eth0", apitest.NewFake("eth0"))
	if err != nil {
		t.Fatal(err)
	}
	s2.SetCaptures(hub, func() map[uint32]string { return map[uint32]string{101: "web", 102: "db"} })
	done := make(chan error, 1)
	go func() { done <- s2.Serve() }()
	t.Cleanup(func() { s2.Close(); <-done })
	c, err := api.DialPath(s2.Path(), "eth0")
	if err != nil {
		t.Fatal(err)
	}
	return c, hub, dp
}

// waitActive waits until the fake data path runs n captures.
func waitActive(t *testing.T, dp *livecaptest.Datapath, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); dp.NActive() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d captures active, want %d", dp.NActive(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// feed routes copies to every active slot until stop closes.
func feed(hub *livecap.Hub, dp *livecaptest.Datapath, vni uint32, stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		s := flow.Sample{VNI: vni, Time: time.Now(), OrigLen: 900, Data: make([]byte, 600)}
		for i, sp := range dp.Active() {
			if sp != nil {
				s.Captures |= 1 << i
				s.CaptureGens[i] = sp.Gen
			}
		}
		hub.Route([]flow.Sample{s})
	}
}

type streamed struct {
	head    livecap.Header
	packets []flow.Sample
	end     *livecap.End
}

func readStream(t *testing.T, r io.Reader) streamed {
	t.Helper()
	var out streamed
	rd := livecap.NewReader(r)
	for {
		k, body, err := rd.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Logf("stream ended: %v", err)
			}
			return out
		}
		switch k {
		case livecap.FrameHeader:
			json.Unmarshal(body, &out.head)
		case livecap.FramePacket:
			s, err := livecap.DecodePacket(body)
			if err != nil {
				t.Fatal(err)
			}
			s.Data = append([]byte(nil), s.Data...)
			out.packets = append(out.packets, s)
		case livecap.FrameEnd:
			var e livecap.End
			json.Unmarshal(body, &e)
			out.end = &e
		}
	}
}

// TestCaptureCount: -c 5 streams a header naming the sessions, exactly 5
// packets cut to the snap length, and an end frame; the slot is freed.
func TestCaptureCount(t *testing.T) {
	c, hub, dp := serveCaptures(t)
	stop := make(chan struct{})
	defer close(stop)
	go feed(hub, dp, 101, stop)
	st, err := c.Capture(context.Background(), api.CaptureQuery{Filter: "session web", SnapLen: 100, Count: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := readStream(t, st.Body)
	if got.head.Sessions[101] != "web" || got.head.Filter != "vni 101" || got.head.SnapLen != 100 {
		t.Errorf("header %+v", got.head)
	}
	if len(got.packets) != 5 {
		t.Fatalf("%d packets, want 5", len(got.packets))
	}
	for _, p := range got.packets {
		if len(p.Data) != 100 || p.OrigLen != 900 {
			t.Errorf("packet of %d bytes (orig %d), want 100 (900)", len(p.Data), p.OrigLen)
		}
	}
	if got.end == nil || got.end.Reason != "count reached" {
		t.Errorf("end %+v", got.end)
	}
	waitActive(t, dp, 0)
}

// TestCaptureClientGone: a client that drops the connection frees its
// slot; one that half-closes (Ctrl-C) still gets the end frame.
func TestCaptureClientGone(t *testing.T) {
	c, hub, dp := serveCaptures(t)
	stop := make(chan struct{})
	defer close(stop)
	go feed(hub, dp, 102, stop)
	gone, err := c.Capture(context.Background(), api.CaptureQuery{})
	if err != nil {
		t.Fatal(err)
	}
	polite, err := c.Capture(context.Background(), api.CaptureQuery{Filter: "vni 102"})
	if err != nil {
		t.Fatal(err)
	}
	waitActive(t, dp, 2)
	gone.Close()
	waitActive(t, dp, 1)
	time.Sleep(50 * time.Millisecond)
	polite.Stop()
	got := readStream(t, polite.Body)
	polite.Close()
	if got.end == nil || got.end.Reason != "client stopped" || len(got.packets) == 0 {
		t.Errorf("half-closed client: %d packets, end %+v", len(got.packets), got.end)
	}
	waitActive(t, dp, 0)
}

// TestCaptureErrors: a bad filter names the parameter; a ninth capture
// is refused while eight run; captures do not take the API's request
// slots (4), so the other endpoints still answer.
func TestCaptureErrors(t *testing.T) {
	c, _, dp := serveCaptures(t)
	_, err := c.Capture(context.Background(), api.CaptureQuery{Filter: "vni banana"})
	var re *api.RequestError
	if !errors.As(err, &re) || re.Parameter != "filter" || re.Code != http.StatusBadRequest {
		t.Errorf("bad filter: %v", err)
	}
	_, err = c.Capture(context.Background(), api.CaptureQuery{Filter: "session nosuch"})
	if err == nil || !strings.Contains(err.Error(), `session "nosuch"`) {
		t.Errorf("unknown session: %v", err)
	}
	var streams []*api.CaptureStream
	for i := 0; i < livecap.MaxSlots; i++ {
		st, err := c.Capture(context.Background(), api.CaptureQuery{})
		if err != nil {
			t.Fatalf("capture %d: %v", i+1, err)
		}
		streams = append(streams, st)
	}
	waitActive(t, dp, livecap.MaxSlots)
	if _, err := c.Status(context.Background()); err != nil {
		t.Errorf("/v1/status while %d captures run: %v", livecap.MaxSlots, err)
	}
	_, err = c.Capture(context.Background(), api.CaptureQuery{})
	if !errors.As(err, &re) || re.Code != http.StatusServiceUnavailable {
		t.Errorf("ninth capture: %v", err)
	}
	for _, st := range streams {
		st.Close()
	}
	waitActive(t, dp, 0)
}

// TestCaptureSlowClient: a client that does not read loses copies once
// its queue is full; Route never waits, and the end frame accounts for
// every copy: written to the client or counted as dropped.
func TestCaptureSlowClient(t *testing.T) {
	c, hub, dp := serveCaptures(t)
	st, err := c.Capture(context.Background(), api.CaptureQuery{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitActive(t, dp, 1)
	gen := uint8(0)
	for i, sp := range dp.Active() {
		if sp != nil {
			if i != 0 {
				t.Fatalf("capture in slot %d", i)
			}
			gen = sp.Gen
		}
	}
	const fed = 5000
	start := time.Now()
	for i := 0; i < fed; i++ {
		s := flow.Sample{VNI: 101, Time: time.Now(), OrigLen: 1500, Data: make([]byte, 1500), Captures: 1}
		s.CaptureGens[0] = gen
		hub.Route([]flow.Sample{s})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("routing %d copies to a client that does not read took %v", fed, d)
	}
	st.Stop()
	got := readStream(t, st.Body)
	if got.end == nil {
		t.Fatal("no end frame")
	}
	if got.end.Dropped == 0 || got.end.Delivered+got.end.Dropped != fed || uint64(len(got.packets)) != got.end.Delivered {
		t.Errorf("fed %d: %d written, end %+v", fed, len(got.packets), got.end)
	}
	t.Logf("fed %d: %d written, %d dropped", fed, len(got.packets), got.end.Dropped)
}

// TestCaptureCountWithLosses: with -c 5, when the data path sent 3 and
// lost 2 in the ring buffer, it will send no more: the capture ends with
// the 3 it got instead of waiting forever.
func TestCaptureCountWithLosses(t *testing.T) {
	c, hub, dp := serveCaptures(t)
	st, err := c.Capture(context.Background(), api.CaptureQuery{Count: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitActive(t, dp, 1)
	sp := dp.Active()[0]
	for i := 0; i < 3; i++ {
		s := flow.Sample{VNI: 101, Time: time.Now(), OrigLen: 60, Data: make([]byte, 60), Captures: 1}
		s.CaptureGens[0] = sp.Gen
		hub.Route([]flow.Sample{s})
	}
	dp.SetCounters(0, livecap.Counters{Matched: 5, Sent: 3, Lost: 2})
	got := readStream(t, st.Body)
	if len(got.packets) != 3 || got.end == nil || got.end.Reason != "count reached (some copies lost)" || got.end.Counters.Lost != 2 {
		t.Errorf("%d packets, end %+v", len(got.packets), got.end)
	}
	waitActive(t, dp, 0)
}
