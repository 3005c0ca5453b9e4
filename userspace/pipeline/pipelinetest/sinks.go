// Package pipelinetest has in-memory sinks for testing the daemon and its
// outputs without disks or peers: one that keeps what it gets, one that
// blocks until closed, one whose writes fail on demand.
package pipelinetest

import (
	"context"
	"errors"
	"sync"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// Memory keeps every batch, event and sample it is given. With Fail set,
// writes fail with that error and keep nothing.
type Memory struct {
	ID      string
	IsDur   bool // reported by Durable
	mu      sync.Mutex
	fail    error
	batches []pipeline.Batch
	events  []flow.Event
	samples []flow.Sample
	closed  bool
}

// SetFail makes every later write fail with err (nil: succeed again).
func (m *Memory) SetFail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

func (m *Memory) Name() string  { return m.ID }
func (m *Memory) Durable() bool { return m.IsDur }

func (m *Memory) WriteBatch(_ context.Context, b pipeline.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.batches = append(m.batches, b)
	return nil
}

func (m *Memory) WriteEvents(_ context.Context, evs []flow.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.events = append(m.events, evs...)
	return nil
}

func (m *Memory) WriteSamples(_ context.Context, s []flow.Sample) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.samples = append(m.samples, s...)
	return nil
}

func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}

// Batches returns a copy of the batches written.
func (m *Memory) Batches() []pipeline.Batch {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]pipeline.Batch(nil), m.batches...)
}

// Records returns every record written, in order.
func (m *Memory) Records() []flow.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []flow.Record
	for _, b := range m.batches {
		out = append(out, b.Records...)
	}
	return out
}

// Events returns a copy of the events written.
func (m *Memory) Events() []flow.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]flow.Event(nil), m.events...)
}

// Samples returns a copy of the samples written.
func (m *Memory) Samples() []flow.Sample {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]flow.Sample(nil), m.samples...)
}

// Closed reports whether Close was called.
func (m *Memory) Closed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// Blocking is a sink of every kind whose writes never return until Close
// (a hung disk, a peer that stopped reading).
type Blocking struct {
	ID      string
	IsDur   bool // reported by Durable
	once    sync.Once
	release chan struct{}
	entered chan struct{}
	enOnce  sync.Once
}

// NewBlocking returns a sink that blocks.
func NewBlocking(id string) *Blocking {
	return &Blocking{ID: id, release: make(chan struct{}), entered: make(chan struct{})}
}

// Entered is closed once the first write is under way.
func (b *Blocking) Entered() <-chan struct{} { return b.entered }

func (b *Blocking) block() error {
	b.enOnce.Do(func() { close(b.entered) })
	<-b.release
	return errors.New("closed while blocked")
}

func (b *Blocking) Name() string                                      { return b.ID }
func (b *Blocking) Durable() bool                                     { return b.IsDur }
func (b *Blocking) WriteBatch(context.Context, pipeline.Batch) error  { return b.block() }
func (b *Blocking) WriteEvents(context.Context, []flow.Event) error   { return b.block() }
func (b *Blocking) WriteSamples(context.Context, []flow.Sample) error { return b.block() }

// Close releases every blocked write.
func (b *Blocking) Close() error {
	b.once.Do(func() { close(b.release) })
	return nil
}
