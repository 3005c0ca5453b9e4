package loader

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
	"golang.org/x/sys/unix"
)

// pinnedTo runs fn on this goroutine's thread pinned to cpu (a
// BPF_PROG_TEST_RUN runs on its caller's CPU, so the packets fn sends meet
// that CPU's per-CPU state), then gives the thread its CPUs back.
func pinnedTo(cpu int, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return err
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return err
	}
	defer unix.SchedSetaffinity(0, &old)
	return fn()
}

// onEachCPU runs fn(cpu) on every CPU below ncpu at once, each pinned
// there (pinnedTo), and returns when all have, with their errors.
func onEachCPU(ncpu int, fn func(cpu int) error) error {
	errs := make([]error, ncpu)
	var wg sync.WaitGroup
	for cpu := range ncpu {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[cpu] = pinnedTo(cpu, func() error { return fn(cpu) })
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

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

	sendEachCPU(t, o, ncpu, repeat, frames) // the flows interleaved
	got := walkCounters(t, o)
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

// sendEachCPU runs frames, one after another, rounds times over, on each
// of ncpu CPUs at once.
func sendEachCPU(t testing.TB, o *Objects, ncpu, rounds int, frames [][]byte) {
	t.Helper()
	err := onEachCPU(ncpu, func(int) error {
		for range rounds {
			for _, f := range frames {
				if _, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: f}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// walkCounters is every flow of the table with its counters.
func walkCounters(t testing.TB, o *Objects) map[flow.Key]flow.Counters {
	t.Helper()
	got := map[flow.Key]flow.Counters{}
	if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] = c }); err != nil {
		t.Fatal(err)
	}
	return got
}
