package loader

import (
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/testutil"
	"golang.org/x/sys/unix"
)

// BenchmarkDecap is the in-kernel cost of the decapsulated feed, per
// packet, for a copy of an existing IPv4 TCP flow (as BenchmarkXDP's
// vxlan-ipv4-tcp-existing-flow).
//
//   - off, on-armed: the program alone through BPF_PROG_TEST_RUN, one run
//     at a time (decap moves the frame's start, so a repeated run would
//     meet the inner frame), the kernel's per-run times summed; on-armed
//     strips the headers and arms the redirect, which test runs do not
//     carry out. empty-single is the harness cost of a single run.
//   - live-drop, live-forward: BPF_F_TEST_XDP_LIVE_FRAMES, which resets
//     each frame and carries out the verdict: live-forward redirects every
//     copy through the devmap into a veth whose far end runs an XDP_PASS
//     program and hands the frame to its stack, as `--decap-to create:`
//     does; live-drop is the same copy dropped (decap off).
func BenchmarkDecap(b *testing.B) {
	testutil.RequirePrivileged(b)
	frame := mirrored(b, 42, innerTCP4(3001, 443, 100)...)
	var empty EmptyObjects
	if err := LoadEmptyObjects(&empty, nil); err != nil {
		b.Fatal(err)
	}
	defer empty.Close()
	load := func(decap bool) *Objects {
		cfg := DefaultConfig()
		cfg.Decap = decap
		o, err := Load(cfg)
		if err != nil {
			b.Fatal(err)
		}
		return o
	}
	off, on := load(false), load(true)
	defer off.Close()
	defer on.Close()

	ns := testutil.Netns(b, "vxdc-bench")
	var d *Decap
	if err := testutil.DoInNetns(ns, func() error {
		var err error
		if d, err = on.OpenDecap("dcb-mirror"); err != nil {
			return err
		}
		_, err = d.SetTarget(DecapDefault, "dcb0", true, 1500)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer d.Close()

	single := func(p *ebpf.Program) func(*testing.B) {
		return func(b *testing.B) {
			p.Benchmark(frame, 1, nil) // the first run creates the flow
			var total time.Duration
			for i := 0; i < b.N; i++ {
				_, dur, err := p.Benchmark(frame, 1, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += dur
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/op")
		}
	}
	live := func(o *Objects, want uint64) func(*testing.B) {
		return func(b *testing.B) {
			o.VxtapXdp.Benchmark(frame, 1, nil)
			before := flagCount(b, o, "decap_forwarded")
			err := testutil.DoInNetns(ns, func() error {
				opts := &ebpf.RunOptions{Data: frame, Repeat: uint32(b.N), Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES}
				start := time.Now()
				if _, err := o.VxtapXdp.Run(opts); err != nil {
					return err
				}
				b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N), "ns/op")
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if got := flagCount(b, o, "decap_forwarded") - before; got != want*uint64(b.N) {
				b.Fatalf("decap_forwarded moved by %d, want %d", got, want*uint64(b.N))
			}
			if n := flagCount(b, o, "decap_failed"); n != 0 {
				b.Fatalf("decap_failed %d", n)
			}
		}
	}
	b.Run("empty-single", single(empty.EmptyXdp))
	b.Run("off", single(off.VxtapXdp))
	b.Run("on-armed", single(on.VxtapXdp))
	b.Run("live-drop", live(off, 0))
	b.Run("live-forward", live(on, 1))
}

// flagCount is one flag's packets, CPUs summed.
func flagCount(b testing.TB, o *Objects, name string) uint64 {
	_, flags, err := o.Counters()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range flags {
		if f.Name == name {
			return f.Packets
		}
	}
	b.Fatalf("no flag %s", name)
	return 0
}
