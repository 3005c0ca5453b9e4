package loader

import (
	"runtime"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/aggregate"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/rates"
	"github.com/vxtap/vxtap/userspace/testutil"
	"github.com/vxtap/vxtap/userspace/topview"
	"golang.org/x/sys/unix"
)

// fillFlows sends mirror copies of different inner IPv4 UDP flows through
// the data path (BPF_PROG_TEST_RUN) until the table holds n flows, so the
// table is filled as packets fill it. Inner source address and port vary.
// A nearly full table sends a few new flows to the overflow (about 1 in
// 100,000 past 90% full: their home and next index buckets full): more
// flows of the series make up for them.
func fillFlows(tb testing.TB, o *Objects, n int) {
	tb.Helper()
	sent := 0
	for made := 0; made < n; {
		fillFlowsFrom(tb, o, sent, n-made)
		sent += n - made
		made = sent - indexFull(tb, o)
		if sent > 2*n {
			tb.Fatalf("%d flows made of %d sent", made, sent)
		}
	}
}

// indexFull is how many new flows found their two index buckets full
// (sent to the overflow instead of a slot).
func indexFull(tb testing.TB, o *Objects) int {
	tb.Helper()
	_, flags, err := o.Counters()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range flags {
		if f.Name == "index_full" {
			return int(f.Packets)
		}
	}
	return 0
}

// fillFlowsFrom is fillFlows for flows from..from+n-1 of the same series.
func fillFlowsFrom(tb testing.TB, o *Objects, from, n int) {
	tb.Helper()
	frame := mirrored(tb, 7, innerUDP4(1, 53, 20)...)
	const srcOff, sportOff = 14 + 20 + 8 + 8 + 14 + 12, 14 + 20 + 8 + 8 + 14 + 20
	now := time.Now()
	for i := from; i < from+n; i++ {
		frame[srcOff+2], frame[srcOff+3] = byte(i>>24), byte(i>>16)
		frame[sportOff], frame[sportOff+1] = byte(i>>8), byte(i)
		if _, err := o.RunPacket(frame, now); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkWalk1M times the daemon's walk of a real flow table holding
// 1,000,000 flows: the scan of the mmapped slots and key conversion.
func BenchmarkWalk1M(b *testing.B) {
	testutil.RequirePrivileged(b)
	const n = 1_000_000
	o := loadTable(b, 1<<20)
	fillFlows(b, o, n)
	walk := func() int {
		seen := 0
		err := o.Walk(func(flow.Key, flow.Counters) { seen++ })
		if err != nil {
			b.Fatal(err)
		}
		return seen
	}
	if got := walk(); got != n {
		b.Fatalf("walk saw %d flows, want %d", got, n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		walk()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/walk")
}

// observed feeds the rate tracker from the aggregator's walk, as the
// daemon does.
type observed struct {
	*Objects
	tr *rates.Tracker
}

func (o observed) Walk(fn func(flow.Key, flow.Counters)) error {
	now := time.Now()
	return o.Objects.Walk(func(k flow.Key, c flow.Counters) {
		o.tr.Observe(now, k, c)
		fn(k, c)
	})
}

// BenchmarkDaemonSweep1M is the daemon's whole sweep of 1,000,000 live
// flows in a real flow map: the walk, the aggregator's sweep and the rate
// tracker fed from the same walk. The budget is 250 ms.
func BenchmarkDaemonSweep1M(b *testing.B) { benchDaemonSweep(b, false) }

// BenchmarkDaemonSweep1MWithReader is the same sweep while a client asks
// GET /v1/top?n=0 over and over: views are built beside the sweeps, which
// wait at most for a view to register (ms-max-sweep-held) and skip the
// rate tracker's part while a view reads.
func BenchmarkDaemonSweep1MWithReader(b *testing.B) { benchDaemonSweep(b, true) }

func benchDaemonSweep(b *testing.B, reader bool) {
	testutil.RequirePrivileged(b)
	const n = 1_000_000
	o := loadTable(b, 1<<20)
	fillFlows(b, o, n)
	tr := rates.New(rates.Config{Capacity: n})
	agg := aggregate.New(aggregate.Config{IdleTimeout: time.Hour, ActiveTimeout: time.Hour, EndGrace: time.Second},
		observed{o, tr}, func(flow.Record) {})
	sweep := func() aggregate.Stats {
		now := time.Now()
		st, err := agg.Sweep(now)
		if err != nil {
			b.Fatal(err)
		}
		tr.EndSweep(now)
		return st
	}
	if st := sweep(); st.Flows != n {
		b.Fatalf("sweep saw %d flows, want %d", st.Flows, n)
	}
	var hold time.Duration
	views := 0
	stopReader := func() {}
	if reader {
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				tr.View(func(s *rates.Snapshot) { topview.Build(s, topview.Query{N: 0}) })
				hold = max(hold, tr.LastViewHold())
				views++
			}
		}()
		stopReader = func() { close(stop); <-done }
	}
	// The sweep's own CPU time, apart from the wall time a shared
	// machine stretches: the sweep runs on this (locked) thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	c0 := threadCPU(b)
	for i := 0; i < b.N; i++ {
		sweep()
	}
	b.StopTimer()
	stopReader()
	b.ReportMetric(float64((threadCPU(b)-c0).Milliseconds())/float64(b.N), "cpu-ms/sweep")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/sweep")
	if reader {
		b.ReportMetric(float64(views)/float64(b.N), "views/sweep")
		b.ReportMetric(float64(hold.Microseconds())/1000, "ms-max-sweep-held")
	}
}

// BenchmarkRecover1M is what a restarted daemon pays once before its first
// sweep over a re-opened table of 1,000,000 flows: reading flow_index to
// find slots a killed predecessor left out of it (none here).
func BenchmarkRecover1M(b *testing.B) {
	testutil.RequirePrivileged(b)
	const n = 1_000_000
	o := loadTable(b, 1<<20)
	fillFlows(b, o, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if rec, err := o.RecoverSlots(); err != nil || rec != (Recovered{}) {
			b.Fatalf("recover: %+v, %v", rec, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/recover")
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU(tb testing.TB) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
