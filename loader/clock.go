package loader

import (
	"time"

	"golang.org/x/sys/unix"
)

// clockConv turns the program's clock into wall time. Live, the program
// reads CLOCK_MONOTONIC (coarse); offline it reads unix nanoseconds.
type clockConv struct {
	offline bool
}

func newClockConv(offline bool) clockConv { return clockConv{offline: offline} }

// baseTries is how many times base reads the clocks, keeping the reading
// taken in the shortest time (bounded: a few clock reads).
const baseTries = 4

// base is what to add to a program timestamp to get unix ns. Take it once
// per batch of conversions so times of one flow keep their order.
//
// It is read anew each time (a stepped wall clock is followed), so the
// same timestamp converts a little differently from one walk, or one
// daemon, to the next; a restart compares times the killed daemon wrote
// with times it reads now (daemon/reconcile.go). To keep that difference
// at the clocks' read time, the wall clock is read between two monotonic
// reads, the monotonic time taken as their midpoint, and of a few such
// readings the one least stretched (by a preemption) is used.
func (c clockConv) base() int64 {
	if c.offline {
		return 0
	}
	var best, width int64 = 0, -1
	for range baseTries {
		var m1, m2 unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &m1)
		wall := time.Now().UnixNano()
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &m2)
		w := m2.Nano() - m1.Nano()
		if width < 0 || w < width {
			best, width = wall-(m1.Nano()+w/2), w
		}
		if w < int64(10*time.Microsecond) {
			break
		}
	}
	return best
}

// wall converts a program timestamp with a base; 0 stays the zero time.
func (c clockConv) wall(ns uint64, base int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ns)+base).UTC()
}
