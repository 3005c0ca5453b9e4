// Package metrics exposes the daemon in Prometheus text format. Values are
// read when scraped, so a scrape always sees the data path as it is.
package metrics

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// Source is what metrics and the health check read of the running
// daemon: a small interface, so this package depends on no daemon type.
type Source interface {
	// Health says whether the NLB should send traffic here, and why.
	Health() (bool, string)
	// Snapshot is a copy of the daemon's counters.
	Snapshot() Snapshot
}

// Snapshot is the daemon's state as metrics show it.
type Snapshot struct {
	Records    map[string]uint64 // flow records written, by end reason
	VNIPackets map[uint32]uint64 // carried by written records, per VNI
	VNIBytes   map[uint32]uint64
	Flows      int // in the table at the last sweep
	Evicted    uint64
	Vanished   uint64
	Samples    uint64
	Sinks      []pipeline.SinkStats
}

// Collector reads the data path's counters and the daemon's state.
type Collector struct {
	counters flow.CounterSource
	d        Source
	size     uint32
	iface    string

	sinkQueued, sinkWritten, sinkDropped, sinkErrors, sinkRetries *prometheus.Desc
	sinkDepth, sinkFailing, sinkWrites, sinkWriteSeconds          *prometheus.Desc

	reasonPkts, reasonBytes, flagPkts     *prometheus.Desc
	vniPkts, vniBytes, records, tableSize *prometheus.Desc
	tableFlows, evicted, vanished         *prometheus.Desc
	ringLost, samples                     *prometheus.Desc
	offenderPkts                          *prometheus.Desc
	SweepSeconds                          prometheus.Histogram
	vnis                                  *vniBound // bounds the vni label (vnibound.go)
	// Offenders, when set, exports the TopOffenders busiest refused outer
	// sources (a bounded number of series).
	Offenders flow.OffenderSource
}

// TopOffenders is how many refused outer sources /metrics shows.
const TopOffenders = 10

// SetConfiguredVNIs names the source of the configured sessions' VNIs,
// which always keep a series of their own (read at each scrape: a SIGHUP
// may change them).
func (c *Collector) SetConfiguredVNIs(fn func() []uint32) { c.vnis.configured = fn }

// New builds the collector for one interface.
func New(iface string, counters flow.CounterSource, d Source, tableSize uint32) *Collector {
	l := prometheus.Labels{"iface": iface}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("vxtap_"+name, help, labels, l)
	}
	c := &Collector{counters: counters, d: d, size: tableSize, iface: iface, vnis: newVNIBound(DefaultTopVNIs),
		reasonPkts:  desc("packets_total", "Packets seen by the XDP program, by terminal reason.", "reason"),
		reasonBytes: desc("bytes_total", "Frame bytes seen by the XDP program, by terminal reason.", "reason"),
		flagPkts:    desc("flagged_packets_total", "Packets with a flag (truncated, vxlan_nonstd, ringbuf_full, ...).", "flag"),
		vniPkts:     desc("vni_packets_total", "Inner packets per VNI, as carried by emitted flow records (configured sessions and the top VNIs by traffic; the rest in vni=\"other\").", "vni"),
		vniBytes:    desc("vni_bytes_total", "Inner IP bytes per VNI, as carried by emitted flow records (configured sessions and the top VNIs by traffic; the rest in vni=\"other\").", "vni"),
		records:     desc("flow_records_total", "Flow records emitted, by end reason.", "end_reason"),
		tableSize:   desc("flow_table_size", "Capacity of the flow table."),
		tableFlows:  desc("flow_table_flows", "Flows in the table at the last sweep."),
		evicted:     desc("flow_table_evictions_total", "Flows removed early, idlest first, because the flow table was over 90% full."),
		vanished:    desc("flow_table_vanished_total", "Flows that left the flow table without the daemon (removed by another process, table replaced)."),
		ringLost:    desc("ringbuf_lost_total", "Ring buffer records lost because the ring was full."),
		samples:     desc("samples_total", "Packet samples read from the ring buffer."),
		sinkQueued:  desc("sink_queued_total", "Items (records, events, samples) an output's queue took.", "sink", "kind"),
		sinkWritten: desc("sink_written_total", "Items an output stored.", "sink", "kind"),
		sinkDropped: desc("sink_dropped_total", "Items an output lost: its queue was full, or it failed every retry.", "sink", "kind"),
		sinkErrors:  desc("sink_errors_total", "Failed writes of an output.", "sink", "kind"),
		sinkRetries: desc("sink_retries_total", "Writes of an output tried again.", "sink", "kind"),
		sinkDepth:   desc("sink_queue_depth", "Items waiting in an output's queue.", "sink", "kind"),
		sinkFailing: desc("sink_failing", "1 while an output's last write failed.", "sink", "kind"),
		sinkWrites:  desc("sink_writes_total", "Successful writes (a batch, a drain) of an output.", "sink", "kind"),
		sinkWriteSeconds: desc("sink_write_seconds_total", "Time spent in successful writes of an output "+
			"(divided by vxtap_sink_writes_total: the mean write latency).", "sink", "kind"),
		offenderPkts: desc("refused_source_packets", "Mirror-shaped packets refused per outer source (unknown_source, unknown_vni): the 10 busiest only.",
			"source", "reason"),
		SweepSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vxtap_sweep_duration_seconds",
			Help: "Time one sweep of the flow table took.", ConstLabels: l,
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1}}),
	}
	return c
}

// Registry returns a registry with this collector, the Go runtime and the process.
func (c *Collector) Registry(version string) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(c, c.SweepSeconds, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vxtap_build_info", Help: "Build information.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion()}}, func() float64 { return 1 }))
	return r
}

func goVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return "unknown"
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.reasonPkts, c.reasonBytes, c.flagPkts, c.vniPkts, c.vniBytes,
		c.records, c.tableSize, c.tableFlows, c.evicted, c.vanished, c.ringLost, c.samples,
		c.sinkQueued, c.sinkWritten, c.sinkDropped, c.sinkErrors, c.sinkRetries, c.sinkDepth, c.sinkFailing,
		c.sinkWrites, c.sinkWriteSeconds, c.offenderPkts} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	reasons, flags, err := c.counters.Counters()
	if err == nil {
		for _, r := range reasons {
			ch <- prometheus.MustNewConstMetric(c.reasonPkts, prometheus.CounterValue, float64(r.Packets), r.Name)
			ch <- prometheus.MustNewConstMetric(c.reasonBytes, prometheus.CounterValue, float64(r.Bytes), r.Name)
		}
		for _, f := range flags {
			ch <- prometheus.MustNewConstMetric(c.flagPkts, prometheus.CounterValue, float64(f.Packets), f.Name)
			if f.Class == flow.ClassLost {
				ch <- prometheus.MustNewConstMetric(c.ringLost, prometheus.CounterValue, float64(f.Packets))
			}
		}
	}
	st := c.d.Snapshot()
	for _, s := range c.vnis.series(st.VNIPackets, st.VNIBytes) {
		ch <- prometheus.MustNewConstMetric(c.vniPkts, prometheus.CounterValue, float64(s.packets), s.label)
		ch <- prometheus.MustNewConstMetric(c.vniBytes, prometheus.CounterValue, float64(s.bytes), s.label)
	}
	for reason, n := range st.Records {
		ch <- prometheus.MustNewConstMetric(c.records, prometheus.CounterValue, float64(n), reason)
	}
	ch <- prometheus.MustNewConstMetric(c.tableSize, prometheus.GaugeValue, float64(c.size))
	ch <- prometheus.MustNewConstMetric(c.tableFlows, prometheus.GaugeValue, float64(st.Flows))
	ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(st.Evicted))
	ch <- prometheus.MustNewConstMetric(c.vanished, prometheus.CounterValue, float64(st.Vanished))
	ch <- prometheus.MustNewConstMetric(c.samples, prometheus.CounterValue, float64(st.Samples))
	for _, s := range st.Sinks {
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), s.Name, s.Kind)
		}
		counter(c.sinkQueued, s.Queued)
		counter(c.sinkWritten, s.Written)
		counter(c.sinkDropped, s.Dropped)
		counter(c.sinkErrors, s.Errors)
		counter(c.sinkRetries, s.Retries)
		counter(c.sinkWrites, s.Writes)
		ch <- prometheus.MustNewConstMetric(c.sinkWriteSeconds, prometheus.CounterValue, s.TotalLatency.Seconds(), s.Name, s.Kind)
		ch <- prometheus.MustNewConstMetric(c.sinkDepth, prometheus.GaugeValue, float64(s.Depth), s.Name, s.Kind)
		failing := 0.0
		if s.Failing {
			failing = 1
		}
		ch <- prometheus.MustNewConstMetric(c.sinkFailing, prometheus.GaugeValue, failing, s.Name, s.Kind)
	}
	if c.Offenders != nil {
		if offs, err := c.Offenders.Offenders(TopOffenders); err == nil {
			for _, o := range offs {
				// A gauge: a source can leave the top N (or the LRU).
				ch <- prometheus.MustNewConstMetric(c.offenderPkts, prometheus.GaugeValue, float64(o.Packets), o.Source.String(), o.Reason)
			}
		}
	}
}
