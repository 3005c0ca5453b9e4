package api_test

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/rates"
	"github.com/vxtap/vxtap/userspace/topview"
)

// Past MaxInFlight requests being answered, the next gets 429 at once
// (it does not queue behind them); once they finish the API answers again.
func TestInFlightBound(t *testing.T) {
	s, fake := serve(t, "vxtap-no-such-group")
	entered, release := fake.HoldViews()
	var wg sync.WaitGroup
	codes := make(chan int, api.MaxInFlight)
	for range api.MaxInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := rawGet(t, s.Path(), "GET", "/v1/top")
			codes <- code
		}()
	}
	for range api.MaxInFlight {
		select {
		case <-entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the held requests never reached the view")
		}
	}
	for _, target := range []string{"/v1/top", "/v1/status", "/v1/counters"} {
		code, eb := rawGet(t, s.Path(), "GET", target)
		if code != http.StatusTooManyRequests || eb.Error != "4 requests are being answered already: try again in a second" {
			t.Errorf("%s past the bound: %d %+v", target, code, eb)
		}
	}
	release()
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("a held request ended with %d", code)
		}
	}
	if code, _ := rawGet(t, s.Path(), "GET", "/v1/top"); code != http.StatusOK {
		t.Errorf("after the burst: %d", code)
	}
}

// n=0 gets MaxRows rows, streamed (no Content-Length) and whole.
func TestLargeAnswerStreamed(t *testing.T) {
	s, fake := serve(t, "vxtap-no-such-group")
	fs := make([]rates.Flow, api.MaxRows+10)
	for i := range fs {
		fs[i] = rates.Flow{Key: flow.Key{VNI: 7, Src: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}),
			Dst: netip.MustParseAddr("198.19.0.1"), Proto: 6, SPort: uint16(i), DPort: 443}, BPS: float64(i), PPS: 1, Packets: 1, Bytes: 100}
	}
	snap := rates.NewSnapshot(time.Now(), time.Second, 3, fs)
	fake.SetSnapshot(snap)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", s.Path())
	}}}
	resp, err := hc.Get("http://vxtap/v1/top?n=0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ContentLength != -1 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("n=0: content length %d, type %q: want a streamed JSON answer", resp.ContentLength, resp.Header.Get("Content-Type"))
	}
	c, err := api.DialPath(s.Path(), "eth0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Top(context.Background(), topview.Query{N: 0})
	if err != nil {
		t.Fatal(err)
	}
	want := topview.Build(snap, topview.Query{N: 0})
	if len(res.Rows) != api.MaxRows || res.N != api.MaxRows || res.Header.Groups != api.MaxRows+10 {
		t.Fatalf("%d rows, n %d, groups %d", len(res.Rows), res.N, res.Header.Groups)
	}
	for i := range want.Rows {
		if g, w := res.Rows[i], want.Rows[i]; g.Src != w.Src || *g.SPort != *w.SPort || g.BitsPerSecond != w.BitsPerSecond {
			t.Fatalf("row %d: %+v, want %+v", i, g, w)
		}
	}
}

// One grouped view is built at a time; a second waits its turn with 429.
func TestGroupedViewBound(t *testing.T) {
	s, fake := serve(t, "vxtap-no-such-group")
	entered, release := fake.HoldViews()
	done := make(chan int, 1)
	go func() {
		code, _ := rawGet(t, s.Path(), "GET", "/v1/top?group=src")
		done <- code
	}()
	<-entered
	code, eb := rawGet(t, s.Path(), "GET", "/v1/top?group=dport")
	if code != http.StatusTooManyRequests || eb.Parameter != "group" || eb.Error != "1 grouped view is being built already: try again in a second (group=5tuple is not limited so)" {
		t.Errorf("second grouped view: %d %+v", code, eb)
	}
	release()
	if code := <-done; code != http.StatusOK {
		t.Errorf("the first grouped view: %d", code)
	}
	if code, _ := rawGet(t, s.Path(), "GET", "/v1/top?group=dport"); code != http.StatusOK {
		t.Errorf("after it: %d", code)
	}
}
