package metrics

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/vxtap/vxtap/userspace/daemon"
	"github.com/vxtap/vxtap/userspace/export/jsonl"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

type fakeCounters struct{}

func (fakeCounters) Counters() ([]flow.Counter, []flow.Counter, error) {
	return []flow.Counter{{Name: "flow", Class: flow.ClassAccounted, Packets: 7, Bytes: 700}, {Name: "not_mirror", Class: flow.ClassPassed, Packets: 3, Bytes: 180}},
		[]flow.Counter{{Name: "ringbuf_full", Class: flow.ClassLost, Packets: 2}, {Name: "truncated", Class: flow.ClassShape, Packets: 1}}, nil
}

// daemonSource shows a daemon to the collector, as vxtap run does.
type daemonSource struct{ d *daemon.Daemon }

func (s daemonSource) Health() (bool, string) { return s.d.Health() }
func (s daemonSource) Snapshot() Snapshot {
	st := s.d.State()
	return Snapshot{Records: st.Records, VNIPackets: st.VNIPackets, VNIBytes: st.VNIBytes, Flows: st.LastSweep.Flows,
		Evicted: st.Evicted, Vanished: st.Vanished, Samples: st.Samples, Sinks: st.Sinks}
}

// TestHealthAndMetrics runs the daemon loop on the in-memory table and
// checks /healthz both ways and /metrics with the Prometheus parser and
// promtool.
func TestHealthAndMetrics(t *testing.T) {
	tab := flowtest.NewTable()
	attached := true
	var out bytes.Buffer
	cfg := daemon.DefaultConfig()
	cfg.SweepInterval, cfg.DrainEvery, cfg.HealthWindow = 20*time.Millisecond, 5*time.Millisecond, 200*time.Millisecond
	cfg.Aggregate.IdleTimeout = 50 * time.Millisecond
	sink, err := jsonl.Open(jsonl.Config{Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(cfg, daemon.Sources{Flows: tab, Events: tab, Counters: fakeCounters{},
		Attached: func() bool { return attached }}, pipeline.Outputs{Records: []pipeline.RecordSink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	k := flow.Key{VNI: 42, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"), Proto: 17, SPort: 1, DPort: 2}
	for i := 0; i < 7; i++ {
		tab.Packet(k, 100, time.Now(), 0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	src := daemonSource{d}
	srv := httptest.NewServer(Handler(src, New("eth9", fakeCounters{}, src, 1024), "test"))
	defer srv.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	time.Sleep(150 * time.Millisecond) // the flow idles out: a record
	if code, body := get("/healthz"); code != 200 {
		t.Fatalf("/healthz %d %q while running", code, body)
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	want := map[string]float64{"vxtap_packets_total": 10, "vxtap_ringbuf_lost_total": 2, "vxtap_vni_packets_total": 7, "vxtap_flow_table_size": 1024,
		"vxtap_sink_written_total": 1, "vxtap_sink_dropped_total": 0, "vxtap_sink_errors_total": 0}
	for name, v := range want {
		f, ok := fams[name]
		if !ok {
			t.Errorf("metric %s missing", name)
			continue
		}
		var sum float64
		for _, m := range f.Metric {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
		if sum != v {
			t.Errorf("%s = %v, want %v", name, sum, v)
		}
	}
	if _, ok := fams["vxtap_sweep_duration_seconds"]; !ok {
		t.Error("sweep histogram missing")
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else if os.Getenv("VXTAP_REQUIRE_PRIVILEGED") == "1" {
		t.Error("promtool not installed (scripts/deps.sh installs package prometheus)")
	}

	attached = false
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not attached") {
		t.Errorf("/healthz %d %q with the program detached, want 503", code, body)
	}
	attached = true
	cancel()
	<-done
	time.Sleep(250 * time.Millisecond)
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "drain") {
		t.Errorf("/healthz %d %q with the loop stopped, want 503", code, body)
	}
	d.Close() // the sink has written everything
	if !strings.Contains(out.String(), `"end_reason":"idle"`) || !strings.Contains(out.String(), `"packets":7`) {
		t.Errorf("flow records: %s", out.String())
	}
}
