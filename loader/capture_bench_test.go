package loader

import (
	"testing"

	"github.com/vxtap/vxtap/userspace/livecap"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// BenchmarkCapture: nanoseconds per accounted copy (an existing flow)
// through BPF_PROG_TEST_RUN, with no capture running (the cost every copy
// pays: one lookup and one test), with one typical capture the copy does
// not match, and with all 8 slots running 8-term
// filters the copy fails only at the last term (the most a copy matching
// no capture can cost).
func BenchmarkCapture(b *testing.B) {
	testutil.RequirePrivileged(b)
	frame := mirrored(b, 42, innerTCP4(3001, 443, 100)...)
	o, err := Load(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	run := func(b *testing.B) {
		o.VxtapXdp.Benchmark(frame, 1, nil) // the first run creates the flow
		_, d, err := o.VxtapXdp.Benchmark(frame, b.N, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(d.Nanoseconds()), "ns/op")
	}
	b.Run("no-capture", run)
	one, err := livecap.ParseFilter("vni 42 port 53", nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := o.SetCapture(0, livecap.Spec{Terms: one.Terms(), SnapLen: 128, Gen: 1}); err != nil {
		b.Fatal(err)
	}
	b.Run("1-slot-2-terms-no-match", run)
	// Seven terms the copy matches, then one it does not.
	f, err := livecap.ParseFilter("vni 42 tcp dport 443 sport 3001 198.19.1.0/24 src 198.19.1.1 dst 198.19.1.2 mirror 198.18.99.0/24", nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < livecap.MaxSlots; i++ {
		if err := o.SetCapture(i, livecap.Spec{Terms: f.Terms(), SnapLen: 128, Gen: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("8-slots-8-terms-no-match", run)
}
