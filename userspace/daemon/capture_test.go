package daemon

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
	"github.com/vxtap/vxtap/userspace/pipeline"
	"github.com/vxtap/vxtap/userspace/pipeline/pipelinetest"
)

// TestCaptureCopiesApart: copies live captures asked for go to
// Config.Captures only, samples to the sample sinks only, both counted.
func TestCaptureCopiesApart(t *testing.T) {
	tab := flowtest.NewTable()
	sink := &pipelinetest.Memory{ID: "samples"}
	var mu sync.Mutex
	var caps []flow.Sample
	cfg := fastConfig()
	cfg.Captures = func(s []flow.Sample) {
		mu.Lock()
		caps = append(caps, s...)
		mu.Unlock()
	}
	d, err := New(cfg, Sources{Flows: tab, Events: tab}, pipeline.Outputs{Samples: []pipeline.SampleSink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for i := 0; i < 30; i++ {
		s := flow.Sample{VNI: 42, Time: time.Now(), OrigLen: 60, Data: make([]byte, 60)}
		if i%3 == 0 {
			s.Captures = 1 << (i % 8)
		}
		tab.Sample(s)
	}
	eventually(t, "every copy handed on", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(caps) == 10 && len(sink.Samples()) == 20
	})
	for _, s := range sink.Samples() {
		if s.Captures != 0 {
			t.Fatal("a capture copy reached a sample sink")
		}
	}
	cancel()
	<-done
	if st := d.State(); st.Samples != 20 || st.Captured != 10 {
		t.Errorf("state samples %d captured %d, want 20 and 10", st.Samples, st.Captured)
	}
	d.Shutdown(false)
}
