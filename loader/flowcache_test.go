package loader

import (
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
	"golang.org/x/sys/unix"
)

// onCPU runs fn on one CPU (pinnedTo; a goroutine of its own, so fn must
// not call t.Fatal).
func onCPU(t *testing.T, cpu int, fn func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- pinnedTo(cpu, func() error { fn(); return nil }) }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFlowCacheFollowsRemove: every CPU's flow cache holds a flow when Go
// removes it. Its later packets open the flow again (never adding to the
// freed slot); removed again with another flow, the freed slots are
// reused crosswise, and no cache adds a packet to the other flow's slot.
// Every count is exact: the cache is only a hint, checked against the
// slot's state and key.
func TestFlowCacheFollowsRemove(t *testing.T) {
	testutil.RequirePrivileged(t)
	ncpu := runtime.NumCPU()
	o := loadTable(t, 64)
	a := mirrored(t, 7, innerUDP4(4001, 53, 20)...)
	b := mirrored(t, 7, innerUDP4(4002, 53, 20)...)
	ka, kb := *k4(7, 17, 4001, 53), *k4(7, 17, 4002, 53)
	run := func(f []byte, n int) {
		for range n {
			if _, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: f}); err != nil {
				t.Error(err)
				return
			}
		}
	}
	counts := func() map[flow.Key]flow.Counters {
		got := map[flow.Key]flow.Counters{}
		if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] = c }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	for cpu := 0; cpu < ncpu; cpu++ {
		onCPU(t, cpu, func() { run(a, 3) }) // fills this CPU's cache entry for a
	}
	removed, err := o.Remove([]flow.Key{ka})
	if err != nil {
		t.Fatal(err)
	}
	if c := removed[ka]; c.Packets != uint64(3*ncpu) {
		t.Fatalf("removed flow: %d packets, want %d", c.Packets, 3*ncpu)
	}
	// a's slot is FREE now, still holding a's key: no cache may add to it.
	for cpu := 0; cpu < ncpu; cpu++ {
		onCPU(t, cpu, func() { run(a, 2) })
	}
	run(b, 1)
	got := counts()
	if c := got[ka]; c.Packets != uint64(2*ncpu) {
		t.Errorf("flow a after removal: %d packets, want %d", c.Packets, 2*ncpu)
	}
	if c := got[kb]; c.Packets != 1 {
		t.Errorf("flow b in the reused slot: %d packets, want 1", c.Packets)
	}
	// Removed again and re-created: the caches follow once more.
	if _, err := o.Remove([]flow.Key{ka, kb}); err != nil {
		t.Fatal(err)
	}
	for cpu := 0; cpu < ncpu; cpu++ {
		onCPU(t, cpu, func() { run(b, 1); run(a, 1) })
	}
	got = counts()
	if got[ka].Packets != uint64(ncpu) || got[kb].Packets != uint64(ncpu) || len(got) != 2 {
		t.Errorf("after a second removal: %+v, want %d packets each for a and b", got, ncpu)
	}
}

// TestClockIsCoarseMonotonic: the per-CPU clock cache gives what
// bpf_ktime_get_coarse_ns would: each packet's time lies between
// CLOCK_MONOTONIC_COARSE read just before and just after it, on every
// CPU, across many ticks.
func TestClockIsCoarseMonotonic(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadTable(t, 64)
	f := mirrored(t, 7, innerUDP4(4101, 53, 20)...)
	k := keyToBPF(*k4(7, 17, 4101, 53))
	coarse := func() uint64 {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts); err != nil {
			t.Fatal(err)
		}
		return uint64(ts.Nano())
	}
	for cpu := 0; cpu < runtime.NumCPU(); cpu++ {
		onCPU(t, cpu, func() {
			for i := 0; i < 300; i++ { // 300 packets 1 ms apart: about 75 ticks at HZ=250
				before := coarse()
				if _, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: f}); err != nil {
					t.Error(err)
					return
				}
				after := coarse()
				idx, ok := o.index.Lookup(&k)
				if !ok {
					t.Errorf("cpu %d packet %d: flow not in the index", cpu, i)
					return
				}
				if last := o.table.slots[idx].LastNs; last < before || last > after {
					t.Errorf("cpu %d packet %d: time %d outside the coarse clock's %d..%d", cpu, i, last, before, after)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}
