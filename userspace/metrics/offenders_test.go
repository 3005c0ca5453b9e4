package metrics

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vxtap/vxtap/userspace/daemon"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// manyOffenders has more refused sources than /metrics shows.
type manyOffenders struct{ asked int }

func (m *manyOffenders) Offenders(n int) ([]flow.Offender, error) {
	m.asked = n
	var out []flow.Offender
	for i := 0; i < 50 && (n <= 0 || i < n); i++ {
		out = append(out, flow.Offender{Source: netip.AddrFrom4([4]byte{198, 18, 9, byte(i)}), Reason: "unknown_source", Packets: uint64(100 - i)})
	}
	return out, nil
}

// TestOffenderSeries: only the TopOffenders busiest refused sources become
// series, however many the data path holds.
func TestOffenderSeries(t *testing.T) {
	tab := flowtest.NewTable()
	d, err := daemon.New(daemon.DefaultConfig(), daemon.Sources{Flows: tab, Events: tab, Counters: fakeCounters{},
		Attached: func() bool { return true }}, pipeline.Outputs{})
	if err != nil {
		t.Fatal(err)
	}
	c := New("eth9", fakeCounters{}, daemonSource{d}, 1024)
	src := &manyOffenders{}
	c.Offenders = src
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var series []string
	for _, f := range fams {
		if f.GetName() != "vxtap_refused_source_packets" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			series = append(series, fmt.Sprintf("%s %s %v", l["source"], l["reason"], m.GetGauge().GetValue()))
		}
	}
	if len(series) != TopOffenders || src.asked != TopOffenders {
		t.Fatalf("series %v (asked for %d), want the %d busiest", series, src.asked, TopOffenders)
	}
	if !slices.Contains(series, "198.18.9.0 unknown_source 100") || slices.Contains(series, "198.18.9.10 unknown_source 90") {
		t.Errorf("series %v: want the busiest 198.18.9.0..9", series)
	}
}
