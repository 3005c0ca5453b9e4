package detect

import (
	"net/netip"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// volAlpha weights the newest bucket in the baseline (an exponentially
// weighted mean: about the last ten buckets count).
const volAlpha = 0.1

// volState is one source's bytes in the current bucket and its baseline.
type volState struct {
	start    int64
	bytes    uint64
	baseline float64
	buckets  uint32 // buckets closed so far
	fired    bool
	topDst   netip.Addr // destination of the largest record in the bucket
	topBytes uint64
	first    time.Time
}

// volume: Behavior:EC2/TrafficVolumeUnusual, the instance sending far
// more than its own recent baseline (and at least MinBytes) in a bucket.
func (e *Engine) volume(o *obs) {
	if o.dir != flow.DirEgress {
		return
	}
	cfg := e.cfg.Volume
	s := e.vols.get(hostKey{o.vni, o.key.Src}, o.last.UnixNano())
	t := o.last.UnixNano()
	if s.start == 0 {
		s.start, s.first = t, o.last
	}
	// Close the buckets that ended (an idle gap closes empty ones, at
	// most 64: by then the baseline has decayed as far as it matters).
	for i := 0; i < 64 && t-s.start >= int64(cfg.Bucket); i++ {
		if s.buckets == 0 {
			s.baseline = float64(s.bytes)
		} else {
			s.baseline += volAlpha * (float64(s.bytes) - s.baseline)
		}
		s.buckets++
		s.start += int64(cfg.Bucket)
		s.bytes, s.fired, s.topBytes, s.first = 0, false, 0, o.last
	}
	if t-s.start >= int64(cfg.Bucket) {
		s.start = t
	}
	s.bytes += o.bytes
	if o.bytes > s.topBytes {
		s.topBytes, s.topDst = o.bytes, o.key.Dst
	}
	if s.fired || s.buckets < uint32(cfg.Warmup) || s.bytes < cfg.MinBytes || float64(s.bytes) <= cfg.Factor*s.baseline {
		return
	}
	s.fired = true
	e.raise(detection{typ: TypeVolume, role: Actor, o: o, local: o.key.Src, remote: s.topDst, proto: o.key.Proto,
		direction: Outbound, first: s.first, last: o.last, detector: "volume",
		evidence: Evidence{Flows: []FlowRef{ref(o.key)}, Window: cfg.Bucket.String(),
			Counts: map[string]float64{"bytes": float64(s.bytes), "baseline_bytes": round1(s.baseline), "factor": round1(float64(s.bytes) / max(s.baseline, 1))}}})
}
