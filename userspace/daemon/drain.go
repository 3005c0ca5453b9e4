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

// drainOnce reads what the ring buffer holds (waiting until deadline when
// it is empty) and dispatches it.
func (d *Daemon) drainOnce(deadline time.Time) error {
	var evs []flow.Event
	var sms []flow.Sample
	n, err := d.src.Events.Read(deadline, func(e flow.Event) { evs = append(evs, e) },
		func(s flow.Sample) { sms = append(sms, s) })
	if err != nil {
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
	if len(evs) > 0 {
		d.fan.events(evs)
		select {
		case d.aggEvents <- evs:
		default:
			// The sweep loop is behind: the aggregator misses these starts,
			// which only delays noticing a flow that vanished unswept.
			d.lostStarts.Add(uint64(len(evs)))
		}
	}
	if wait := time.Until(deadline); n == 0 && wait > 0 {
		time.Sleep(wait) // a source that does not wait for the deadline itself
	}
	return nil
}
