package loader

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/aggregate"
	"github.com/vxtap/vxtap/userspace/daemon"
	"github.com/vxtap/vxtap/userspace/memtune"
	"github.com/vxtap/vxtap/userspace/pipeline"
	"github.com/vxtap/vxtap/userspace/rates"
	"github.com/vxtap/vxtap/userspace/testutil"
	"github.com/vxtap/vxtap/userspace/topview"
)

// memSweeps is how many sweeps the memory benchmark runs: enough for
// every buffer of the steady state to exist.
const memSweeps = 5

// procStatus reads a "VmRSS:"-style line of /proc/self/status in bytes.
func procStatus(tb testing.TB, field string) float64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(name) != field {
			continue
		}
		kb, err := strconv.ParseFloat(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 64)
		if err != nil {
			tb.Fatalf("%s: %v", field, err)
		}
		return kb * 1024
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// BenchmarkDaemonMemory1M is what the daemon costs in memory with
// 1,000,000 live flows: a real flow table filled through the data path,
// and the daemon's own loop (ring buffer drain, the aggregator's sweeps
// and the rate tracker the local API reads) run for memSweeps sweeps. It
// reports the process's resident set (VmRSS, with the whole mmapped slot
// array, which the kernel maps in at once, and the ring buffer; VmHWM is
// the peak, the fill included), and the Go heap the daemon holds per
// flow. The budget is 384 MiB of RSS. Run it once per process
// (-benchtime 1x): a second run would start on the first one's heap.
func BenchmarkDaemonMemory1M(b *testing.B) {
	testutil.RequirePrivileged(b)
	if b.N > 1 {
		b.Skip("measures one process once: run with -benchtime 1x")
	}
	const n = 1_000_000
	// Sized as an operator would for a million flows: below the 90% at
	// which pressure relief starts evicting.
	memtune.Apply() // as `vxtap run` does
	o := loadTable(b, 1_250_000)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	rssBefore := procStatus(b, "VmRSS")
	fillFlows(b, o, n)
	events, err := o.OpenEvents()
	if err != nil {
		b.Fatal(err)
	}
	defer events.Close()

	cfg := daemon.DefaultConfig()
	cfg.SweepInterval, cfg.DrainEvery = time.Millisecond, time.Millisecond
	cfg.Aggregate.TableSize = int(o.FlowTableSize())
	// The flows get no packets after the fill: live, not idle, however
	// long a loaded machine takes.
	cfg.Aggregate.IdleTimeout, cfg.Aggregate.ActiveTimeout = time.Hour, time.Hour
	tr := rates.New(rates.Config{Capacity: int(o.FlowTableSize())}) // as `vxtap run` sizes it (newRates)
	d, err := daemon.New(cfg, daemon.Sources{Flows: o, Events: events, Counters: o, Ledger: o.Ledger()},
		pipeline.Outputs{Observers: []pipeline.SweepObserver{tr}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sweeps, want := 0, memSweeps
	var last aggregate.Stats
	d.OnSweep = func(st aggregate.Stats) {
		if sweeps++; sweeps == want {
			last = st
			cancel()
		}
	}
	b.ResetTimer()
	if err := d.Run(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if last.Flows != n || last.Removed != 0 {
		b.Fatalf("last sweep %+v: want %d flows, none removed", last, n)
	}
	if path := os.Getenv("VXTAP_HEAP_PROFILE"); path != "" {
		// Where the bytes go: go tool pprof -sample_index=inuse_space PATH.
		writeHeapProfile(b, path)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	rss := procStatus(b, "VmRSS")
	b.ReportMetric(rss/(1<<20), "MiB-RSS")
	b.ReportMetric(rssBefore/(1<<20), "MiB-RSS-empty")
	b.ReportMetric((rss-rssBefore)/n, "RSS-B/flow")
	b.ReportMetric(procStatus(b, "VmHWM")/(1<<20), "MiB-HWM")
	b.ReportMetric(float64(after.HeapInuse)/(1<<20), "MiB-heap-inuse")
	b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/n, "heap-B/flow")
	b.ReportMetric(float64(last.Duration.Milliseconds()), "ms/last-sweep")
	// A `vxtap top` view of the million flows, as /v1/top builds it:
	// what the reader's copy adds, while it lasts and after.
	var res topview.Result
	tr.View(func(s *rates.Snapshot) {
		res = topview.Build(s, topview.DefaultQuery())
		b.ReportMetric(procStatus(b, "VmRSS")/(1<<20), "MiB-RSS-in-view")
	})
	if len(res.Rows) != 20 || res.Header.Flows != n {
		b.Fatalf("view: %d rows of %d flows", len(res.Rows), res.Header.Flows)
	}
	runtime.GC()
	b.ReportMetric(procStatus(b, "VmRSS")/(1<<20), "MiB-RSS-after-view")
	runtime.KeepAlive(d) // measured above with the daemon's state live
	runtime.KeepAlive(tr)
}

// writeHeapProfile writes the live heap as it is now, not at exit.
func writeHeapProfile(tb testing.TB, path string) {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		tb.Fatal(err)
	}
}
