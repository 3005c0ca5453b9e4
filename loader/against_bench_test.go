package loader

import (
	"fmt"
	"os"
	"testing"

	"github.com/vxtap/vxtap/userspace/testutil"
)

// BenchmarkXDPAgainst times this build's XDP program against another
// build's object (VXTAP_AB_BASE: a vxtap_bpfel.o, e.g. `git show
// REV:loader/vxtap_bpfel.o`; `make bench-ab AB_BASE=REV`) in one process:
// both loaded as Load loads them, then short BPF_PROG_TEST_RUN batches of
// one existing flow alternated on one CPU, so both meet the same host
// (separate runs of two test binaries, seconds apart, met a host whose
// steal moved the same program between 14 and 40 ns). Reported: each
// build's minimum and median, and quantiles of the per-alternation ratio
// this / base. The other object must fit this loader (same maps and
// switches): a build of another layout fails to load, saying why.
func BenchmarkXDPAgainst(b *testing.B) {
	path := os.Getenv("VXTAP_AB_BASE")
	if path == "" {
		b.Skip("VXTAP_AB_BASE (the other build's vxtap_bpfel.o) is not set: make bench-ab AB_BASE=REV")
	}
	testutil.RequirePrivileged(b)
	other, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	frame := mirrored(b, 7, innerTCP4(1000, 80, 40)...)
	// One CPU throughout: the flow's slot is owned by the CPU of its
	// first packet, and both builds meet the same CPU's host.
	if err := pinnedTo(0, func() error { againstCases(b, frame, other); return nil }); err != nil {
		b.Fatal(err)
	}
}

// againstCases is BenchmarkXDPAgainst's cases, on the caller's CPU.
func againstCases(b *testing.B, frame, other []byte) {
	for _, c := range []struct {
		name   string
		filter bool
	}{{"existing-flow", false}, {"run-defaults-existing-flow", true}} {
		b.Run(c.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.FilterEnabled = c.filter
			this, base := loadBoth(b, cfg, other)
			progs := [2]*Objects{base, this}
			for _, o := range progs {
				if _, _, err := o.VxtapXdp.Benchmark(frame, 1, nil); err != nil { // the flow
					b.Fatal(err)
				}
			}
			const batch = 10000 // about 1 ms a batch: 100,000 paired too coarsely with the host's swings
			var ns [2][]float64
			var ratio []float64
			for i := 0; i < b.N; i++ {
				for j, o := range progs {
					_, d, err := o.VxtapXdp.Benchmark(frame, batch, nil)
					if err != nil {
						b.Fatal(err)
					}
					ns[j] = append(ns[j], float64(d.Nanoseconds()))
				}
				ratio = append(ratio, ns[1][i]/ns[0][i])
			}
			b.ReportMetric(testutil.Quantile(ns[0], 0), "base-min-ns")
			b.ReportMetric(testutil.Quantile(ns[0], 0.5), "base-median-ns")
			b.ReportMetric(testutil.Quantile(ns[1], 0), "this-min-ns")
			b.ReportMetric(testutil.Quantile(ns[1], 0.5), "this-median-ns")
			b.ReportMetric(testutil.Quantile(ratio, 0.25), "ratio-p25")
			b.ReportMetric(testutil.Quantile(ratio, 0.5), "ratio-median")
			b.ReportMetric(testutil.Quantile(ratio, 0.75), "ratio-p75")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// loadBoth loads cfg's program from this build's object and from other.
func loadBoth(b *testing.B, cfg Config, other []byte) (this, base *Objects) {
	this, err := Load(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { this.Close() })
	own := _VxtapBytes // bpf2go's embedded object, which Load reads
	_VxtapBytes = other
	base, err = Load(cfg)
	_VxtapBytes = own
	if err != nil {
		b.Fatal(fmt.Errorf("the other build's object: %w", err))
	}
	b.Cleanup(func() { base.Close() })
	return this, base
}
