// Package daemon is the loop of `vxtap run`: drain the ring buffer, sweep
// the flow table every interval, write flow records, and keep the state
// that health checks, metrics and the local API read.
package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog/log"
	"github.com/vxtap/vxtap/userspace/aggregate"
	"github.com/vxtap/vxtap/userspace/flow"
)

// Config of the loop.
type Config struct {
	SweepInterval time.Duration // how often the flow table is swept
	DrainEvery    time.Duration // longest wait on the ring buffer
	Aggregate     aggregate.Config
	// HealthWindow: /healthz fails when the last drain is older than this.
	HealthWindow time.Duration
}

// DefaultConfig is the daemon's default.
func DefaultConfig() Config {
	return Config{SweepInterval: time.Second, DrainEvery: 200 * time.Millisecond,
		Aggregate: aggregate.DefaultConfig(), HealthWindow: 5 * time.Second}
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

// Observer gets every flow of every sweep (the rate tracker of the local
// API) and a call at the end of each sweep.
type Observer interface {
	Observe(now time.Time, k flow.Key, c flow.Counters)
	EndSweep(now time.Time)
}

// SampleSink takes sampled packets (the pcapng writer).
type SampleSink interface {
	Write(flow.Sample) error
	Flush() error
}

// Daemon runs the loop.
type Daemon struct {
	cfg   Config
	src   Sources
	agg   *aggregate.Aggregator
	out   *bufio.Writer
	outMu sync.Mutex
	enc   *json.Encoder
	obs   Observer
	start time.Time

	lastDrain atomic.Int64 // unix ns of the last completed drain
	mu        sync.Mutex
	last      aggregate.Stats // the last sweep
	records   map[string]uint64
	vniPkts   map[uint32]uint64 // per-VNI packets and bytes carried by records
	vniBytes  map[uint32]uint64
	samples   uint64
	evicted   uint64                // flows the aggregator removed early (table nearly full)
	vanished  uint64                // flows that left the table without the aggregator
	OnSweep   func(aggregate.Stats) // metrics hook
	// Samples, if set, receives every sampled packet.
	Samples SampleSink
}

// New builds a daemon writing JSON-line records to out.
func New(cfg Config, src Sources, out io.Writer, obs Observer) (*Daemon, error) {
	d := &Daemon{cfg: cfg, src: src, out: bufio.NewWriterSize(out, 1<<16), obs: obs, start: time.Now(),
		records: map[string]uint64{}, vniPkts: map[uint32]uint64{}, vniBytes: map[uint32]uint64{}}
	d.enc = json.NewEncoder(d.out)
	d.lastDrain.Store(time.Now().UnixNano()) // healthy from the start: the loop drains at once
	d.agg = aggregate.New(cfg.Aggregate, observed{src.Flows, d}, d.emit)
	if src.Ledger != nil {
		if err := d.agg.UseLedger(src.Ledger, time.Now()); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// observed hands every walked flow to the observer on its way to the aggregator.
type observed struct {
	flow.FlowSource
	d *Daemon
}

func (o observed) Walk(fn func(flow.Key, flow.Counters)) error {
	if o.d.obs == nil {
		return o.FlowSource.Walk(fn)
	}
	now := time.Now()
	return o.FlowSource.Walk(func(k flow.Key, c flow.Counters) {
		o.d.obs.Observe(now, k, c)
		fn(k, c)
	})
}

func (d *Daemon) emit(r flow.Record) {
	d.outMu.Lock()
	if err := d.enc.Encode(r); err != nil {
		log.Error().Err(err).Msg("write flow record")
	}
	d.outMu.Unlock()
	d.mu.Lock()
	d.records[r.EndReason]++
	d.vniPkts[r.VNI] += r.Packets
	d.vniBytes[r.VNI] += r.Bytes
	d.mu.Unlock()
}

func (d *Daemon) flushOut() error {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	return d.out.Flush()
}

// Run loops until ctx ends. The ring buffer is read with a deadline, not
// woken per record, so each turn takes whatever queued meanwhile.
func (d *Daemon) Run(ctx context.Context) error {
	nextSweep := time.Now().Add(d.cfg.SweepInterval)
	for ctx.Err() == nil {
		deadline := time.Now().Add(d.cfg.DrainEvery)
		if deadline.After(nextSweep) {
			deadline = nextSweep
		}
		if _, err := d.src.Events.Read(deadline, d.agg.OnEvent, d.onSample); err != nil {
			return err
		}
		d.lastDrain.Store(time.Now().UnixNano())
		if now := time.Now(); !now.Before(nextSweep) {
			if err := d.sweep(now); err != nil {
				log.Error().Err(err).Msg("sweep")
			}
			nextSweep = now.Add(d.cfg.SweepInterval)
		}
	}
	return nil
}

func (d *Daemon) onSample(s flow.Sample) {
	atomic.AddUint64(&d.samples, 1)
	if d.Samples != nil {
		if err := d.Samples.Write(s); err != nil {
			log.Error().Err(err).Msg("write sample")
		}
	}
}

func (d *Daemon) sweep(now time.Time) error {
	st, err := d.agg.Sweep(now)
	if d.obs != nil {
		d.obs.EndSweep(now)
	}
	d.mu.Lock()
	d.last = st
	d.evicted += uint64(st.Evicted)
	d.vanished += uint64(st.Vanished)
	d.mu.Unlock()
	if d.OnSweep != nil {
		d.OnSweep(st)
	}
	if ferr := d.flushOut(); ferr != nil && err == nil {
		err = fmt.Errorf("write flow records: %w", ferr)
	}
	if d.Samples != nil {
		if ferr := d.Samples.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("write samples: %w", ferr)
		}
	}
	return err
}

// Shutdown drains what is queued and emits every live flow with end
// reason shutdown; with remove the flows leave the table too.
func (d *Daemon) Shutdown(remove bool) (int, error) {
	if _, err := d.src.Events.Read(time.Unix(1, 0), d.agg.OnEvent, d.onSample); err != nil {
		return 0, err
	}
	n, err := d.agg.Shutdown(time.Now(), remove)
	if ferr := d.flushOut(); ferr != nil && err == nil {
		err = ferr
	}
	if d.Samples != nil {
		if ferr := d.Samples.Flush(); ferr != nil && err == nil {
			err = ferr
		}
	}
	return n, err
}

// Health says whether the NLB should send traffic here: the program is
// attached and the loop drained the ring buffer recently.
func (d *Daemon) Health() (bool, string) {
	if d.src.Attached != nil && !d.src.Attached() {
		return false, "XDP program is not attached"
	}
	age := time.Since(time.Unix(0, d.lastDrain.Load()))
	if age > d.cfg.HealthWindow {
		return false, fmt.Sprintf("last ring buffer drain %s ago", age.Round(time.Millisecond))
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
	Evicted    uint64
	Vanished   uint64
	KnownFlows int
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
		VNIPackets: cp(d.vniPkts), VNIBytes: cp(d.vniBytes), Samples: atomic.LoadUint64(&d.samples),
		Evicted: d.evicted, Vanished: d.vanished}
}
