package detect

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is the engine's Prometheus collector: findings by type and
// severity, inputs, suppressions, DNS parse outcomes, sink deliveries and
// the bounded tables' occupancy and evictions.
type Metrics struct {
	created    *prometheus.CounterVec
	updated    *prometheus.CounterVec
	suppressed *prometheus.CounterVec
	inputs     *prometheus.CounterVec
	dnsParse   *prometheus.CounterVec
	reloads    *prometheus.CounterVec
	sink       *prometheus.CounterVec
	inStart    prometheus.Counter // inputs by kind, resolved once: the hot path
	inRecord   prometheus.Counter
	inDNS      prometheus.Counter
	inThreat   prometheus.Counter
	entries    *prometheus.Desc
	evictions  *prometheus.Desc
	held       *prometheus.Desc
	engine     *Engine
}

// NewMetrics makes the collector; every type, severity and reason starts
// at zero so dashboards see the series before the first finding.
func NewMetrics() *Metrics {
	m := &Metrics{
		created: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vxtap_findings_total",
			Help: "Findings raised (new, not updates), by GuardDuty type and severity label."}, []string{"type", "severity"}),
		updated: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vxtap_finding_updates_total",
			Help: "Detections that updated an existing finding (deduplicated), by type."}, []string{"type"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vxtap_findings_suppressed_total",
			Help: "Detections a configured suppression silenced, by type."}, []string{"type"}),
		inputs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vxtap_detect_inputs_total",
			Help: "Observations fed to the detectors, by kind."}, []string{"kind"}),
		dnsParse: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vxtap_detect_dns_frames_total",
			Help: "Sampled frames handed to the DNS parser, by outcome."}, []string{"outcome"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vxtap_detect_reloads_total",
			Help: "Configuration and list reloads, by result."}, []string{"result"}),
		sink: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vxtap_findings_sink_total",
			Help: "Finding deliveries by sink and outcome (sent, dropped: queue full, failed: retries exhausted, retried)."}, []string{"sink", "outcome"}),
		entries: prometheus.NewDesc("vxtap_detect_table_entries", "Hosts held in a detector's bounded table.", []string{"table"}, nil),
		evictions: prometheus.NewDesc("vxtap_detect_table_evictions_total",
			"Hosts a detector's full table dropped (least recently seen of a sample) to make room.", []string{"table"}, nil),
		held: prometheus.NewDesc("vxtap_findings_held", "Findings held in the store (deduplicated).", nil, nil),
	}
	for _, t := range Types() {
		for _, s := range []string{"Low", "Medium", "High", "Critical"} {
			m.created.WithLabelValues(t, s)
		}
		m.updated.WithLabelValues(t)
	}
	for _, r := range DNSReasons {
		m.dnsParse.WithLabelValues(r)
	}
	m.inStart, m.inRecord, m.inDNS = m.inputs.WithLabelValues("flow_start"), m.inputs.WithLabelValues("record"), m.inputs.WithLabelValues("dns_query")
	m.inThreat = m.inputs.WithLabelValues("threat_hit")
	return m
}

// Reloaded counts a configuration reload that failed before it reached
// the engine (the file did not read); Engine.Reload counts its own.
func (m *Metrics) Reloaded(ok bool) {
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
		return
	}
	m.reloads.WithLabelValues("error").Inc()
}

// SinkCounter is what a sink counts its deliveries with.
func (m *Metrics) SinkCounter(sink, outcome string) prometheus.Counter {
	return m.sink.WithLabelValues(sink, outcome)
}

func (m *Metrics) vecs() []prometheus.Collector {
	return []prometheus.Collector{m.created, m.updated, m.suppressed, m.inputs, m.dnsParse, m.reloads, m.sink}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.vecs() {
		c.Describe(ch)
	}
	ch <- m.entries
	ch <- m.evictions
	ch <- m.held
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.vecs() {
		c.Collect(ch)
	}
	e := m.engine
	if e == nil {
		return
	}
	e.mu.Lock()
	type tb struct {
		name      string
		n         int
		evictions uint64
	}
	tables := []tb{{"scan", e.scans.len(), e.scans.evicted}, {"bruteforce", e.brutes.len(), e.brutes.evicted},
		{"dos", e.floods.len(), e.floods.evicted}, {"volume", e.vols.len(), e.vols.evicted}, {"dns_exfiltration", e.exfils.len(), e.exfils.evicted}}
	e.mu.Unlock()
	for _, t := range tables {
		ch <- prometheus.MustNewConstMetric(m.entries, prometheus.GaugeValue, float64(t.n), t.name)
		ch <- prometheus.MustNewConstMetric(m.evictions, prometheus.CounterValue, float64(t.evictions), t.name)
	}
	ch <- prometheus.MustNewConstMetric(m.held, prometheus.GaugeValue, float64(e.store.Len()))
}
