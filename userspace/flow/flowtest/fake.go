// Package flowtest has in-memory fakes of the data path's interfaces, so
// the aggregator and everything above it are tested without BPF.
package flowtest

import (
	"sync"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Table is an in-memory flow table standing in for the BPF flow map.
type Table struct {
	mu      sync.Mutex
	flows   map[flow.Key]flow.Counters
	events  []flow.Event
	samples []flow.Sample
	reads   int
	ov      overflow
	// detached are flows Detach took out and Release has not freed: what
	// a killed daemon leaves in the pinned slots (Recover).
	detached map[flow.Key]flow.Counters
	settled  map[flow.Key]bool // detached flows Settle marked wholly recorded
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{flows: map[flow.Key]flow.Counters{}} }

// Packet accounts one packet as the data path would, queueing a flow-start
// event for a new flow.
func (t *Table) Packet(k flow.Key, bytes uint64, at time.Time, tcpFlags uint8) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.flows[k]
	if !ok {
		c.First = at
		t.events = append(t.events, flow.Event{Type: flow.FlowStart, Time: at, Key: k})
	}
	c.Packets++
	c.Bytes += bytes
	c.Last = at
	c.TCPFlags |= tcpFlags
	if tcpFlags&0x05 != 0 { // FIN or RST
		c.EndSeen = true
	}
	t.flows[k] = c
}

// Decide sets what the data path's classifier found for a flow: the
// accepting rule and the direction (as the loader fills them).
func (t *Table) Decide(k flow.Key, rule uint32, dir flow.Direction) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.flows[k]; ok {
		c.Rule, c.Direction = rule, dir
		t.flows[k] = c
	}
}

// Vanish drops a flow behind the aggregator's back, as another process
// removing it or a replaced table would.
func (t *Table) Vanish(k flow.Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.flows, k)
}

// Len is the number of flows in the table.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.flows)
}

// Walk implements flow.FlowSource.
func (t *Table) Walk(fn func(flow.Key, flow.Counters)) error {
	t.mu.Lock()
	snap := make(map[flow.Key]flow.Counters, len(t.flows))
	for k, c := range t.flows {
		snap[k] = c
	}
	t.mu.Unlock()
	for k, c := range snap {
		fn(k, c)
	}
	return nil
}

// Remove implements flow.FlowSource.
func (t *Table) Remove(keys []flow.Key) (map[flow.Key]flow.Counters, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[flow.Key]flow.Counters{}
	for _, k := range keys {
		if c, ok := t.flows[k]; ok {
			out[k] = c
			delete(t.flows, k)
		}
	}
	return out, nil
}

// Detach implements flow.Detacher: the flows leave the table (a new
// packet makes a new flow) but stay held until Release.
func (t *Table) Detach(keys []flow.Key) (map[flow.Key]flow.Counters, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.detached == nil {
		t.detached = map[flow.Key]flow.Counters{}
	}
	out := map[flow.Key]flow.Counters{}
	for _, k := range keys {
		c, ok := t.flows[k]
		if !ok {
			continue
		}
		out[k] = c
		delete(t.flows, k)
		if old, ok := t.detached[k]; ok {
			c = merge(old, c) // not expected: the aggregator releases first
		}
		t.detached[k] = c
	}
	return out, nil
}

// Settle implements flow.Detacher.
func (t *Table) Settle(keys []flow.Key) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		if _, ok := t.detached[k]; ok {
			if t.settled == nil {
				t.settled = map[flow.Key]bool{}
			}
			t.settled[k] = true
		}
	}
	return nil
}

// Release implements flow.Detacher.
func (t *Table) Release(keys []flow.Key) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		delete(t.detached, k)
		delete(t.settled, k)
	}
	return nil
}

// Detached is the number of flows detached and not released.
func (t *Table) Detached() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.detached)
}

// Forgetter is the part of the ledger Recover needs.
type Forgetter interface{ Forget(keys []flow.Key) error }

// Recover does what a start does with the pinned table a killed daemon
// left (loader RecoverSlots): a settled flow (every packet recorded) is
// freed and its ledger entry forgotten; every other detached flow goes
// back, or, when a new flow took its key meanwhile, its counts are added
// into that one. It returns how many flows came back.
func (t *Table) Recover(l Forgetter) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var gone []flow.Key
	for k := range t.settled {
		gone = append(gone, k)
	}
	if len(gone) > 0 {
		if err := l.Forget(gone); err != nil {
			panic(err)
		}
	}
	n := 0
	for k, c := range t.detached {
		if t.settled[k] {
			continue
		}
		if cur, ok := t.flows[k]; ok {
			c = merge(cur, c)
		}
		t.flows[k] = c
		n++
	}
	t.detached, t.settled = nil, nil
	return n
}

// merge adds b's counts into a, as loader mergeSlot does.
func merge(a, b flow.Counters) flow.Counters {
	a.Packets += b.Packets
	a.Bytes += b.Bytes
	a.TCPFlags |= b.TCPFlags
	a.EndSeen = a.EndSeen || b.EndSeen
	if b.First.Before(a.First) {
		a.First = b.First
	}
	if b.Last.After(a.Last) {
		a.Last = b.Last
	}
	return a
}

// Sample queues a sampled frame for the next Read.
func (t *Table) Sample(s flow.Sample) {
	t.mu.Lock()
	t.samples = append(t.samples, s)
	t.mu.Unlock()
}

// Pending is the number of events and samples queued and not yet read:
// what a ring buffer would hold.
func (t *Table) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.events) + len(t.samples)
}

// Reads is how many times Read was called.
func (t *Table) Reads() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reads
}

// Read implements flow.EventSource: hands over the queued events and
// samples.
func (t *Table) Read(_ time.Time, onEvent func(flow.Event), onSample func(flow.Sample)) (int, error) {
	t.mu.Lock()
	evs, sms := t.events, t.samples
	t.events, t.samples = nil, nil
	t.reads++
	t.mu.Unlock()
	for _, e := range evs {
		if onEvent != nil {
			onEvent(e)
		}
	}
	for _, s := range sms {
		if onSample != nil {
			onSample(s)
		}
	}
	return len(evs) + len(sms), nil
}
