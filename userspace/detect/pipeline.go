package detect

import (
	"context"
	"maps"
	"time"

	"github.com/rs/zerolog/log"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// Outputs plugs the engine into the daemon's pipeline: flow starts as an
// event sink, records as a record sink, sampled frames (DNS) as a sample
// sink. Each runs behind the pipeline's own bounded queue, so the
// detectors never hold up the ring-buffer reader or the sweep.
//
// The engine's finding sinks close when the last of the three is closed.
func (e *Engine) Outputs() pipeline.Outputs {
	e.open.Store(3)
	return pipeline.Outputs{
		Events:  []pipeline.EventSink{eventSink{e}},
		Records: []pipeline.RecordSink{recordSink{e}},
		Samples: []pipeline.SampleSink{sampleSink{e}},
	}
}

type eventSink struct{ e *Engine }

func (s eventSink) Name() string { return "detect" }
func (s eventSink) WriteEvents(_ context.Context, evs []flow.Event) error {
	s.e.WriteEvents(evs)
	return nil
}
func (s eventSink) Close() error { return s.e.release() }

// recordSink is not Durable: findings are derived, so the restart
// ledger never waits on it, and it never fails a batch.
type recordSink struct{ e *Engine }

func (s recordSink) Name() string { return "detect" }
func (s recordSink) WriteBatch(_ context.Context, b pipeline.Batch) error {
	s.e.WriteRecords(b.Records)
	return nil
}

func (s recordSink) Close() error { return s.e.release() }

type sampleSink struct{ e *Engine }

func (s sampleSink) Name() string { return "detect" }
func (s sampleSink) WriteSamples(_ context.Context, ss []flow.Sample) error {
	s.e.WriteSamples(ss)
	return nil
}
func (s sampleSink) Close() error { return s.e.release() }

// release closes the engine once every pipeline sink of it is closed.
func (e *Engine) release() error {
	if e.open.Add(-1) == 0 {
		return e.Close()
	}
	return nil
}

// Start watches the list files (WatchLists) until Close.
func (e *Engine) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.mu.Lock()
	e.stop = cancel
	e.mu.Unlock()
	go e.WatchLists(ctx)
}

// Close stops the watcher, then flushes and closes every finding sink.
func (e *Engine) Close() error {
	var first error
	e.closeOnce.Do(func() {
		e.mu.Lock()
		if e.stop != nil {
			e.stop()
		}
		e.mu.Unlock()
		for _, s := range e.sinks {
			if err := s.Close(); err != nil && first == nil {
				first = err
			}
		}
	})
	return first
}

// WatchLists re-reads the list files when one changed (size or mtime)
// since it was read and then stayed the same for one more ListInterval
// (so a file caught mid-write is not read), checking until ctx ends. A
// file that no longer reads keeps the lists in force; it is logged once
// per change and counted.
func (e *Engine) WatchLists(ctx context.Context) {
	var failed, prev map[string]fileStamp
	for {
		t := time.NewTimer(e.Config().ListInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		e.mu.Lock()
		cfg, read := e.cfg, e.lists.stamps
		e.mu.Unlock()
		now := map[string]fileStamp{}
		for _, f := range listFiles(cfg) {
			now[f] = stampOf(f)
		}
		settled := maps.Equal(now, prev)
		prev = now
		if maps.Equal(now, read) || maps.Equal(now, failed) || !settled {
			continue
		}
		if err := e.reloadLists(); err != nil {
			failed = now
			log.Error().Err(err).Msg("detect: a list changed but does not read; the lists in force stay")
		} else {
			failed = nil
			log.Info().Msg("detect: lists reloaded")
		}
	}
}
