package daemon

import (
	"errors"
	"fmt"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// fanout is one bounded queue and goroutine per sink.
type fanout struct {
	recs []*pipeline.Queue[pipeline.Batch]
	evs  []*pipeline.Queue[[]flow.Event]
	sms  []*pipeline.Queue[[]flow.Sample]
	outs pipeline.Outputs
	// durable is the number of durable record sinks: each must store a
	// batch before it is committed.
	durable int
}

// noRetry is the samples' policy: a retry would write the frames before
// the failure twice.
var noRetry = pipeline.Retry{Attempts: 1}

// isDurable tells a durable record sink (it holds the restart ledger back).
func isDurable(s pipeline.RecordSink) bool {
	d, ok := s.(pipeline.Durable)
	return ok && d.Durable()
}

// newFanout starts a queue per sink; acked hears of each batch a durable
// record sink stored.
func newFanout(cfg Config, outs pipeline.Outputs, acked func(pipeline.Batch)) *fanout {
	f := &fanout{outs: outs}
	for _, s := range outs.Records {
		retry := pipeline.DefaultRetry
		if isDurable(s) {
			retry = pipeline.DurableRetry
		}
		q := pipeline.NewQueue(s.Name(), "records", cfg.RecordQueue, isDurable(s), retry,
			func(b pipeline.Batch) int { return len(b.Records) }, s.WriteBatch)
		if isDurable(s) {
			q.OnWritten = acked
			f.durable++
		}
		f.recs = append(f.recs, q)
	}
	for _, s := range outs.Events {
		f.evs = append(f.evs, pipeline.NewQueue(s.Name(), "events", cfg.EventQueue, false, pipeline.DefaultRetry,
			func(e []flow.Event) int { return len(e) }, s.WriteEvents))
	}
	for _, s := range outs.Samples {
		f.sms = append(f.sms, pipeline.NewQueue(s.Name(), "samples", cfg.SampleQueue, false, noRetry,
			func(e []flow.Sample) int { return len(e) }, s.WriteSamples))
	}
	for _, q := range f.recs {
		q.OnError = sinkLog("records", q)
		q.Start()
	}
	for _, q := range f.evs {
		q.OnError = sinkLog("events", q)
		q.Start()
	}
	for _, q := range f.sms {
		q.OnError = sinkLog("samples", q)
		q.Start()
	}
	return f
}

// records offers a batch to every record sink. The batch is shared: sinks
// read it and never change it.
func (f *fanout) records(b pipeline.Batch) {
	for i, q := range f.recs {
		if !q.Offer(b) {
			logEvery("drop-"+q.Stats().Name, fmt.Sprintf("queue full: batch %d dropped", b.Seq), "record sink "+f.outs.Records[i].Name())
		}
	}
}

func (f *fanout) events(evs []flow.Event) {
	for _, q := range f.evs {
		q.Offer(evs)
	}
}

func (f *fanout) samples(s []flow.Sample) {
	for _, q := range f.sms {
		q.Offer(s)
	}
}

// stats lists every sink's counters: records, then events, then samples.
func (f *fanout) stats() []pipeline.SinkStats {
	var out []pipeline.SinkStats
	for i, q := range f.recs {
		st := q.Stats()
		if d, ok := f.outs.Records[i].(pipeline.StatusDetailer); ok {
			st.Detail = d.StatusDetail()
		}
		out = append(out, st)
	}
	for _, q := range f.evs {
		out = append(out, q.Stats())
	}
	for _, q := range f.sms {
		out = append(out, q.Stats())
	}
	return out
}

// dropRecent: a sink that dropped within this long counts as degraded.
const dropRecent = time.Minute

// degraded names the sinks whose last write failed or whose queue is
// full or dropped lately, "" when none.
func (f *fanout) degraded() string {
	why := ""
	for _, s := range f.stats() {
		var w string
		switch {
		case s.Failing:
			w = fmt.Sprintf("%s sink %s: %s", s.Kind, s.Name, s.LastError)
		case s.Full || time.Since(s.LastDrop) < dropRecent:
			w = fmt.Sprintf("%s sink %s: queue full, %d dropped", s.Kind, s.Name, s.Dropped)
		default:
			continue
		}
		if why != "" {
			why += "; "
		}
		why += w
	}
	return why
}

// close gives every queue until deadline to write what it holds, then
// closes the sinks.
func (f *fanout) close(deadline time.Time) error {
	var errs []error
	for i, q := range f.recs {
		if !q.Close(deadline) {
			errs = append(errs, fmt.Errorf("record sink %s: records still queued at shutdown were dropped", f.outs.Records[i].Name()))
		}
		errs = append(errs, closeSink(f.outs.Records[i].Name(), f.outs.Records[i].Close))
	}
	for i, q := range f.evs {
		q.Close(deadline)
		errs = append(errs, closeSink(f.outs.Events[i].Name(), f.outs.Events[i].Close))
	}
	for i, q := range f.sms {
		q.Close(deadline)
		errs = append(errs, closeSink(f.outs.Samples[i].Name(), f.outs.Samples[i].Close))
	}
	return errors.Join(errs...)
}

func closeSink(name string, fn func() error) error {
	if err := fn(); err != nil {
		return fmt.Errorf("close sink %s: %w", name, err)
	}
	return nil
}

// sinkLog logs a sink's failed writes, at most once per logInterval.
func sinkLog[T any](kind string, q *pipeline.Queue[T]) func(error) {
	name := q.Stats().Name
	return func(err error) { logEvery("sink-"+kind+"-"+name, err.Error(), kind+" sink "+name) }
}
