package loader

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
	"golang.org/x/sys/unix"
)

// TestExactOnSeveralCPUs: the same flows hit on every CPU at once (each
// BPF_PROG_TEST_RUN runs on the CPU of its calling thread) add up exactly
// in the shared slot counters, with one flow-start event per flow.
func TestExactOnSeveralCPUs(t *testing.T) {
	testutil.RequirePrivileged(t)
	ncpu := runtime.NumCPU()
	if ncpu < 2 {
		t.Fatalf("needs at least 2 CPUs, have %d", ncpu)
	}
	o, err := Load(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ev, err := o.OpenEvents()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()

	// Runs per flow per CPU. One run per syscall: with a kernel-side repeat
	// a Go preemption signal interrupts the test run (EINTR) and it is run
	// again, so the number of executions would not be exact.
	const repeat = 5000
	frames := [][]byte{
		mirrored(t, 7, innerTCP4(2001, 443, 100)...),
		mirrored(t, 7, innerUDP4(2002, 53, 20)...),
		mirrored(t, 8, innerTCP4(2001, 443, 100)...), // same 5-tuple, other VNI
	}
	keys := []flow.Key{*k4(7, 6, 2001, 443), *k4(7, 17, 2002, 53), *k4(8, 6, 2001, 443)}
	bytes := []uint64{140, 48, 140}

	var wg sync.WaitGroup
	errs := make(chan error, ncpu)
	for cpu := 0; cpu < ncpu; cpu++ {
		wg.Add(1)
		go func(cpu int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var set unix.CPUSet
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				errs <- err
				return
			}
			for i := 0; i < repeat; i++ { // interleave the flows
				for _, f := range frames {
					if _, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: f}); err != nil {
						errs <- err
						return
					}
				}
			}
		}(cpu)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	got := map[flow.Key]flow.Counters{}
	if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] = c }); err != nil {
		t.Fatal(err)
	}
	want := uint64(ncpu * repeat)
	for i, k := range keys {
		if got[k].Packets != want || got[k].Bytes != want*bytes[i] {
			t.Errorf("flow %s: %d packets %d bytes, want %d and %d", k, got[k].Packets, got[k].Bytes, want, want*bytes[i])
		}
	}
	starts := flowStarts(t, ev)
	for _, k := range keys {
		if starts[k] != 1 {
			t.Errorf("flow %s: %d flow-start events, want 1", k, starts[k])
		}
	}
}

// flowStarts drains the ring buffer and counts the flow starts per key.
func flowStarts(t *testing.T, ev *Events) map[flow.Key]int {
	t.Helper()
	starts := map[flow.Key]int{}
	if _, err := ev.Read(time.Unix(1, 0), func(e flow.Event) {
		if e.Type == flow.FlowStart {
			starts[e.Key]++
		}
	}, nil); err != nil {
		t.Fatal(err)
	}
	return starts
}
