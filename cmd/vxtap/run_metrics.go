package main

import (
	"github.com/vxtap/vxtap/userspace/daemon"
	"github.com/vxtap/vxtap/userspace/metrics"
)

// metricsSource shows the daemon to the metrics package through its small
// Source interface.
type metricsSource struct{ d *daemon.Daemon }

func (m metricsSource) Health() (bool, string) { return m.d.Health() }

func (m metricsSource) Snapshot() metrics.Snapshot {
	s := m.d.State()
	return metrics.Snapshot{Records: s.Records, VNIPackets: s.VNIPackets, VNIBytes: s.VNIBytes,
		Flows: s.LastSweep.Flows, Evicted: s.Evicted, Vanished: s.Vanished, Samples: s.Samples, Sinks: s.Sinks}
}
