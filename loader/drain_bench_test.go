package loader

import (
	"runtime"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/aggregate"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// eventBatch is the daemon's batch of ring-buffer events (drain.go).
const eventBatch = 4096

// BenchmarkRingDrain is the daemon's ring-buffer reader on one core:
// flow-start records the data path queued in the real ring buffer
// (filled through BPF_PROG_TEST_RUN, untimed) read, decoded, gathered
// in batches of 4,096 as the daemon's drain does, and handed to the
// aggregator's OnEvents, which makes each new flow known. It
// reports records per second of wall time and of the reading thread's
// CPU time (the machine may be shared). The target is 2 M/s.
func BenchmarkRingDrain(b *testing.B) {
	testutil.RequirePrivileged(b)
	const batch = 80_000 // flow starts per fill: what the default 8 MiB ring holds
	o := loadTable(b, 1<<21)
	ev, err := o.OpenEvents()
	if err != nil {
		b.Fatal(err)
	}
	defer ev.Close()
	agg := aggregate.New(aggregate.Config{IdleTimeout: time.Hour, ActiveTimeout: time.Hour, EndGrace: time.Second, TableSize: 1 << 21},
		o, func(flow.Record) {})
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var records int
	var cpu time.Duration
	pending := make([]flow.Event, 0, eventBatch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if (i+1)*batch > 1<<21 {
			b.Fatalf("the flow table holds %d flows: run at most %d iterations", 1<<21, (1<<21)/batch)
		}
		fillFlowsFrom(b, o, i*batch, batch)
		c0 := threadCPU(b)
		b.StartTimer()
		n, err := ev.Read(time.Unix(1, 0), func(e flow.Event) {
			if pending = append(pending, e); len(pending) == eventBatch {
				agg.OnEvents(pending)
				pending = pending[:0]
			}
		}, nil)
		agg.OnEvents(pending)
		pending = pending[:0]
		b.StopTimer()
		cpu += threadCPU(b) - c0
		if err != nil {
			b.Fatal(err)
		}
		if n < batch*9/10 {
			b.Fatalf("drained %d records, want about %d (ring full? malformed %d)", n, batch, ev.Malformed)
		}
		records += n
		b.StartTimer()
	}
	b.StopTimer()
	if agg.Len() != records {
		b.Fatalf("the aggregator knows %d flows after %d flow starts", agg.Len(), records)
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(records)/cpu.Seconds(), "records/cpu-s")
	b.ReportMetric(0, "ns/op")
}
