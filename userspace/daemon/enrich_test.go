package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/enrich"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
	"github.com/vxtap/vxtap/userspace/pipeline"
	"github.com/vxtap/vxtap/userspace/pipeline/pipelinetest"
)

// TestRecordsEnriched: every sink sees records with the session, ENI,
// rule and direction; a VNI with no session says "-"; a reload of the
// sessions applies to the records made after it.
func TestRecordsEnriched(t *testing.T) {
	tab := flowtest.NewTable()
	var sess enrich.Sessions
	sess.Set(map[uint32]enrich.Session{42: {Name: "web-1", ENI: "eni-0123456789abcdef0"}})
	sink := &pipelinetest.Memory{ID: "mem"}
	cfg := fastConfig()
	cfg.Enrich = &sess
	d, err := New(cfg, Sources{Flows: tab, Events: tab}, pipeline.Outputs{Records: []pipeline.RecordSink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	a, b := key(1), key(2)
	b.VNI = 99
	tab.Packet(a, 100, time.Now(), 0)
	tab.Packet(b, 100, time.Now(), 0)
	tab.Decide(a, 300, flow.DirIngress)
	eventually(t, "two records", func() bool { return len(sink.Records()) == 2 })
	sess.Set(map[uint32]enrich.Session{99: {Name: "db-1", ENI: "eni-0fff"}}) // SIGHUP
	tab.Packet(b, 100, time.Now(), 0)
	eventually(t, "a third record", func() bool { return len(sink.Records()) == 3 })
	cancel()
	<-done
	d.Shutdown(true)
	recs := sink.Records()
	want := []flow.Record{
		{VNI: 42, Session: "web-1", ENI: "eni-0123456789abcdef0", Rule: 300, Direction: flow.DirIngress},
		{VNI: 99, Session: enrich.NoSession},
		{VNI: 99, Session: "db-1", ENI: "eni-0fff"},
	}
	if recs[0].VNI != 42 {
		recs[0], recs[1] = recs[1], recs[0]
	}
	for i, w := range want {
		r := recs[i]
		if r.VNI != w.VNI || r.Session != w.Session || r.ENI != w.ENI || r.Rule != w.Rule || r.Direction != w.Direction {
			t.Errorf("record %d: vni %d session %q eni %q rule %d dir %v, want %+v", i, r.VNI, r.Session, r.ENI, r.Rule, r.Direction, w)
		}
	}
}
