package daemon

import (
	"fmt"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// clockSlack absorbs a restart's clock base: the loader turns the data
// path's monotonic stamps into wall time with time.Now() minus
// CLOCK_MONOTONIC taken anew, so the same packet reads microseconds apart
// in the killed daemon's record and in this one's table (loader/clock.go
// keeps each base's error to the clocks' read time). A flow whose packets
// all share one timestamp (first equal to last, a coarse clock) otherwise
// looked like a newer flow and was counted twice. A flow that started
// within it after the record's last packet, with at least the record's
// totals, is the same flow (a new flow reusing the 5-tuple that fast is
// not told apart).
const clockSlack = 10 * time.Millisecond

// reconcile runs once at start, before the ledger loads. A daemon killed
// between storing a batch and committing it left the durable sinks ahead
// of the ledger, or the ledger ahead of the table:
//
//   - records of batches after the committed one whose flow is still in
//     the table (as the same flow, isSameFlow: started no later than the
//     record's last packet, give or take clockSlack, and counted at least
//     the record's totals) are dropped from each durable sink: the ledger never
//     took them, and the next sweep makes them again; the others (the
//     last packets of flows already removed) are kept: nothing else has
//     them;
//   - the committed batch is stored, but the ledger may not have its
//     totals yet: for each of its flows still in the table as the same
//     flow the ledger is raised to the record's totals; for a flow that
//     left the table (or was replaced by a new one with the same key) the
//     ledger entry goes.
func (d *Daemon) reconcile() error {
	committed := d.cfg.Seq.Committed()
	if committed == 0 {
		return nil // nothing was ever committed with this state directory
	}
	type rec struct {
		s pipeline.Recoverer
		n string
	}
	var sinks []rec
	var last, after []flow.Record
	for _, s := range d.outs.Records {
		r, ok := s.(pipeline.Recoverer)
		if !ok || !isDurable(s) {
			continue
		}
		l, a, err := r.Tail(d.cfg.Instance, committed)
		if err != nil {
			return fmt.Errorf("recover sink %s: %w", s.Name(), err)
		}
		if last == nil {
			last = l
		}
		after = append(after, a...)
		sinks = append(sinks, rec{r, s.Name()})
	}
	if len(sinks) == 0 || len(last)+len(after) == 0 {
		return nil
	}
	keys := map[flow.Key]bool{}
	for _, r := range append(last[:len(last):len(last)], after...) {
		if r.EndReason != flow.EndOverflow { // never taken for a flow
			keys[r.Key()] = true
		}
	}
	ov, err := d.readSettledOverflow()
	if err != nil {
		return err
	}
	table := map[flow.Key]flow.Counters{}
	if err := d.src.Flows.Walk(func(k flow.Key, c flow.Counters) {
		if keys[k] {
			table[k] = c
		}
	}); err != nil {
		return err
	}
	if shift := d.clockShift(); shift != 0 {
		for k, c := range table {
			table[k] = shiftTimes(c, shift)
		}
	}
	sameFlow := func(r flow.Record) bool {
		if r.EndReason == flow.EndOverflow {
			return ov.holds(r)
		}
		c, ok := table[r.Key()]
		return ok && isSameFlow(c, r)
	}
	for _, s := range sinks {
		if err := s.s.DropAfter(d.cfg.Instance, committed, sameFlow); err != nil {
			return fmt.Errorf("recover sink %s: %w", s.n, err)
		}
	}
	if d.src.Ledger == nil {
		return nil
	}
	if err := ov.raise(d.src.Ledger, last); err != nil {
		return err
	}
	want := make(map[flow.Key]flow.Record, len(last))
	for _, r := range last {
		if r.TotalPackets > 0 && r.EndReason != flow.EndOverflow {
			want[r.Key()] = r
		}
	}
	ledger := map[flow.Key][2]uint64{}
	if err := d.src.Ledger.Load(func(k flow.Key, p, b uint64) {
		if _, ok := want[k]; ok {
			ledger[k] = [2]uint64{p, b}
		}
	}); err != nil {
		return err
	}
	save := map[flow.Key][2]uint64{}
	var forget []flow.Key
	for k, r := range want {
		if sameFlow(r) {
			if ledger[k][0] < r.TotalPackets {
				save[k] = [2]uint64{r.TotalPackets, r.TotalBytes}
			}
			continue
		}
		if _, ok := ledger[k]; ok {
			forget = append(forget, k)
		}
	}
	if len(save) > 0 {
		if err := d.src.Ledger.Save(save); err != nil {
			return err
		}
	}
	if len(forget) > 0 {
		return d.src.Ledger.Forget(forget)
	}
	return nil
}

// isSameFlow tells whether the table's flow c is the one record r counted
// rather than a newer flow with the same key: one flow's counters never
// go down, and a newer flow's first packet came after r's last one (a
// flow replaces another only once the daemon removed it, or the kernel
// evicted it, both after r's walk).
func isSameFlow(c flow.Counters, r flow.Record) bool {
	if c.Packets < r.TotalPackets {
		return false
	}
	return !c.First.After(r.Last.Add(clockSlack))
}

// clockShift is what to add to the table's times now to read them as the
// daemon that made the committed batch did: the difference of the clock
// bases, 0 when either is unknown. Without it a wall clock stepped by more
// than clockSlack between a kill and the restart made every flow of the
// last batch look newer than its record, so it was counted twice.
func (d *Daemon) clockShift() time.Duration {
	ck, ok := d.cfg.Seq.(pipeline.ClockKeeper)
	cb, ok2 := d.src.Flows.(flow.ClockBaser)
	if !ok || !ok2 {
		return 0
	}
	saved, ok := ck.CommittedBase()
	if !ok {
		return 0
	}
	return time.Duration(saved - cb.ClockBase())
}

// shiftTimes moves a flow's times by shift (the zero time stays).
func shiftTimes(c flow.Counters, shift time.Duration) flow.Counters {
	if !c.First.IsZero() {
		c.First = c.First.Add(shift)
	}
	if !c.Last.IsZero() {
		c.Last = c.Last.Add(shift)
	}
	return c
}
