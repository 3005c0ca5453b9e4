package api_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/api/apitest"
	"github.com/vxtap/vxtap/userspace/detect"
	"github.com/vxtap/vxtap/userspace/flow"
)

func serveFindings(t *testing.T, src api.FindingsSource) *api.Client {
	t.Helper()
	path := filepath.Join(t.TempDir(), "eth0.sock")
	s, err := api.ListenPath(path, "eth0", apitest.NewFake("eth0"))
	if err != nil {
		t.Fatal(err)
	}
	if src != nil {
		s.SetFindings(src)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() { s.Close(); <-done })
	c, err := api.DialPath(path, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// GET /v1/findings lists the store; after=seq gives only what changed
// since; bad parameters are 400s naming them; no store is a 503.
func TestFindingsEndpoint(t *testing.T) {
	e, err := detect.New(detect.Default(), detect.Sessions{7: {Name: "s7", ENI: "eni-07"}})
	if err != nil {
		t.Fatal(err)
	}
	c := serveFindings(t, e.Store())
	ctx := context.Background()
	got, err := c.Findings(ctx, detect.Query{})
	if err != nil || len(got.Findings) != 0 {
		t.Fatalf("empty store: %+v %v", got, err)
	}
	inst, victim := netip.MustParseAddr("198.18.0.7"), netip.MustParseAddr("198.19.0.1")
	var evs []flow.Event
	for p := uint16(1); p <= 200; p++ {
		evs = append(evs, flow.Event{Type: flow.FlowStart, Time: time.Unix(1e9, 0), TCPFlags: 0x02, MirrorSource: inst,
			Key: flow.Key{VNI: 7, Src: inst, Dst: victim, Proto: 6, SPort: 1234, DPort: p}})
	}
	e.WriteEvents(evs)
	got, err = c.Findings(ctx, detect.Query{})
	if err != nil || len(got.Findings) != 1 || got.Findings[0].Type != detect.TypePortscan || got.Findings[0].Vxtap.Session != "s7" {
		t.Fatalf("after a scan: %+v %v", got, err)
	}
	again, err := c.Findings(ctx, detect.Query{After: got.Seq})
	if err != nil || len(again.Findings) != 0 {
		t.Fatalf("nothing changed since seq %d: %+v %v", got.Seq, again, err)
	}
	if hi, _ := c.Findings(ctx, detect.Query{MinSeverity: 7}); len(hi.Findings) != 0 {
		t.Fatalf("min_severity 7: %+v", hi)
	}
	var re *api.RequestError
	if _, err := c.Findings(ctx, detect.Query{MinSeverity: 11}); !errors.As(err, &re) || re.Code != 400 || re.Parameter != "min_severity" {
		t.Fatalf("min_severity 11: %v", err)
	}

	off := serveFindings(t, nil)
	if _, err := off.Findings(ctx, detect.Query{}); !errors.As(err, &re) || re.Code != 503 {
		t.Fatalf("detection off: %v", err)
	}
}
