package aggregate

import (
	"errors"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// deferred is the state of an aggregator whose commits wait for the
// outputs (DeferCommits): a sweep's records are emitted at once, but the
// ledger learns their totals, and finished flows leave the table, only
// when Commit says the records are stored. Until then the data path keeps
// the flows and goes on counting, so a daemon killed in between, or an
// output that cannot store, loses nothing: the records are made again.
//
// A finished flow leaves the table in two steps (flow.Detacher): Commit
// detaches it and reads its final counters; a flow that gained packets
// after the walk gets a last record for them (the follow-up batch) and
// stays held, out of every walk but in the table's keeping, until the next
// Commit says that record is stored too; only then is its ledger entry
// forgotten and it is released (letGo). A daemon killed in between leaves
// it for the next start to put back, so those packets are never only in
// memory.
type deferred struct {
	on      bool
	save    map[flow.Key][2]uint64 // ledger totals of the records not yet committed
	remove  []flow.Key             // finished flows to remove at Commit
	reasons map[flow.Key]string    // their end reasons
	held    map[flow.Key]bool      // detached flows whose last records wait for the next Commit
}

// DeferCommits makes every later sweep wait for Commit before it writes
// the ledger or removes a flow. Records of finished flows then come from
// the counters the walk read; packets that land between the walk and the
// removal get one more record at Commit. Every record carries its flow's
// totals (TotalPackets, TotalBytes).
func (a *Aggregator) DeferCommits() {
	a.defer_ = deferred{on: true, save: map[flow.Key][2]uint64{}, reasons: map[flow.Key]string{}, held: map[flow.Key]bool{}}
}

// holding is true while ledger writes wait for Commit: always with
// deferred commits, the follow-up records made at Commit included (their
// totals go to the ledger at the Commit after, once they are stored).
func (d *deferred) holding() bool { return d.on }

// isHeld says whether a flow of key k is detached and held: a flow the
// walk meets with that key is a newer one, left alone until the held one
// is released (its records would otherwise share the held one's ledger
// entry).
func (d *deferred) isHeld(k *flow.Key) bool { return len(d.held) > 0 && d.held[*k] }

// took keeps the ledger totals of records just emitted for Commit.
func (d *deferred) took(save map[flow.Key][2]uint64) {
	for k, v := range save {
		d.save[k] = v
	}
}

// setTotals gives each pending record its flow's totals: what the ledger
// holds once the record is committed.
func (a *Aggregator) setTotals() {
	for i := range a.pending {
		r := &a.pending[i]
		if r.EndReason == flow.EndOverflow {
			continue // totals set when made (overflow.go)
		}
		k := r.Key()
		fk := pack(&k)
		if j, ok := a.state.get(&fk); ok {
			e := &a.state.slots[j]
			r.TotalPackets, r.TotalBytes = e.packets, e.bytes
		}
	}
}

// removeLater queues finished flows for Commit.
func (d *deferred) removeLater(keys []flow.Key, reasons map[flow.Key]string) {
	d.remove = append(d.remove, keys...)
	for _, k := range keys {
		d.reasons[k] = reasons[k]
	}
}

// Uncommitted is true while records wait for Commit.
func (a *Aggregator) Uncommitted() bool {
	return a.defer_.on && (len(a.defer_.save) > 0 || len(a.defer_.remove) > 0 || len(a.defer_.held) > 0 || a.ov.drained)
}

// Commit is called once the records emitted since the last Commit are
// stored: it writes their totals to the ledger, releases the flows held
// for those records, then detaches the finished flows, emitting a last
// record for any packet that came after the walk (those flows are held).
// It returns how many such records it emitted; they need a Commit too.
func (a *Aggregator) Commit(now time.Time) (int, error) {
	d := &a.defer_
	if !d.on {
		return 0, nil
	}
	var err error
	if a.ledger != nil && len(d.save) > 0 {
		err = a.ledger.Save(d.save)
	}
	d.save = map[flow.Key][2]uint64{}
	keys, reasons := d.remove, d.reasons
	d.remove, d.reasons = nil, map[flow.Key]string{}
	if err != nil {
		// The ledger did not take them: keep the flows, so a restart makes
		// their records again rather than losing them.
		return 0, err
	}
	rerr := a.releaseHeld()
	oerr := a.commitOverflow()
	n, ferr := a.finish(keys, reasons, now)
	return n, errors.Join(rerr, oerr, ferr)
}

// releaseHeld lets the held flows go: their last records are now stored.
func (a *Aggregator) releaseHeld() error {
	d := &a.defer_
	if len(d.held) == 0 {
		return nil
	}
	keys := make([]flow.Key, 0, len(d.held))
	for k := range d.held {
		keys = append(keys, k)
	}
	clear(d.held)
	return a.letGo(keys)
}

// letGo ends detached flows whose records are all stored: marked wholly
// recorded, their ledger entries forgotten, then freed. In that order: a
// kill after the mark leaves the flow for the next start, which forgets
// the entry then frees it; a flow freed before its entry went would leave
// an entry that a new flow of the same key with as many packets could be
// taken for (its first packets never recorded). A flow whose entry could
// not be forgotten stays held, for the next Commit.
func (a *Aggregator) letGo(keys []flow.Key) error {
	if len(keys) == 0 {
		return nil
	}
	err := a.settle(keys)
	if err == nil && a.ledger != nil {
		err = a.ledger.Forget(keys)
	}
	if err != nil {
		for _, k := range keys {
			a.defer_.held[k] = true
		}
		return err
	}
	return a.release(keys)
}

// detach takes finished flows out of the table, keeping them for Release
// where the table can (flow.Detacher); otherwise it removes them.
func (a *Aggregator) detach(keys []flow.Key) (map[flow.Key]flow.Counters, error) {
	if t, ok := a.src.(flow.Detacher); ok {
		return t.Detach(keys)
	}
	return a.src.Remove(keys)
}

// settle marks detached flows wholly recorded (nothing to do on a table
// that removed them).
func (a *Aggregator) settle(keys []flow.Key) error {
	if t, ok := a.src.(flow.Detacher); ok {
		return t.Settle(keys)
	}
	return nil
}

// release frees detached flows (nothing to do on a table that removed them).
func (a *Aggregator) release(keys []flow.Key) error {
	if t, ok := a.src.(flow.Detacher); ok && len(keys) > 0 {
		return t.Release(keys)
	}
	return nil
}

// finalFromWalk emits the last record of a finished flow from the counters
// the walk read, when commits are deferred (the flow stays in the table
// until Commit); otherwise finish makes it from the removed counters.
func (a *Aggregator) finalFromWalk(k *flow.Key, c *flow.Counters, e *slot, reason string, now time.Time, at stamp) int {
	if !a.defer_.on || !a.record(k, c, e, reason, now, at) {
		return 0
	}
	return 1
}
