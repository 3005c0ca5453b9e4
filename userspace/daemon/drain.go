package daemon

import (
	"context"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// drainLoop reads the ring buffer until ctx ends. It only copies what it
// read into queues that never block, so no sink and no sweep can make
// the ring buffer fill up.
func (d *Daemon) drainLoop(ctx context.Context) error {
	for ctx.Err() == nil {
		deadline := time.Now().Add(d.cfg.DrainEvery)
		if err := d.drainOnce(deadline); err != nil {
			return err
		}
	}
	return nil
}

// eventBatch bounds how many events one batch carries: a full ring
// buffer read as one slice (a quarter of a million flow starts, grown by
// doubling) left 30 MB of heap behind; batches of this size are handed
// on as they fill, so the sweep loop takes them while the rest is read.
const eventBatch = 4096

// drainOnce reads what the ring buffer holds (waiting until deadline when
// it is empty) and dispatches it.
func (d *Daemon) drainOnce(deadline time.Time) error {
	var evs []flow.Event
	var sms []flow.Sample
	n, err := d.src.Events.Read(deadline, func(e flow.Event) {
		if evs == nil {
			evs = make([]flow.Event, 0, eventBatch)
		}
		if evs = append(evs, e); len(evs) == eventBatch {
			d.dispatchEvents(evs)
			evs = nil
		}
	}, func(s flow.Sample) { sms = append(sms, s) })
	if err != nil {
		d.dispatchEvents(evs) // what was read before the error
		return err
	}
	d.lastDrain.Store(time.Now().UnixNano())
	if len(sms) > 0 {
		sms = d.takeCaptures(sms) // live captures: capture.go
	}
	if len(sms) > 0 {
		d.samples.Add(uint64(len(sms)))
		d.fan.samples(sms)
	}
	d.dispatchEvents(evs)
	if wait := time.Until(deadline); n == 0 && wait > 0 {
		time.Sleep(wait) // a source that does not wait for the deadline itself
	}
	return nil
}

// dispatchEvents hands a batch of events to the event sinks and the
// sweep loop.
func (d *Daemon) dispatchEvents(evs []flow.Event) {
	if len(evs) == 0 {
		return
	}
	d.fan.events(evs)
	select {
	case d.aggEvents <- evs:
	default:
		// The sweep loop is behind: the aggregator misses these starts,
		// which only delays noticing a flow that vanished unswept.
		d.lostStarts.Add(uint64(len(evs)))
	}
}
