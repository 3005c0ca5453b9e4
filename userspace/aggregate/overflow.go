package aggregate

import (
	"fmt"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// A flood degrades, never blinds: copies of flows that found no slot in a
// full table come back from a flow.OverflowSource as coarse aggregates,
// emitted as records with end reason flow.EndOverflow, so the records
// still sum to every packet the data path accounted. Pressure relief
// makes room by evicting one-packet flows before established ones.
//
// An aggregate is exported like a flow: the records carry its totals minus
// what the overflow ledger says earlier records carried; the ledger takes
// the totals at Commit (once the records are stored) and only then is the
// aggregate removed, then its ledger entry forgotten. Only the settled
// half is exported, so its totals are final and each aggregate makes one
// record; the data path turns to the other half only once the settled one
// is empty and its ledger entries forgotten. A kill or a failure at any
// step leaves the aggregate, or its ledger entry, for the next drain.

// OverflowLedger keeps what overflow records carried per aggregate,
// beside the flow ledger (the daemon uses the pinned overflow_ledger map).
type OverflowLedger interface {
	LoadOverflow(fn func(id flow.OverflowID, packets, bytes uint64)) error
	SaveOverflow(entries map[flow.OverflowID][2]uint64) error
	ForgetOverflow(ids []flow.OverflowID) error
}

// overflowState is what the aggregator knows of the overflow aggregates.
type overflowState struct {
	sent    map[flow.OverflowID][2]uint64 // totals records carried: the ledger's entries once committed
	stored  map[flow.OverflowID]bool      // their records are stored (committed, or loaded from the ledger)
	settled []flow.OverflowID             // the settled half as the last drain read it: removed at commit
	drained bool                          // a drain read aggregates not yet committed
	ledger  OverflowLedger                // nil: kept in memory only
}

// useOverflowLedger loads what earlier runs' overflow records carried.
func (a *Aggregator) useOverflowLedger(l Ledger) error {
	ol, ok := l.(OverflowLedger)
	if !ok {
		return nil
	}
	a.ov.ledger = ol
	return ol.LoadOverflow(func(id flow.OverflowID, p, b uint64) {
		a.ov.sent[id] = [2]uint64{p, b}
		a.ov.stored[id] = true
	})
}

// drainOverflow queues a record per settled aggregate with packets no
// record carried yet; when the settled half is empty it turns the halves
// first. A source without overflow has nothing to drain.
func (a *Aggregator) drainOverflow() (int, error) {
	src, ok := a.src.(flow.OverflowSource)
	if !ok {
		return 0, nil
	}
	half, aggs, err := src.SettledOverflow()
	if err != nil {
		return 0, fmt.Errorf("drain overflow: %w", err)
	}
	if err := a.forgetGone(half, aggs); err != nil {
		return 0, fmt.Errorf("drain overflow: %w", err)
	}
	// Aggregates whose stored records carried everything are finished
	// now: their commit failed, or a kill came before it, and no batch
	// would bring another.
	var done []flow.OverflowID
	rest := aggs[:0:0]
	for _, o := range aggs {
		if a.ov.stored[o.OverflowID] && o.Counters.Packets <= a.ov.sent[o.OverflowID][0] {
			done = append(done, o.OverflowID)
		} else {
			rest = append(rest, o)
		}
	}
	if err := a.finishOverflow(done); err != nil {
		return 0, fmt.Errorf("drain overflow: %w", err)
	}
	aggs = rest
	if len(aggs) == 0 {
		turned, err := src.TurnOverflow()
		if err != nil || !turned {
			return 0, wrapErr("drain overflow", err)
		}
		if _, aggs, err = src.SettledOverflow(); err != nil {
			return 0, fmt.Errorf("drain overflow: %w", err)
		}
	}
	a.ov.settled = a.ov.settled[:0]
	n := 0
	for _, o := range aggs {
		a.ov.settled = append(a.ov.settled, o.OverflowID)
		if a.overflowRecord(&o) {
			n++
		}
	}
	a.ov.drained = len(aggs) > 0
	return n, nil
}

// overflowRecord queues what aggregate o gained over its ledger entry;
// false when it gained nothing.
func (a *Aggregator) overflowRecord(o *flow.Overflow) bool {
	s, c := a.ov.sent[o.OverflowID], o.Counters
	if c.Packets <= s[0] {
		return false
	}
	k := o.Key
	r := flow.Record{
		VNI: k.VNI, Src: k.Src, Dst: k.Dst, Proto: k.Proto, SPort: k.SPort, DPort: k.DPort,
		Packets: c.Packets - s[0], Bytes: c.Bytes - s[1], First: c.First, Last: c.Last, TCPFlags: c.TCPFlags,
		EndReason: flow.EndOverflow, Truncated: c.Truncated,
	}
	if a.defer_.on {
		r.TotalPackets, r.TotalBytes = c.Packets, c.Bytes
	}
	a.pending = append(a.pending, r)
	a.ov.sent[o.OverflowID] = [2]uint64{c.Packets, c.Bytes}
	a.TotalRecords++
	return true
}

// forgetGone forgets the ledger entries of the settled half whose
// aggregate is gone: removed, then a kill or a failure came before the
// entry was forgotten. Nothing adds to the settled half, so none comes
// back; it must be done before the half is turned to, where the same
// aggregate would start over from zero.
func (a *Aggregator) forgetGone(half uint8, aggs []flow.Overflow) error {
	live := make(map[flow.OverflowID]bool, len(aggs))
	for _, o := range aggs {
		live[o.OverflowID] = true
	}
	var gone []flow.OverflowID
	for id := range a.ov.sent {
		if id.Half == half && !live[id] {
			gone = append(gone, id)
		}
	}
	return a.forgetOverflow(gone)
}

// forgetOverflow drops ledger entries of aggregates that are gone.
func (a *Aggregator) forgetOverflow(ids []flow.OverflowID) error {
	if len(ids) == 0 {
		return nil
	}
	if a.ov.ledger != nil {
		if err := a.ov.ledger.ForgetOverflow(ids); err != nil {
			return err
		}
	}
	for _, id := range ids {
		delete(a.ov.sent, id)
		delete(a.ov.stored, id)
	}
	return nil
}

// commitOverflow runs once the records of the last drain are stored:
// their aggregates are finished.
func (a *Aggregator) commitOverflow() error {
	a.ov.drained = false
	ids := a.ov.settled
	a.ov.settled = nil
	for _, id := range ids {
		a.ov.stored[id] = true
	}
	return wrapErr("commit overflow", a.finishOverflow(ids))
}

// finishOverflow ends settled aggregates whose records are stored: the
// ledger takes their totals (again, for any whose commit failed before),
// then they are removed, then their entries are forgotten. A failure
// stops there; the next drain finds what is left.
func (a *Aggregator) finishOverflow(ids []flow.OverflowID) error {
	if len(ids) == 0 {
		return nil
	}
	if a.ov.ledger != nil {
		save := make(map[flow.OverflowID][2]uint64, len(ids))
		for _, id := range ids {
			if v, ok := a.ov.sent[id]; ok {
				save[id] = v
			}
		}
		if err := a.ov.ledger.SaveOverflow(save); err != nil {
			return err
		}
	}
	if err := a.src.(flow.OverflowSource).RemoveOverflow(ids); err != nil {
		return err
	}
	return a.forgetOverflow(ids)
}

// wrapErr prefixes err with what failed; nil stays nil.
func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// noteKept records a flow the sweep keeps in the age histograms of the
// next relief: one-packet flows apart from the others.
func (a *Aggregator) noteKept(idle time.Duration, c *flow.Counters) {
	if c.Packets <= 1 {
		a.singleAges[a.ageBucket(idle)]++
		return
	}
	a.ages[a.ageBucket(idle)]++
}
