package aggregate

import (
	"math"
	"time"
)

// Per-flow times are kept as integers, not time.Time: a time.Time holds a
// location pointer, and a million of them make the garbage collector scan
// every flow's state. Wall times are unix nanoseconds, exact for every
// instant the data path can report (years 1678 to 2262); the zero time
// has its own value so it comes back as the zero time.

// zeroWall is the zero time.Time; earlier instants clamp to it.
const zeroWall = math.MinInt64

// noMono marks a stamp whose time had no monotonic clock reading.
const noMono = math.MinInt64

var (
	minWall = time.Unix(0, math.MinInt64+1)
	maxWall = time.Unix(0, math.MaxInt64)
)

// wallOf is t in unix nanoseconds, clamped to the int64 range.
func wallOf(t time.Time) int64 {
	switch {
	case t.Before(minWall):
		return zeroWall
	case t.After(maxWall):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// stamp is a time the aggregator compares against later sweeps. It keeps
// the monotonic reading too: time.Time.Sub uses it when both times have
// one, so a wall clock step does not fire (or hold back) active timeouts,
// and the aggregator must decide as Sub would.
type stamp struct {
	wall int64
	mono int64 // since clock.base; noMono without a reading
}

// age is now.Sub(s) as time.Time.Sub computes it: by the monotonic clock
// when both times have a reading, else by the wall clock, saturating
// instead of overflowing.
func (s stamp) age(now stamp) time.Duration {
	if now.mono != noMono && s.mono != noMono {
		return time.Duration(subSat(now.mono, s.mono))
	}
	if s.wall == zeroWall || now.wall == zeroWall {
		// The zero time is centuries from any other: Sub saturates.
		switch {
		case s.wall == now.wall:
			return 0
		case s.wall == zeroWall:
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return time.Duration(subSat(now.wall, s.wall))
}

// clock turns times into stamps and back.
type clock struct {
	base time.Time // has a monotonic reading: monotonic stamps count from it
	// zones are the locations of flows' last-packet times, so a record's
	// First comes back in the location its source gave; index 0 is UTC.
	zones []*time.Location
}

func newClock() clock { return clock{base: time.Now(), zones: []*time.Location{time.UTC}} }

// hasMono reports whether t carries a monotonic clock reading (Round(0)
// strips it and nothing else).
func hasMono(t time.Time) bool { return t != t.Round(0) }

func (c *clock) stamp(t time.Time) stamp {
	s := stamp{wall: wallOf(t), mono: noMono}
	if hasMono(t) {
		s.mono = int64(t.Sub(c.base))
	}
	return s
}

// subSat is a-b, saturating instead of wrapping.
func subSat(a, b int64) int64 {
	d := a - b
	if (b > 0 && d > a) || (b < 0 && d < a) {
		if b > 0 {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return d
}

// zone is the index of t's location, added on first sight. Past 255
// locations (no source has that many) further ones read back as UTC.
func (c *clock) zone(t time.Time) uint8 {
	loc := t.Location()
	for i, z := range c.zones {
		if z == loc {
			return uint8(i)
		}
	}
	if len(c.zones) > math.MaxUint8 {
		return 0
	}
	c.zones = append(c.zones, loc)
	return uint8(len(c.zones) - 1)
}

// time is the wall time wall in location zone: the time.Time it was taken
// from, minus any monotonic reading (the data path's times have none).
func (c *clock) time(wall int64, zone uint8) time.Time {
	var t time.Time
	if wall != zeroWall {
		t = time.Unix(0, wall)
	}
	if zone == 0 {
		return t.UTC()
	}
	return t.In(c.zones[zone])
}
