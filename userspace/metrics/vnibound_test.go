package metrics

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/vxtap/vxtap/userspace/daemon"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// spoofedDaemon runs the daemon loop over the in-memory table after a
// spoofer sent one packet on each of nVNI VNIs, plus 50 packets of the
// configured session's VNI 101; it returns the /metrics and /healthz
// server once every flow has been emitted as a record.
func spoofedDaemon(t *testing.T, nVNI int) (*httptest.Server, uint64) {
	t.Helper()
	tab := flowtest.NewTable()
	cfg := daemon.DefaultConfig()
	cfg.SweepInterval, cfg.DrainEvery = 20*time.Millisecond, 5*time.Millisecond
	// A window long enough that a busy machine never starves the loop past it:
	// the scrape tests are about bounded concurrency, not about time.
	cfg.HealthWindow = time.Minute
	cfg.Aggregate.IdleTimeout = 50 * time.Millisecond
	d, err := daemon.New(cfg, daemon.Sources{Flows: tab, Events: tab, Counters: fakeCounters{},
		Attached: func() bool { return true }}, pipeline.Outputs{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	var total uint64
	for i := 0; i < nVNI; i++ {
		tab.Packet(flow.Key{VNI: uint32(1000 + i), Src: src, Dst: dst, Proto: 17, SPort: 1, DPort: 2}, 100, now, 0)
		total++
	}
	for i := 0; i < 50; i++ {
		tab.Packet(flow.Key{VNI: 101, Src: src, Dst: dst, Proto: 6, SPort: 3, DPort: 443}, 1500, now, 0)
		total++
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	ds := daemonSource{d}
	col := New("eth9", fakeCounters{}, ds, 1<<16)
	col.SetConfiguredVNIs(func() []uint32 { return []uint32{101} })
	srv := httptest.NewServer(Handler(ds, col, "test"))
	t.Cleanup(srv.Close)
	for deadline := time.Now().Add(10 * time.Second); ; {
		var n uint64
		for _, p := range ds.Snapshot().VNIPackets {
			n += p
		}
		if n == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records carry %d of %d packets after 10 s", n, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return srv, total
}

// TestVNISeriesBounded: 20,000 spoofed VNIs used to make 40,000 vni
// series (2.2 MB). Now the configured session's VNI and the top VNIs by
// traffic have series, the rest sum in vni="other", and the sums still
// equal every packet.
func TestVNISeriesBounded(t *testing.T) {
	srv, total := spoofedDaemon(t, 20000)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	f := fams["vxtap_vni_packets_total"]
	if f == nil {
		t.Fatal("no vxtap_vni_packets_total")
	}
	if n := len(f.Metric); n > 1+DefaultTopVNIs+1 {
		t.Errorf("%d vni series, want at most %d (configured + top %d + other)", n, 1+DefaultTopVNIs+1, DefaultTopVNIs)
	}
	var sum float64
	labels := map[string]float64{}
	for _, m := range f.Metric {
		for _, l := range m.Label {
			if l.GetName() == "vni" {
				labels[l.GetValue()] = m.Counter.GetValue()
			}
		}
		sum += m.Counter.GetValue()
	}
	if sum != float64(total) {
		t.Errorf("vni series sum to %v packets, want %d", sum, total)
	}
	if labels["101"] != 50 {
		t.Errorf("configured VNI 101: %v packets, want its own series with 50", labels["101"])
	}
	if labels[OtherVNI] != float64(20000-DefaultTopVNIs) {
		t.Errorf(`vni="other": %v, want %d`, labels[OtherVNI], 20000-DefaultTopVNIs)
	}
	if len(body) > 64<<10 {
		t.Errorf("/metrics is %d bytes with 20,000 VNIs, want under 64 KiB", len(body))
	}
	t.Logf("/metrics: %d bytes, %d vni series for 20,050 VNIs", len(body), len(f.Metric))

	// A second scrape keeps the same series (none moves back into "other").
	resp, _ = http.Get(srv.URL + "/metrics")
	body2, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Count(string(body2), "vxtap_vni_packets_total{") != len(f.Metric) {
		t.Error("the set of vni series changed between two scrapes of the same totals")
	}
}

// TestHealthUnderScrapeFlood: 1,000 concurrent requests, half /metrics
// and half /healthz, with 20,000 VNIs: /healthz answers 200 every time;
// /metrics answers 200 or, beyond its concurrency bound, 503 at once.
func TestHealthUnderScrapeFlood(t *testing.T) {
	srv, _ := spoofedDaemon(t, 20000)
	tr := &http.Transport{MaxIdleConnsPerHost: 1000, MaxConnsPerHost: 0}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var mu sync.Mutex
	codes := map[string]map[int]int{"/metrics": {}, "/healthz": {}}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 1000; i++ {
		path := "/metrics"
		if i%2 == 1 {
			path = "/healthz"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := client.Get(srv.URL + path)
			code := -1
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			codes[path][code]++
			mu.Unlock()
		}()
	}
	// The heap while the flood is served: bounded, not a copy of every
	// series per request (the issue saw 4.4 GB RSS).
	var peak uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stopSampling:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	close(start)
	wg.Wait()
	close(stopSampling)
	<-sampled
	if peak > 256<<20 {
		t.Errorf("heap peaked at %d MiB serving the flood, want under 256 MiB", peak>>20)
	}
	if h := codes["/healthz"]; h[200] != 500 {
		t.Errorf("/healthz under 1,000 concurrent requests: %v, want 500 x 200", h)
	}
	m := codes["/metrics"]
	if m[200]+m[503] != 500 || m[200] == 0 {
		t.Errorf("/metrics under 1,000 concurrent requests: %v, want only 200 and 503 (over the bound)", m)
	}
	t.Logf("/healthz %v, /metrics %v, heap peak %d MiB", codes["/healthz"], m, peak>>20)
}
