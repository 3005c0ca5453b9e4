package metrics

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MaxConcurrentScrapes bounds /metrics requests served at once.
const MaxConcurrentScrapes = 4

// Handler serves GET /healthz (the NLB target-group health check: 200 or
// 503 with the reason; 200 "degraded: ..." while an output fails but the
// data path still accounts every packet) and GET /metrics (Prometheus text format).
// extra collectors (the filter's rule hits) join the same registry.
func Handler(d Source, col *Collector, version string, extra ...prometheus.Collector) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := d.Health()
		if !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, why)
	})
	reg := col.Registry(version)
	reg.MustRegister(extra...)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// Scrapes beyond this many at once get 503 at once instead of
		// each building its own copy of every series (1,000 concurrent
		// scrapes once took the daemon to 4.4 GB).
		MaxRequestsInFlight: MaxConcurrentScrapes,
		Timeout:             10 * time.Second,
	}))
	return mux
}
