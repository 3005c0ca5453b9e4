// Package pipeline is the seam between the daemon and its outputs. The
// daemon produces three streams — flow records (one batch per sweep),
// flow events (start/end as the ring buffer delivers them) and packet
// samples — and hands each to every sink of that kind plugged in at
// construction. Each sink runs behind its own bounded queue (see the
// Queue types in this package), so a slow or failed sink never stalls
// the ring-buffer reader or the sweep; its drops and errors are counted
// per sink. A new output is a new package implementing one of these
// interfaces; it touches neither the daemon nor any other sink.
package pipeline

import (
	"context"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Batch is the records of one sweep, in emission order. (Instance, Seq)
// names a batch uniquely and for good: Seq only grows on an appliance,
// across restarts, so a sink that must not store a batch twice (a
// database after a resend) deduplicates on it, and on (Instance, Seq, i)
// for the i-th record.
type Batch struct {
	Instance string        // the appliance's identity (settable; hostname by default)
	Seq      uint64        // strictly increasing per Instance, never reused
	Time     time.Time     // when the sweep that made it ran
	Records  []flow.Record // the sweep's records; never empty
}

// RecordSink stores flow records. WriteBatch returns nil only once the
// batch is stored as durably as the sink can store it; on an error the
// pipeline hands the same batch again later (at-least-once), so a sink
// that promises exactly-once deduplicates on the batch identity. Every
// sink gets the same batch, events and samples slices: read them, keep
// them if needed, never change them.
type RecordSink interface {
	Name() string
	WriteBatch(ctx context.Context, b Batch) error
	Close() error
}

// EventSink sees flow starts and ends as the data path reports them
// (within one ring-buffer drain), for detectors that must act at once.
type EventSink interface {
	Name() string
	WriteEvents(ctx context.Context, evs []flow.Event) error
	Close() error
}

// SampleSink takes sampled inner frames (pcapng files, captures).
type SampleSink interface {
	Name() string
	WriteSamples(ctx context.Context, s []flow.Sample) error
	Close() error
}

// SweepObserver sees every flow of every sweep synchronously (the rate
// tracker of `vxtap top`); it must be fast and must not block.
type SweepObserver interface {
	Observe(now time.Time, k flow.Key, c flow.Counters)
	EndSweep(now time.Time)
}

// Durable marks a record sink whose WriteBatch stores the batch on
// local disk (fsynced) before it returns nil: the flow log, or a
// database sink's own on-disk spool. The restart ledger advances only
// once every durable sink holds the batch; sinks that are lossy by
// nature (IPFIX over UDP) are not durable and never hold it back.
type Durable interface {
	Durable() bool
}

// Enricher adds context to each record (the mirror session, its ENI)
// before any sink sees it. It is called on the daemon's sweep goroutine
// and must be fast; a reload swaps its tables atomically.
type Enricher interface {
	Enrich(r *flow.Record)
}

// Recoverer is a durable record sink that can say, after a crash, what it
// holds beyond the last batch the restart ledger committed. The daemon
// calls it once at start, before anything is written.
type Recoverer interface {
	// Tail returns the records of batch committed of instance, when the
	// sink still has them, and those of the batches after it (written by
	// a daemon killed before it committed them), in their order.
	Tail(instance string, committed uint64) (last, after []flow.Record, err error)
	// DropAfter removes the records of the batches after committed for
	// which drop is true (the data path still holds their flows and makes
	// them again) and keeps the others.
	DropAfter(instance string, committed uint64, drop func(flow.Record) bool) error
}

// Outputs are the sinks one daemon fans out to, listed in one place
// when the daemon is built.
type Outputs struct {
	Records   []RecordSink
	Events    []EventSink
	Samples   []SampleSink
	Observers []SweepObserver
}

// Add appends o's sinks to the receiver's.
func (o *Outputs) Add(more Outputs) {
	o.Records = append(o.Records, more.Records...)
	o.Events = append(o.Events, more.Events...)
	o.Samples = append(o.Samples, more.Samples...)
	o.Observers = append(o.Observers, more.Observers...)
}
