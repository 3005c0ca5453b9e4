package clickhouse

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes the sink's Stats on /metrics, labelled by database
// and table, as vxtap_clickhouse_*.
func (s *Sink) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Sink }

var (
	labels   = []string{"table"}
	descs    = map[string]*prometheus.Desc{}
	descList = []struct{ name, help string }{
		{"vxtap_clickhouse_spool_bytes", "Bytes of flow records waiting in the on-disk spool."},
		{"vxtap_clickhouse_spool_limit_bytes", "The spool's bound (--clickhouse-spool-size)."},
		{"vxtap_clickhouse_spool_batches", "Batch chunks waiting in the spool."},
		{"vxtap_clickhouse_spool_full_total", "Batches refused because the spool was full (the pipeline kept them)."},
		{"vxtap_clickhouse_inserts_total", "INSERTs that succeeded."},
		{"vxtap_clickhouse_inserted_rows_total", "Flow records stored."},
		{"vxtap_clickhouse_duplicate_chunks_total", "Batch chunks found already stored and not inserted again."},
		{"vxtap_clickhouse_failures_total", "Failed attempts to reach ClickHouse, check or insert (retried)."},
		{"vxtap_clickhouse_corrupt_total", "Spool files that could not be read, set aside as .bad."},
		{"vxtap_clickhouse_insert_latency_seconds", "Duration of the last successful INSERT."},
		{"vxtap_clickhouse_partitions_dropped_total", "Day partitions dropped by retention."},
	}
)

func init() {
	for _, d := range descList {
		descs[d.name] = prometheus.NewDesc(d.name, d.help, labels, nil)
	}
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	t := c.s.cfg.Names.FlowsTable()
	gauge := func(name string, v float64) {
		ch <- prometheus.MustNewConstMetric(descs[name], prometheus.GaugeValue, v, t)
	}
	counter := func(name string, v uint64) {
		ch <- prometheus.MustNewConstMetric(descs[name], prometheus.CounterValue, float64(v), t)
	}
	gauge("vxtap_clickhouse_spool_bytes", float64(st.SpoolBytes))
	gauge("vxtap_clickhouse_spool_limit_bytes", float64(st.SpoolLimit))
	gauge("vxtap_clickhouse_spool_batches", float64(st.SpoolBatches))
	counter("vxtap_clickhouse_spool_full_total", st.SpoolFull)
	counter("vxtap_clickhouse_inserts_total", st.Inserts)
	counter("vxtap_clickhouse_inserted_rows_total", st.InsertedRows)
	counter("vxtap_clickhouse_duplicate_chunks_total", st.DuplicateChunks)
	counter("vxtap_clickhouse_failures_total", st.Failures)
	counter("vxtap_clickhouse_corrupt_total", st.Corrupt)
	gauge("vxtap_clickhouse_insert_latency_seconds", st.LastLatency.Seconds())
	counter("vxtap_clickhouse_partitions_dropped_total", st.PartitionsDrop)
}
