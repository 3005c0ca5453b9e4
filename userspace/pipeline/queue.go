package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Retry says how a queue retries a failed write. A durable record sink
// retries forever (the daemon holds the batch until it lands); every other
// sink gives up after Attempts tries and counts the item as dropped.
type Retry struct {
	Attempts int           // tries per item, 0 = until it succeeds
	Min, Max time.Duration // backoff after the first failure, doubling up to Max
}

// DefaultRetry is the policy of sinks that are not durable.
var DefaultRetry = Retry{Attempts: 3, Min: 100 * time.Millisecond, Max: 2 * time.Second}

// DurableRetry is the policy of durable record sinks: never give up.
var DurableRetry = Retry{Attempts: 0, Min: 100 * time.Millisecond, Max: 5 * time.Second}

// SinkStats are one sink's counters, in items (records, events, samples).
type SinkStats struct {
	Name          string        `json:"name"`
	Kind          string        `json:"kind"` // records, events or samples
	Durable       bool          `json:"durable,omitempty"`
	Queued        uint64        `json:"queued"`            // items accepted into the queue
	Depth         int           `json:"depth"`             // items waiting now
	Written       uint64        `json:"written"`           // items the sink stored
	Writes        uint64        `json:"writes"`            // successful writes (of a batch, a drain)
	Dropped       uint64        `json:"dropped"`           // items lost: queue full, or given up after retries
	Errors        uint64        `json:"errors"`            // failed writes
	Retries       uint64        `json:"retries"`           // writes tried again
	Failing       bool          `json:"failing,omitempty"` // the last write failed
	Full          bool          `json:"full,omitempty"`    // the last offer found the queue full
	LastDrop      time.Time     `json:"last_drop,omitzero"`
	LastError     string        `json:"last_error,omitempty"`
	LastErrorTime time.Time     `json:"last_error_time,omitempty"`
	LastLatency   time.Duration `json:"last_latency_ns"`  // duration of the last successful write
	TotalLatency  time.Duration `json:"total_latency_ns"` // of all successful writes
	// Detail is what the sink itself says of its state (a StatusDetailer),
	// e.g. the ClickHouse sink's spool and inserts.
	Detail string `json:"detail,omitempty"`
}

// StatusDetailer is a sink with state beyond its queue worth a line in
// `vxtap status` (a spool, a connection).
type StatusDetailer interface {
	StatusDetail() string
}

// Queue runs one sink behind a bounded queue and its own goroutine, so
// the producer (the ring-buffer reader, the sweep) never waits for the
// sink: Offer either takes the item at once or counts it as dropped.
type Queue[T any] struct {
	name, kind string
	durable    bool
	ch         chan T
	write      func(context.Context, T) error
	weight     func(T) int
	retry      Retry
	// OnWritten, if set, is called from the queue's goroutine after each
	// successful write (the daemon's durability acknowledgement).
	OnWritten func(T)
	// OnError, if set, is called after each failed write (a rate-limited log).
	OnError func(error)

	queued, written, dropped, errs, retries atomic.Uint64
	writes                                  atomic.Uint64
	depth                                   atomic.Int64
	lastLat, totalLat, lastDrop             atomic.Int64
	failing, full                           atomic.Bool

	mu      sync.Mutex
	lastErr string
	lastAt  time.Time

	done chan struct{}
	stop context.CancelFunc
}

// NewQueue makes a queue of capacity items (batches) in front of write;
// weight counts the records (events, samples) of one item for the stats.
func NewQueue[T any](name, kind string, capacity int, durable bool, retry Retry, weight func(T) int, write func(context.Context, T) error) *Queue[T] {
	if capacity < 1 {
		capacity = 1
	}
	return &Queue[T]{name: name, kind: kind, durable: durable, ch: make(chan T, capacity),
		write: write, weight: weight, retry: retry, done: make(chan struct{})}
}

// Offer queues v without waiting; false (and counted as dropped) when the
// queue is full.
func (q *Queue[T]) Offer(v T) bool {
	n := uint64(q.weight(v))
	select {
	case q.ch <- v:
		q.full.Store(false)
		q.queued.Add(n)
		q.depth.Add(int64(n))
		return true
	default:
		q.full.Store(true)
		q.lastDrop.Store(time.Now().UnixNano())
		q.dropped.Add(n)
		return false
	}
}

// Start runs the queue's goroutine until Close.
func (q *Queue[T]) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	q.stop = cancel
	go q.run(ctx)
}

func (q *Queue[T]) run(ctx context.Context) {
	defer close(q.done)
	for {
		select {
		case v, ok := <-q.ch:
			if !ok {
				return
			}
			q.deliver(ctx, v)
			q.depth.Add(-int64(q.weight(v)))
		case <-ctx.Done():
			return
		}
	}
}

// deliver writes one item, retrying by the policy; ctx ends the retries
// (shutdown) and a blocked write is the sink's to end.
func (q *Queue[T]) deliver(ctx context.Context, v T) {
	n := uint64(q.weight(v))
	wait := q.retry.Min
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := q.write(ctx, v)
		if err == nil {
			lat := time.Since(start)
			q.lastLat.Store(int64(lat))
			q.totalLat.Add(int64(lat))
			q.written.Add(n)
			q.writes.Add(1)
			q.failing.Store(false)
			if q.OnWritten != nil {
				q.OnWritten(v)
			}
			return
		}
		q.errs.Add(1)
		q.failing.Store(true)
		q.mu.Lock()
		q.lastErr, q.lastAt = err.Error(), time.Now()
		q.mu.Unlock()
		if q.OnError != nil {
			q.OnError(err)
		}
		if q.retry.Attempts > 0 && attempt >= q.retry.Attempts {
			q.lastDrop.Store(time.Now().UnixNano())
			q.dropped.Add(n)
			return
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			q.dropped.Add(n)
			return
		}
		q.retries.Add(1)
		if wait *= 2; wait > q.retry.Max {
			wait = q.retry.Max
		}
	}
}

// Close stops taking items, gives the goroutine until the deadline to
// write what is queued, then cancels it. Items left are counted dropped.
// It returns false when the deadline passed first.
func (q *Queue[T]) Close(deadline time.Time) bool {
	close(q.ch)
	if q.stop == nil { // never started
		q.Start()
	}
	select {
	case <-q.done:
		return true
	case <-time.After(time.Until(deadline)):
		q.stop()
		select {
		case <-q.done:
		case <-time.After(100 * time.Millisecond): // the sink's write itself is stuck
		}
		if d := q.depth.Load(); d > 0 {
			q.dropped.Add(uint64(d))
		}
		return false
	}
}

// Stats returns the sink's counters.
func (q *Queue[T]) Stats() SinkStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return SinkStats{Name: q.name, Kind: q.kind, Durable: q.durable, Queued: q.queued.Load(),
		Depth: int(q.depth.Load()), Written: q.written.Load(), Writes: q.writes.Load(), Dropped: q.dropped.Load(),
		Errors: q.errs.Load(), Retries: q.retries.Load(), Failing: q.failing.Load(), Full: q.full.Load(),
		LastError: q.lastErr, LastErrorTime: q.lastAt, LastDrop: unixTime(q.lastDrop.Load()),
		LastLatency: time.Duration(q.lastLat.Load()), TotalLatency: time.Duration(q.totalLat.Load())}
}

// unixTime is ns as a time, the zero time for 0.
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
