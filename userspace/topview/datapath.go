package topview

import (
	"sync"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// SumCounters reads the data path's named counters into totals (rates 0).
func SumCounters(reasons, flags []flow.Counter) Datapath {
	var d Datapath
	// By class, from the data path's enums: passed packets are not
	// mirror copies; every mirror copy not accounted on purpose (refused,
	// malformed, lost) is a drop.
	for _, r := range reasons {
		if !r.Class.Mirror() {
			continue
		}
		d.MirrorPackets += r.Packets
		if r.Class != flow.ClassAccounted {
			d.Drops += r.Packets
		}
	}
	for _, f := range flags {
		if f.Class == flow.ClassLost {
			d.RingLost += f.Packets
		}
	}
	return d
}

// DatapathMeter turns successive counter readings into rates. Safe for
// concurrent use.
type DatapathMeter struct {
	mu   sync.Mutex
	at   time.Time
	last Datapath
	ok   bool
}

// Update takes a reading at time now.
func (m *DatapathMeter) Update(now time.Time, reasons, flags []flow.Counter) {
	d := SumCounters(reasons, flags)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ok && now.After(m.at) {
		dt := now.Sub(m.at).Seconds()
		d.MirrorPacketsPerSecond = perSecond(m.last.MirrorPackets, d.MirrorPackets, dt)
		d.DropsPerSecond = perSecond(m.last.Drops, d.Drops, dt)
	}
	m.at, m.last, m.ok = now, d, true
}

func perSecond(prev, cur uint64, dt float64) float64 {
	if cur < prev { // counters restarted with a new program
		return float64(cur) / dt
	}
	return float64(cur-prev) / dt
}

// Datapath returns the last reading with its rates, nil before any.
func (m *DatapathMeter) Datapath() *Datapath {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ok {
		return nil
	}
	d := m.last
	return &d
}
