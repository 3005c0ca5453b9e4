// Package daemon is the loop of `vxtap run`: drain the ring buffer, sweep
// the flow table every interval, hand flow records, events and samples to
// the sinks it was built with, and keep the state that health checks,
// metrics and the local API read.
//
// Two goroutines never wait for a sink: the ring-buffer reader (drain.go)
// and the sweep loop (Run). Every sink sits behind its own bounded queue
// (fanout.go); a full queue counts a drop instead of blocking.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vxtap/vxtap/userspace/aggregate"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// Config of the loop.
type Config struct {
	SweepInterval time.Duration // how often the flow table is swept
	DrainEvery    time.Duration // longest wait on the ring buffer
	Aggregate     aggregate.Config
	// HealthWindow: /healthz fails when the last drain is older than this.
	HealthWindow time.Duration
	// Instance names the appliance in every batch (hostname by default).
	Instance string
	// Seq numbers the batches; nil keeps the numbers in memory only.
	Seq pipeline.Sequencer
	// RecordQueue, EventQueue, SampleQueue: capacity of each sink's queue,
	// in batches (record sinks) or ring-buffer drains (events, samples).
	RecordQueue, EventQueue, SampleQueue int
	// Enrich, if set, completes every record before the sinks see it.
	Enrich pipeline.Enricher
	// ShutdownWait bounds how long Shutdown waits for sinks to write what
	// is queued.
	ShutdownWait time.Duration
	// Captures takes the copies live captures asked for (vxtap capture,
	// livecap.Hub.Route), on the ring-buffer reader: it must not block.
	// nil: such copies are counted and dropped.
	Captures func([]flow.Sample)
}

// DefaultConfig is the daemon's default.
func DefaultConfig() Config {
	return Config{SweepInterval: time.Second, DrainEvery: 200 * time.Millisecond,
		Aggregate: aggregate.DefaultConfig(), HealthWindow: 5 * time.Second,
		RecordQueue: 64, EventQueue: 256, SampleQueue: 256, ShutdownWait: 5 * time.Second}
}

// Sources are the data path as the daemon reads it.
type Sources struct {
	Flows    flow.FlowSource
	Events   flow.EventSource
	Counters flow.CounterSource
	Ledger   aggregate.Ledger // optional
	// Attached reports whether the program is still attached.
	Attached func() bool
}

// Daemon runs the loop.
type Daemon struct {
	cfg   Config
	src   Sources
	agg   *aggregate.Aggregator
	outs  pipeline.Outputs
	fan   *fanout
	start time.Time

	batch []flow.Record // the records of the sweep under way
	// held is the batch the durable sinks have not all stored yet (nil
	// when none): until they have, the ledger does not advance and no
	// flow leaves the table, and no new records are made (commit.go).
	held      *heldBatch
	acks      chan uint64  // Seq of a batch one durable sink stored
	unsettled bool         // Shutdown ended with a batch no durable sink stored
	commitErr error        // the held batch's commit failed (state dir not writable); under mu
	heldSince atomic.Int64 // unix ns since the held batch waits, 0 when none
	// aggEvents carries flow starts from the ring-buffer reader to the
	// sweep loop, which owns the aggregator.
	aggEvents chan []flow.Event

	lastDrain  atomic.Int64 // unix ns of the last completed drain
	samples    atomic.Uint64
	lostStarts atomic.Uint64 // flow starts the sweep loop was too busy to take
	captures   atomic.Uint64 // copies for live captures (not samples)

	mu       sync.Mutex
	last     aggregate.Stats // the last sweep
	records  map[string]uint64
	vniPkts  map[uint32]uint64 // per-VNI packets and bytes carried by records
	vniBytes map[uint32]uint64
	evicted  uint64                // flows the aggregator removed early (table nearly full)
	vanished uint64                // flows that left the table without the aggregator
	OnSweep  func(aggregate.Stats) // metrics hook

	closeOnce sync.Once
}

// New builds a daemon fanning out to outs: every sink of every kind is
// listed here, at construction, and nowhere else.
func New(cfg Config, src Sources, outs pipeline.Outputs) (*Daemon, error) {
	def := DefaultConfig()
	if cfg.RecordQueue <= 0 {
		cfg.RecordQueue = def.RecordQueue
	}
	if cfg.EventQueue <= 0 {
		cfg.EventQueue = def.EventQueue
	}
	if cfg.SampleQueue <= 0 {
		cfg.SampleQueue = def.SampleQueue
	}
	if cfg.ShutdownWait <= 0 {
		cfg.ShutdownWait = def.ShutdownWait
	}
	if cfg.Seq == nil {
		cfg.Seq = &pipeline.MemSeq{}
	}
	d := &Daemon{cfg: cfg, src: src, outs: outs, start: time.Now(),
		aggEvents: make(chan []flow.Event, 1024), acks: make(chan uint64, 64),
		records: map[string]uint64{}, vniPkts: map[uint32]uint64{}, vniBytes: map[uint32]uint64{}}
	d.lastDrain.Store(time.Now().UnixNano()) // healthy from the start: the loop drains at once
	var table flow.FlowSource = observed{src.Flows, d}
	if ov, ok := src.Flows.(flow.OverflowSource); ok {
		table = observedOverflow{observed{src.Flows, d}, ov}
	}
	d.agg = aggregate.New(cfg.Aggregate, table, d.emit)
	d.agg.DeferCommits()
	if err := d.reconcile(); err != nil {
		return nil, err
	}
	if src.Ledger != nil {
		// UseLedger walks the table to tell its entries' flows from new
		// ones with the same key: no sweep, so the observers do not see it.
		obs := d.outs.Observers
		d.outs.Observers = nil
		err := d.agg.UseLedger(src.Ledger, time.Now())
		d.outs.Observers = obs
		if err != nil {
			return nil, err
		}
	}
	d.fan = newFanout(cfg, outs, d.acked)
	return d, nil
}

// observed hands every walked flow to the sweep observers on its way to
// the aggregator.
type observed struct {
	flow.FlowSource
	d *Daemon
}

func (o observed) Walk(fn func(flow.Key, flow.Counters)) error {
	obs := o.d.outs.Observers
	if len(obs) == 0 {
		return o.FlowSource.Walk(fn)
	}
	now := time.Now()
	return o.FlowSource.Walk(func(k flow.Key, c flow.Counters) {
		for _, ob := range obs {
			ob.Observe(now, k, c)
		}
		fn(k, c)
	})
}

// observedOverflow is observed over a table with overflow aggregates: the
// aggregator must still see them, or their packets would make no record.
type observedOverflow struct {
	observed
	flow.OverflowSource
}

// emit collects the aggregator's records into the sweep's batch.
func (d *Daemon) emit(r flow.Record) { d.batch = append(d.batch, r) }

// Run loops until ctx ends: the ring-buffer reader in its own goroutine,
// the sweeps in this one.
func (d *Daemon) Run(ctx context.Context) error {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- d.drainLoop(dctx) }()
	tick := time.NewTicker(d.cfg.SweepInterval)
	defer tick.Stop()
	for {
		select {
		case evs := <-d.aggEvents:
			d.onEvents(evs)
		case seq := <-d.acks:
			d.onAck(seq)
		case <-tick.C:
			d.takeEvents()
			var err error
			d.retryCommit()
			if d.held != nil {
				err = d.observeOnly(time.Now()) // a durable sink has not stored the last batch
			} else {
				err = d.sweep(time.Now())
			}
			if err != nil {
				logEvery("sweep", err.Error(), "sweep")
			}
		case err := <-drained:
			return err
		case <-ctx.Done():
			cancel()
			<-drained
			return nil
		}
	}
}

// onEvents hands flow starts to the aggregator (sweep loop only).
func (d *Daemon) onEvents(evs []flow.Event) { d.agg.OnEvents(evs) }

// takeEvents applies every flow start queued so far (sweep loop only).
func (d *Daemon) takeEvents() {
	for {
		select {
		case evs := <-d.aggEvents:
			d.onEvents(evs)
		default:
			return
		}
	}
}

func (d *Daemon) sweep(now time.Time) error {
	st, err := d.agg.Sweep(now)
	for _, ob := range d.outs.Observers {
		ob.EndSweep(now)
	}
	d.mu.Lock()
	d.last = st
	d.evicted += uint64(st.Evicted)
	d.vanished += uint64(st.Vanished)
	d.mu.Unlock()
	if d.OnSweep != nil {
		d.OnSweep(st)
	}
	d.publish(now)
	return err
}

// Shutdown drains what is queued in the ring buffer and emits every live
// flow with end reason shutdown; with remove the flows leave the table
// too, once the durable sinks hold their records. Every sink gets until
// ShutdownWait to write what it holds, and is closed. When a durable sink
// could not store the records, nothing is removed and Unsettled says so:
// the caller must leave the program attached, so the next start makes
// the records again. Call it after Run returned.
func (d *Daemon) Shutdown(remove bool) (int, error) {
	defer d.Close()
	if err := d.drainOnce(time.Unix(1, 0)); err != nil {
		return 0, err
	}
	d.takeEvents()
	deadline := time.Now().Add(d.cfg.ShutdownWait)
	if !d.settle(deadline) {
		return 0, d.unsettledErr()
	}
	if remove {
		// The settled overflow half may hold what an earlier daemon left:
		// a sweep exports and commits it, so the last one turns the halves
		// and exports the other before the program goes.
		if err := d.sweep(time.Now()); err != nil {
			logEvery("sweep", err.Error(), "sweep")
		}
		if _, err := d.commitUnbatched(time.Now()); err != nil {
			logEvery("commit", err.Error(), "commit flow records")
		}
		if !d.settle(deadline) {
			return 0, d.unsettledErr()
		}
	}
	now := time.Now()
	n, err := d.agg.Shutdown(now, remove)
	d.publish(now)
	m, cerr := d.commitUnbatched(now)
	n, err = n+m, errors.Join(err, cerr)
	if !d.settle(deadline) {
		return n, errors.Join(err, d.unsettledErr())
	}
	return n, err
}

// commitUnbatched commits what a sweep left uncommitted without a
// record to store (flows or overflow aggregates whose records are all
// stored already), which no batch's commit would otherwise finish, and
// publishes the records of packets that came after the walk.
func (d *Daemon) commitUnbatched(now time.Time) (int, error) {
	if d.held != nil || !d.agg.Uncommitted() {
		return 0, nil
	}
	n, err := d.agg.Commit(now)
	d.publish(now)
	return n, err
}

// Unsettled is true when Shutdown left records no durable sink stored:
// the data path still holds them, and the ledger does not include them.
func (d *Daemon) Unsettled() bool { return d.unsettled }

// Close gives every sink until ShutdownWait to write what is queued, then
// closes them. Safe to call more than once.
func (d *Daemon) Close() error {
	var err error
	d.closeOnce.Do(func() { err = d.fan.close(time.Now().Add(d.cfg.ShutdownWait)) })
	return err
}

// Health says whether the NLB should send traffic here: the program is
// attached and the loop drained the ring buffer recently. A sink that
// cannot write makes the daemon degraded, not unhealthy: the kernel still
// accounts every packet and the records wait for the sink, so taking the
// appliance out of the NLB would only lose the mirror copies.
func (d *Daemon) Health() (bool, string) {
	if d.src.Attached != nil && !d.src.Attached() {
		return false, "XDP program is not attached"
	}
	age := time.Since(time.Unix(0, d.lastDrain.Load()))
	if age > d.cfg.HealthWindow {
		return false, fmt.Sprintf("last ring buffer drain %s ago", age.Round(time.Millisecond))
	}
	why := d.fan.degraded()
	d.mu.Lock()
	cerr := d.commitErr
	d.mu.Unlock()
	if err := cerr; err != nil {
		why = strings.TrimPrefix(why+"; ", "; ") + "commit: " + err.Error()
	}
	if age := d.holdAge(); age > d.heldTooLong() {
		why = strings.TrimPrefix(why+"; ", "; ") + fmt.Sprintf("flow records waiting %s for the durable outputs", age.Round(time.Second))
	}
	if why != "" {
		return true, "degraded: " + why
	}
	return true, "ok"
}

// State is a copy of what the loop knows, for metrics and status.
type State struct {
	Uptime     time.Duration
	LastSweep  aggregate.Stats
	Records    map[string]uint64
	VNIPackets map[uint32]uint64
	VNIBytes   map[uint32]uint64
	Samples    uint64
	Captured   uint64 // copies live captures asked for (vxtap capture), not samples
	Evicted    uint64
	Vanished   uint64
	KnownFlows int
	LostStarts uint64               // flow starts not handed to the aggregator (sweep loop busy)
	Sinks      []pipeline.SinkStats // every sink's queue counters
}

// State returns a copy of the loop's state.
func (d *Daemon) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	cp := func(m map[uint32]uint64) map[uint32]uint64 {
		o := make(map[uint32]uint64, len(m))
		for k, v := range m {
			o[k] = v
		}
		return o
	}
	rec := make(map[string]uint64, len(d.records))
	for k, v := range d.records {
		rec[k] = v
	}
	return State{Uptime: time.Since(d.start), LastSweep: d.last, Records: rec,
		VNIPackets: cp(d.vniPkts), VNIBytes: cp(d.vniBytes), Samples: d.samples.Load(), Captured: d.captures.Load(),
		Evicted: d.evicted, Vanished: d.vanished, LostStarts: d.lostStarts.Load(), Sinks: d.fan.stats()}
}

// Detach forwards to the table's two-step removal (flow.Detacher), or
// removes the flows when the table has none.
func (o observed) Detach(keys []flow.Key) (map[flow.Key]flow.Counters, error) {
	if t, ok := o.FlowSource.(flow.Detacher); ok {
		return t.Detach(keys)
	}
	return o.FlowSource.Remove(keys)
}

// Release forwards to the table's two-step removal (flow.Detacher).
func (o observed) Release(keys []flow.Key) error {
	if t, ok := o.FlowSource.(flow.Detacher); ok {
		return t.Release(keys)
	}
	return nil
}

// Settle forwards to the table's two-step removal (flow.Detacher).
func (o observed) Settle(keys []flow.Key) error {
	if t, ok := o.FlowSource.(flow.Detacher); ok {
		return t.Settle(keys)
	}
	return nil
}
