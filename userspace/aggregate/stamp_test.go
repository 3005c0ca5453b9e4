package aggregate

import (
	"testing"
	"time"
)

// TestStampAgeIsSub: a stamp's age is what time.Time.Sub says for every
// kind of time the aggregator meets: with and without a monotonic reading,
// the zero time, far apart.
func TestStampAgeIsSub(t *testing.T) {
	c := newClock()
	mono := time.Now()
	wall := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	times := []time.Time{
		{}, mono, mono.Add(time.Minute), mono.Add(-time.Hour), mono.Round(0), mono.Add(time.Minute).Round(0),
		wall, wall.Add(59 * time.Second), wall.Add(-time.Nanosecond), wall.In(time.FixedZone("x", 3600)),
		time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2250, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, now := range times {
		for _, then := range times {
			if got, want := c.stamp(then).age(c.stamp(now)), now.Sub(then); got != want {
				t.Errorf("%v minus %v: age %v, Sub %v", now, then, got, want)
			}
		}
	}
}

// TestClockTimeRoundTrip: a last-packet time comes back as the time.Time
// it was, location included (a monotonic reading is dropped; the data
// path's times have none).
func TestClockTimeRoundTrip(t *testing.T) {
	c := newClock()
	east := time.FixedZone("east", 3*3600)
	for _, in := range []time.Time{
		{}, time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 6, east),
		time.Unix(1700000000, 5), time.Now().Round(0), time.Time{}.In(east),
	} {
		out := c.time(wallOf(in), c.zone(in))
		if out != in {
			t.Errorf("%#v came back as %#v", in, out)
		}
	}
}
