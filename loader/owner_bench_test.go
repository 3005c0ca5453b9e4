package loader

import (
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// BenchmarkSlotAdd: an existing flow's packet on its slot's owner CPU
// (plain adds to the slot) and on another CPU (the slot's flow_shared
// entry, atomics, behind a call), b.N packets in one BPF_PROG_TEST_RUN
// on that CPU.
func BenchmarkSlotAdd(b *testing.B) {
	testutil.RequirePrivileged(b)
	if runtime.NumCPU() < 2 {
		b.Fatalf("needs at least 2 CPUs, have %d", runtime.NumCPU())
	}
	o := loadTable(b, 64)
	f := mirrored(b, 7, innerTCP4(6001, 443, 100)...)
	if err := pinnedTo(0, func() error { _, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: f}); return err }); err != nil {
		b.Fatal(err) // the flow, owned by CPU 0
	}
	for _, c := range []struct {
		name string
		cpu  int
	}{{"owner-cpu", 0}, {"other-cpu", 1}} {
		b.Run(c.name, func(b *testing.B) {
			var d time.Duration
			err := pinnedTo(c.cpu, func() (err error) {
				_, d, err = o.VxtapXdp.Benchmark(f, b.N, nil)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(d.Nanoseconds()), "ns/op")
		})
	}
}
