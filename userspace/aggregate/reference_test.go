package aggregate

// This file is the aggregator as it was before its state became
// pointer-free (a map of flow.Key to a heap object per flow), kept as the
// reference the equivalence test holds the current one to.

import (
	"errors"
	"fmt"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// refExported is what earlier records of a flow already carried.
type refExported struct {
	packets, bytes uint64
	lastRecord     time.Time // when the last record was emitted (or the flow started)
	lastPacket     time.Time // Last of the last record
	seen           uint64    // sweep number that last saw the flow in the table
}

// refAggregator owns the exported state of every flow. It is not safe for
// concurrent use: one goroutine feeds it events and sweeps.
type refAggregator struct {
	cfg    Config
	src    flow.FlowSource
	emit   func(flow.Record)
	state  map[flow.Key]*refExported
	sweeps uint64
	ledger Ledger
	// pending holds a sweep's records until the ledger has them: they are
	// saved first and emitted right after, one write each.
	pending []flow.Record
	// Totals over the aggregator's life.
	TotalRecords, TotalVanished uint64
}

// newRef returns a reference aggregator that reads src and hands records to emit.
func newRef(cfg Config, src flow.FlowSource, emit func(flow.Record)) *refAggregator {
	return &refAggregator{cfg: cfg, src: src, emit: emit, state: map[flow.Key]*refExported{}}
}

// UseLedger loads what earlier runs exported and keeps the ledger current
// from now on. Entries whose flow is not in the table with at least their
// counts are another flow's: forgotten.
func (a *refAggregator) UseLedger(l Ledger, now time.Time) error {
	a.ledger = l
	loaded := map[flow.Key][2]uint64{}
	var order []flow.Key
	if err := l.Load(func(k flow.Key, packets, bytes uint64) {
		if _, ok := loaded[k]; !ok {
			order = append(order, k)
		}
		loaded[k] = [2]uint64{packets, bytes}
	}); err != nil {
		return err
	}
	table := map[flow.Key]flow.Counters{}
	if len(loaded) > 0 {
		if err := a.src.Walk(func(k flow.Key, c flow.Counters) { table[k] = c }); err != nil {
			return err
		}
	}
	var stale []fkey
	for _, k := range order {
		v := loaded[k]
		if c, ok := table[k]; !ok || c.Packets < v[0] || c.Bytes < v[1] {
			stale = append(stale, pack(&k))
			delete(a.state, k) // a flow known from an event starts over, as a new one would
			continue
		}
		a.state[k] = &refExported{packets: v[0], bytes: v[1], lastRecord: now, seen: a.sweeps}
	}
	return forgetStale(l, stale)
}

// flush saves the pending records' totals in the ledger, then emits them.
func (a *refAggregator) flush(gone []flow.Key) error {
	var err error
	if a.ledger != nil && len(a.pending) > 0 {
		save := make(map[flow.Key][2]uint64, len(a.pending))
		for _, r := range a.pending {
			if e, ok := a.state[r.Key()]; ok {
				save[r.Key()] = [2]uint64{e.packets, e.bytes}
			}
		}
		err = a.ledger.Save(save)
	}
	for _, r := range a.pending {
		a.emit(r)
	}
	a.pending = a.pending[:0]
	if a.ledger != nil && len(gone) > 0 {
		err = errors.Join(err, a.ledger.Forget(gone))
	}
	return err
}

// OnEvent takes a flow-start or flow-end record from the ring buffer. A
// start makes the flow known, so if it vanishes from the table before a
// sweep saw it, the eviction is noticed.
func (a *refAggregator) OnEvent(ev flow.Event) {
	if ev.Type != flow.FlowStart {
		return // the table's end_seen flag carries the end to the sweep
	}
	if _, ok := a.state[ev.Key]; !ok {
		a.state[ev.Key] = &refExported{lastRecord: ev.Time, seen: a.sweeps}
	}
}

// Sweep walks the table at time now and emits the records that are due.
func (a *refAggregator) Sweep(now time.Time) (Stats, error) {
	start := time.Now()
	a.sweeps++
	var st Stats
	var remove []flow.Key
	reasons := map[flow.Key]string{}
	err := a.src.Walk(func(k flow.Key, c flow.Counters) {
		st.Flows++
		e := a.known(k, c)
		e.seen = a.sweeps
		switch {
		case c.EndSeen && now.Sub(c.Last) >= a.cfg.EndGrace:
			remove, reasons[k] = append(remove, k), flow.EndTCP
		case now.Sub(c.Last) >= a.cfg.IdleTimeout:
			remove, reasons[k] = append(remove, k), flow.EndIdle
		case now.Sub(e.lastRecord) >= a.cfg.ActiveTimeout:
			if a.record(k, c, e, flow.EndActive, now) {
				st.Records++
			}
		}
	})
	if err != nil {
		return st, fmt.Errorf("sweep: %w", err)
	}
	if err := a.flush(nil); err != nil {
		return st, err
	}
	n, err := a.finish(remove, reasons, now)
	st.Records += n
	st.Removed = len(remove)
	// Flows known from a start event or an earlier sweep that this sweep
	// did not see left the table without us.
	for k, e := range a.state {
		if e.seen < a.sweeps {
			delete(a.state, k)
			st.Vanished++
		}
	}
	a.TotalVanished += uint64(st.Vanished)
	st.Duration = time.Since(start)
	return st, err
}

// Shutdown emits a last record for every flow in the table. With remove,
// the flows also leave the table (the program is going away); without it
// they stay for a successor that carries on from the same pinned table.
func (a *refAggregator) Shutdown(now time.Time, remove bool) (int, error) {
	var keys []flow.Key
	n := 0
	err := a.src.Walk(func(k flow.Key, c flow.Counters) {
		if remove {
			keys = append(keys, k)
			return
		}
		if a.record(k, c, a.known(k, c), flow.EndShutdown, now) {
			n++
		}
	})
	if err != nil {
		return n, fmt.Errorf("shutdown sweep: %w", err)
	}
	if err := a.flush(nil); err != nil {
		return n, err
	}
	reasons := make(map[flow.Key]string, len(keys))
	for _, k := range keys {
		reasons[k] = flow.EndShutdown
	}
	m, err := a.finish(keys, reasons, now)
	return n + m, err
}

// finish removes flows from the table and emits their last records from
// the counters the table held when each went.
func (a *refAggregator) finish(keys []flow.Key, reasons map[flow.Key]string, now time.Time) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	final, err := a.src.Remove(keys)
	n := 0
	for _, k := range keys {
		c, ok := final[k]
		if ok && a.record(k, c, a.known(k, c), reasons[k], now) {
			n++
		}
	}
	ferr := a.flush(keys)
	for _, k := range keys {
		delete(a.state, k)
	}
	return n, errors.Join(err, ferr)
}

// known returns the flow's exported state, creating it for a flow first
// met in the table (its start event was lost, or vxtap restarted).
func (a *refAggregator) known(k flow.Key, c flow.Counters) *refExported {
	e, ok := a.state[k]
	if !ok {
		e = &refExported{lastRecord: c.First, seen: a.sweeps}
		a.state[k] = e
	}
	return e
}

// record emits what the flow gained since its previous record; false when
// it gained nothing.
func (a *refAggregator) record(k flow.Key, c flow.Counters, e *refExported, reason string, now time.Time) bool {
	if c.Packets <= e.packets {
		e.lastRecord = now
		return false
	}
	first := c.First
	if e.packets > 0 {
		first = e.lastPacket // continuation: the previous record ended there
	}
	a.pending = append(a.pending, flow.Record{
		VNI: k.VNI, MirrorSource: c.MirrorSource,
		Src: k.Src, Dst: k.Dst, Proto: k.Proto, SPort: k.SPort, DPort: k.DPort,
		Packets: c.Packets - e.packets, Bytes: c.Bytes - e.bytes,
		First: first, Last: c.Last, TCPFlags: c.TCPFlags, EndReason: reason,
	})
	e.packets, e.bytes = c.Packets, c.Bytes
	e.lastRecord, e.lastPacket = now, c.Last
	a.TotalRecords++
	return true
}

// Len is the number of flows the aggregator knows.
func (a *refAggregator) Len() int { return len(a.state) }
