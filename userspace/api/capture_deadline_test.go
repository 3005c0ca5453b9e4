package api

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/livecap"
	"github.com/vxtap/vxtap/userspace/livecap/livecaptest"
	"github.com/vxtap/vxtap/userspace/rates"
)

// idle is a Provider with nothing to tell.
type idle struct{}

func (idle) View(func(*rates.Snapshot))                        {}
func (idle) Counters() ([]flow.Counter, []flow.Counter, error) { return nil, nil, nil }
func (idle) Status() Status                                    { return Status{} }

// TestCaptureOutlivesServerTimeouts: a capture lasts as long as the
// client wants, past the server's read and write timeouts (here 100 ms).
func TestCaptureOutlivesServerTimeouts(t *testing.T) {
	t.Cleanup(SetGroupName("vxtap-no-such-group"))
	dp := &livecaptest.Datapath{}
	hub := livecap.NewHub(dp)
	s, err := ListenPath(filepath.Join(t.TempDir(), "t.sock"), "eth0", idle{})
	if err != nil {
		t.Fatal(err)
	}
	s.srv.ReadTimeout, s.srv.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond
	s.SetCaptures(hub, nil)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	defer func() { s.Close(); <-done }()
	c, err := DialPath(s.Path(), "eth0")
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Capture(context.Background(), CaptureQuery{Count: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	go func() {
		// One copy every 100 ms: the capture lasts 800 ms.
		for i := 0; i < 8; i++ {
			time.Sleep(100 * time.Millisecond)
			sp := dp.Active()[0]
			if sp == nil {
				return
			}
			s := flow.Sample{VNI: 1, Time: time.Now(), OrigLen: 10, Data: make([]byte, 10), Captures: 1}
			s.CaptureGens[0] = sp.Gen
			hub.Route([]flow.Sample{s})
		}
	}()
	r := livecap.NewReader(st.Body)
	packets, end := 0, false
	for {
		k, _, err := r.Next()
		if err != nil {
			break
		}
		switch k {
		case livecap.FramePacket:
			packets++
		case livecap.FrameEnd:
			end = true
		}
	}
	if packets != 8 || !end {
		t.Errorf("%d packets, end frame %v; want 8 and the end", packets, end)
	}
}
