// Package analyze runs a capture file through the data path offline: every
// frame goes through the loaded XDP program (BPF_PROG_TEST_RUN) with the
// capture's timestamps as its clock, and the aggregator turns the flow
// table into records exactly as the daemon would.
package analyze

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vxtap/vxtap/userspace/aggregate"
	"github.com/vxtap/vxtap/userspace/capture"
	"github.com/vxtap/vxtap/userspace/flow"
)

// Runner runs one frame through the XDP program with ts as its clock.
type Runner interface {
	RunPacket(frame []byte, ts time.Time) (uint32, error)
}

// Source is the data path as analyze needs it.
type Source interface {
	Runner
	flow.FlowSource
	flow.CounterSource
}

// drainEvery is how many frames pass between ring buffer drains: far
// fewer records than the ring holds can be produced in that many.
const drainEvery = 1024

// sweepEvery is the capture time between sweeps, as the daemon's default.
const sweepEvery = time.Second

// refused is what a Runner's error says when one frame cannot be run and
// the capture should go on (loader.FrameRefusedError).
type refused interface {
	error
	FrameRefused() string
}

// Refused is a frame the data path could not be run on.
type Refused struct {
	Frame  int // frame number
	Len    int
	Reason string // counter name it is counted under
	Err    error
}

func (r Refused) String() string { return fmt.Sprintf("frame %d: %v", r.Frame, r.Err) }

// Result is what a capture produced.
type Result struct {
	Refused []Refused         // frames the data path would not take, counted under their Reason
	Skipped []capture.Skipped // frames of non-Ethernet pcapng interfaces, counted as not_ethernet
	Records []flow.Record
	Frames  int
	Reasons []flow.Counter
	Flags   []flow.Counter
	Sweeps  int
	Evicted uint64
}

// Run reads every frame of r through src. A read error (a truncated
// capture) is returned with everything read before it still in Result.
func Run(r *capture.Reader, src Source, events flow.EventSource, cfg aggregate.Config) (*Result, error) {
	res := &Result{}
	agg := aggregate.New(cfg, src, func(rec flow.Record) { res.Records = append(res.Records, rec) })
	drain := func() error {
		_, err := events.Read(time.Unix(1, 0), agg.OnEvent, nil) // a past deadline: take what is queued
		return err
	}
	var now, lastSweep time.Time
	var readErr error
	for {
		fr, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		res.Frames++
		if fr.Time.After(now) {
			now = fr.Time
		}
		if lastSweep.IsZero() {
			lastSweep = now
		}
		// A frame too short to run is counted by the runner itself.
		if _, err := src.RunPacket(fr.Data, fr.Time); err != nil {
			var rf refused
			if !errors.As(err, &rf) {
				return res, fmt.Errorf("frame %d: %w", fr.Index, err)
			}
			res.Refused = append(res.Refused, Refused{Frame: fr.Index, Len: len(fr.Data), Reason: rf.FrameRefused(), Err: err})
			continue
		}
		if res.Frames%drainEvery == 0 {
			if err := drain(); err != nil {
				return res, err
			}
		}
		if now.Sub(lastSweep) >= sweepEvery {
			if err := drain(); err != nil {
				return res, err
			}
			if _, err := agg.Sweep(now); err != nil {
				return res, err
			}
			res.Sweeps++
			lastSweep = now
		}
	}
	if err := drain(); err != nil {
		return res, err
	}
	if _, err := agg.Sweep(now); err != nil {
		return res, err
	}
	if _, err := agg.Shutdown(now, true); err != nil {
		return res, err
	}
	res.Evicted = agg.TotalEvicted
	reasons, flags, err := src.Counters()
	if err != nil {
		return res, err
	}
	res.Skipped = r.Skipped()
	res.Reasons, res.Flags = appendUserspaceReasons(reasons, res), flags
	return res, errors.Join(readErr)
}

// appendUserspaceReasons counts the frames that never reached the data
// path under reasons of their own, so the reasons still sum to the
// frames of the capture.
func appendUserspaceReasons(reasons []flow.Counter, res *Result) []flow.Counter {
	extra := map[string]*flow.Counter{}
	var names []string
	add := func(name string, packets, bytes uint64) {
		c := extra[name]
		if c == nil {
			c = &flow.Counter{Name: name}
			extra[name] = c
			names = append(names, name)
		}
		c.Packets += packets
		c.Bytes += bytes
	}
	for _, rf := range res.Refused {
		add(rf.Reason, 1, uint64(rf.Len))
	}
	for _, s := range res.Skipped {
		add("not_ethernet", uint64(s.Frames), s.Bytes)
	}
	for _, n := range names {
		reasons = append(reasons, *extra[n])
	}
	return reasons
}
