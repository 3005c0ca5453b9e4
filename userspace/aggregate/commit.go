package aggregate

import (
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// deferred is the state of an aggregator whose commits wait for the
// outputs (DeferCommits): a sweep's records are emitted at once, but the
// ledger learns their totals, and finished flows leave the table, only
// when Commit says the records are stored. Until then the data path keeps
// the flows and goes on counting, so a daemon killed in between, or an
// output that cannot store, loses nothing: the records are made again.
type deferred struct {
	on      bool
	save    map[flow.Key][2]uint64 // ledger totals of the records not yet committed
	remove  []flow.Key             // finished flows to remove at Commit
	reasons map[flow.Key]string    // their end reasons
	commit  bool                   // Commit is under way: write the ledger directly
}

// DeferCommits makes every later sweep wait for Commit before it writes
// the ledger or removes a flow. Records of finished flows then come from
// the counters the walk read; packets that land between the walk and the
// removal get one more record at Commit. Every record carries its flow's
// totals (TotalPackets, TotalBytes).
func (a *Aggregator) DeferCommits() {
	a.defer_ = deferred{on: true, save: map[flow.Key][2]uint64{}, reasons: map[flow.Key]string{}}
}

// holding is true while ledger writes wait for Commit.
func (d *deferred) holding() bool { return d.on && !d.commit }

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
	return a.defer_.on && (len(a.defer_.save) > 0 || len(a.defer_.remove) > 0)
}

// Commit is called once the records emitted since the last Commit are
// stored: it writes their totals to the ledger, then removes the finished
// flows, emitting a last record for any packet that came after the walk.
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
	d.commit = true
	n, ferr := a.finish(keys, reasons, now)
	d.commit = false
	return n, ferr
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
