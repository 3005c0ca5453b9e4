package daemon

import (
	"fmt"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// heldBatch is a published batch waiting for the durable sinks.
type heldBatch struct {
	b      pipeline.Batch
	stored int // durable sinks that hold it
	// base is the table's clock base when the records were made
	// (flow.ClockBaser), kept with the committed number.
	base    int64
	hasBase bool
}

// publish numbers the sweep's records as one batch, enriches them, and
// offers it to every record sink. With no durable sink it is
// committed at once; otherwise it is held until they all stored it.
func (d *Daemon) publish(now time.Time) {
	if len(d.batch) == 0 {
		return
	}
	recs := d.batch
	d.batch = nil // the sinks own this slice now
	if d.cfg.Enrich != nil {
		for i := range recs {
			d.cfg.Enrich.Enrich(&recs[i])
		}
	}
	seq, err := d.cfg.Seq.Next()
	if err != nil {
		logEvery("seq", err.Error(), "batch sequence")
	}
	b := pipeline.Batch{Instance: d.cfg.Instance, Seq: seq, Time: now, Records: recs}
	d.held = &heldBatch{b: b}
	if cb, ok := d.src.Flows.(flow.ClockBaser); ok {
		d.held.base, d.held.hasBase = cb.ClockBase(), true
	}
	d.heldSince.Store(time.Now().UnixNano())
	d.fan.records(b)
	if d.fan.durable == 0 {
		d.commit()
	}
}

// retryCommit commits a held batch every durable sink stored whose
// commit failed before (sweep loop only); true when one was held.
func (d *Daemon) retryCommit() bool {
	if d.held == nil || d.held.stored < d.fan.durable {
		return false
	}
	d.commit()
	return true
}

// acked is called from a durable sink's queue goroutine once it stored b.
func (d *Daemon) acked(b pipeline.Batch) { d.acks <- b.Seq }

// onAck counts a durable sink's acknowledgement (sweep loop only).
func (d *Daemon) onAck(seq uint64) {
	if d.held == nil || d.held.b.Seq != seq {
		return
	}
	if d.held.stored++; d.held.stored >= d.fan.durable {
		d.commit()
	}
}

// commit makes the held batch count: the batch number is recorded as
// committed, the records are counted as written, the ledger takes their
// totals and finished flows leave the table. Packets that came between
// the walk and the removal make a follow-up batch, published at once.
func (d *Daemon) commit() {
	h := d.held
	if err := d.commitSeq(h); err != nil {
		// Without the committed number on disk a restart could not tell
		// this batch from an uncommitted one: hold it and try again at
		// the next sweep (retryCommit).
		d.mu.Lock()
		d.commitErr = err
		d.mu.Unlock()
		logEvery("seq-commit", err.Error(), "batch sequence")
		return
	}
	d.held = nil
	d.heldSince.Store(0)
	d.mu.Lock()
	d.commitErr = nil
	d.mu.Unlock()
	d.mu.Lock()
	for _, r := range h.b.Records {
		d.records[r.EndReason]++
		d.vniPkts[r.VNI] += r.Packets
		d.vniBytes[r.VNI] += r.Bytes
	}
	d.mu.Unlock()
	if _, err := d.agg.Commit(time.Now()); err != nil {
		logEvery("commit", err.Error(), "commit flow records")
	}
	d.publish(time.Now())
}

// commitSeq records h's number as committed, with its clock base where
// the sequence keeps one (reconcile.go, clockShift).
func (d *Daemon) commitSeq(h *heldBatch) error {
	if ck, ok := d.cfg.Seq.(pipeline.ClockKeeper); ok && h.hasBase {
		return ck.CommitBase(h.b.Seq, h.base)
	}
	return d.cfg.Seq.Commit(h.b.Seq)
}

// observeOnly walks the table for the sweep observers (rates stay live
// while a batch waits for a durable sink), making no records.
func (d *Daemon) observeOnly(now time.Time) error {
	n := 0
	err := observed{d.src.Flows, d}.Walk(func(flow.Key, flow.Counters) { n++ })
	for _, ob := range d.outs.Observers {
		ob.EndSweep(now)
	}
	d.mu.Lock()
	d.last.Flows = n // the table's occupancy stays current in status and metrics
	d.mu.Unlock()
	return err
}

// settle waits until no batch is held, taking acknowledgements, or until
// deadline; false when a batch is still held then.
func (d *Daemon) settle(deadline time.Time) bool {
	for d.held != nil {
		if d.retryCommit() {
			if d.held == nil {
				continue
			}
			if time.Now().After(deadline) {
				d.unsettled = true
				return false
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		select {
		case seq := <-d.acks:
			d.onAck(seq)
		case <-time.After(time.Until(deadline)):
			d.unsettled = true
			return false
		}
	}
	return true
}

func (d *Daemon) unsettledErr() error {
	why := d.fan.degraded()
	d.mu.Lock()
	if d.commitErr != nil {
		why = d.commitErr.Error()
	}
	d.mu.Unlock()
	return fmt.Errorf("batch %d (%d records) not committed within %s: %s",
		d.held.b.Seq, len(d.held.b.Records), d.cfg.ShutdownWait, why)
}

// heldTooLong is how long a batch may wait for the durable sinks before
// the daemon reports itself degraded: a sink that hangs without failing.
func (d *Daemon) heldTooLong() time.Duration {
	return max(5*time.Second, 5*d.cfg.SweepInterval)
}

// holdAge is how long the held batch has waited, 0 when none is held.
func (d *Daemon) holdAge() time.Duration {
	since := d.heldSince.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}
