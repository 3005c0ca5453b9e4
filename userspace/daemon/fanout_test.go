package daemon

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
	"github.com/vxtap/vxtap/userspace/pipeline"
	"github.com/vxtap/vxtap/userspace/pipeline/pipelinetest"
)

// fastConfig sweeps often and times flows out quickly, for tests.
func fastConfig() Config {
	cfg := DefaultConfig()
	cfg.SweepInterval, cfg.DrainEvery = 10*time.Millisecond, 2*time.Millisecond
	cfg.Aggregate.IdleTimeout, cfg.Aggregate.EndGrace = 30*time.Millisecond, time.Millisecond
	cfg.RecordQueue, cfg.EventQueue, cfg.SampleQueue = 2, 2, 2
	cfg.ShutdownWait = 200 * time.Millisecond
	cfg.Instance = "test"
	return cfg
}

func key(i int) flow.Key {
	return flow.Key{VNI: 42, Src: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}),
		Dst: netip.MustParseAddr("198.19.0.1"), Proto: 17, SPort: uint16(i), DPort: 53}
}

// eventually polls cond until it holds or the time is up.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestBlockedSinkDoesNotStall: one sink of each kind blocks forever. The
// ring buffer keeps draining, the other sinks get every record, event and
// sample, and the blocked sink's drops are counted.
func TestBlockedSinkDoesNotStall(t *testing.T) {
	tab := flowtest.NewTable()
	stuck := pipelinetest.NewBlocking("stuck")
	good := &pipelinetest.Memory{ID: "good"}
	d, err := New(fastConfig(), Sources{Flows: tab, Events: tab, Counters: nil}, pipeline.Outputs{
		Records: []pipeline.RecordSink{stuck, good},
		Events:  []pipeline.EventSink{stuck, good},
		Samples: []pipeline.SampleSink{stuck, good},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	const n = 300
	for i := 0; i < n; i++ {
		// FIN: each flow ends at the sweep after it; in waves, so the
		// records come in many batches.
		tab.Packet(key(i), 100, time.Now(), 0x01)
		tab.Sample(flow.Sample{VNI: 42, Time: time.Now(), OrigLen: 60, Data: make([]byte, 60)})
		if i%30 == 29 {
			time.Sleep(3 * fastConfig().SweepInterval)
		}
	}
	eventually(t, "the good sinks to get everything", func() bool {
		return len(good.Events()) == n && len(good.Samples()) == n && len(good.Records()) == n
	})
	<-stuck.Entered()
	if p := tab.Pending(); p != 0 {
		t.Errorf("%d ring buffer entries left unread", p)
	}
	var pkts uint64
	for _, r := range good.Records() {
		pkts += r.Packets
	}
	if pkts != n {
		t.Errorf("good sink got %d packets in records, want %d", pkts, n)
	}
	for _, b := range good.Batches() {
		if b.Instance != "test" || b.Seq == 0 {
			t.Errorf("batch identity (%q, %d)", b.Instance, b.Seq)
		}
	}
	st := d.State()
	for _, s := range st.Sinks {
		switch s.Name {
		case "stuck":
			// What the queue took (one batch inside the blocked write, two
			// waiting) and what it dropped add up to everything offered.
			if s.Dropped == 0 || s.Written != 0 || s.Queued+s.Dropped != n || !s.Full {
				t.Errorf("blocked %s sink: %+v", s.Kind, s)
			}
		case "good":
			if s.Dropped != 0 || s.Errors != 0 || s.Written != n {
				t.Errorf("good %s sink: %+v", s.Kind, s)
			}
		}
	}
	if ok, why := d.Health(); !ok || !strings.Contains(why, "degraded") || !strings.Contains(why, "stuck") {
		t.Errorf("health %v %q, want healthy but degraded naming the stuck sink", ok, why)
	}
	reads := tab.Reads()
	time.Sleep(50 * time.Millisecond)
	if tab.Reads() <= reads {
		t.Error("the ring buffer reader stopped")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d.Shutdown(true)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("shutdown took %s with a blocked sink", el)
	}
	if !good.Closed() {
		t.Error("good sink not closed")
	}
}

// TestSeqIncreases: batch numbers grow across sweeps and across daemons
// sharing a sequence file (a restart).
func TestSeqIncreases(t *testing.T) {
	dir := t.TempDir()
	var last uint64
	for run := 0; run < 3; run++ {
		seq, err := pipeline.OpenSeq(dir)
		if err != nil {
			t.Fatal(err)
		}
		tab := flowtest.NewTable()
		good := &pipelinetest.Memory{ID: "good"}
		cfg := fastConfig()
		cfg.Seq = seq
		d, err := New(cfg, Sources{Flows: tab, Events: tab}, pipeline.Outputs{Records: []pipeline.RecordSink{good}})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			tab.Packet(key(i), 100, time.Now(), 0)
			d.sweep(time.Now())
			tab.Packet(key(i), 100, time.Now(), 0x01) // FIN: ends at the next sweep
			time.Sleep(2 * time.Millisecond)
			d.sweep(time.Now())
		}
		d.Shutdown(true)
		if len(good.Batches()) == 0 {
			t.Fatal("no batches")
		}
		for _, b := range good.Batches() {
			if b.Seq <= last {
				t.Fatalf("run %d: batch seq %d after %d", run, b.Seq, last)
			}
			last = b.Seq
		}
	}
}
