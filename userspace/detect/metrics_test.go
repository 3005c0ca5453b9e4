package detect

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// counterValue reads one series of the collector; labels are values in
// the order of their names.
func counterValue(t *testing.T, c prometheus.Collector, name string, labels ...string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) < len(labels) {
				continue
			}
			for i, l := range labels {
				if m.GetLabel()[i].GetValue() != l {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
