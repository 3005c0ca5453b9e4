package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// The owner CPU of a slot adds its flow's packets and bytes with plain
// adds, every other CPU to the slot's flow_shared entry (account.h
// slot_add). These tests check that the two add up exactly, that Go never
// writes the owner's counters, and that no flow inherits the shared
// counts of an earlier flow in its slot.

// needCPUs fails a test that needs packets from two CPUs.
func needCPUs(t *testing.T) int {
	t.Helper()
	ncpu := runtime.NumCPU()
	if ncpu < 2 {
		t.Fatalf("needs at least 2 CPUs, have %d", ncpu)
	}
	return ncpu
}

// runOn runs n copies of frame on cpu, one per BPF_PROG_TEST_RUN (a
// kernel-side repeat may run some twice, see TestExactOnSeveralCPUs).
func runOn(t *testing.T, o *Objects, cpu int, frame []byte, n int) {
	t.Helper()
	err := pinnedTo(cpu, func() error {
		for range n {
			if _, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: frame}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// slotOfKey is the slot flow_index names for k.
func slotOfKey(t *testing.T, o *Objects, k flow.Key) uint32 {
	t.Helper()
	bk := keyToBPF(k)
	idx, ok := o.index.Lookup(&bk)
	if !ok {
		t.Fatalf("flow %s not in the index", k)
	}
	return idx
}

// sharedOf is slot idx's flow_shared entry (a test table is small: its
// pages map).
func sharedOf(o *Objects, idx uint32) *VxtapFlowSharedCounts {
	sh, err := o.table.shared(idx)
	if err != nil {
		panic(err)
	}
	return sh
}

// split is a slot's own packets (the owner's) and its shared ones.
func split(o *Objects, idx uint32) (own, shared uint64) {
	return atomic.LoadUint64(&o.table.slots[idx].Packets), atomic.LoadUint64(&sharedOf(o, idx).Packets)
}

// TestSlotOwnerAndShared: a flow made on CPU 0 and one made on CPU 1, then
// sent from every CPU at once, interleaved: each slot names the CPU that
// made it, holds exactly that CPU's packets, the other CPUs' are in its
// shared entry (marked), and the walk shows the exact sum.
func TestSlotOwnerAndShared(t *testing.T) {
	testutil.RequirePrivileged(t)
	ncpu := needCPUs(t)
	o := loadTable(t, 64)
	const n = 3000
	frames := [][]byte{mirrored(t, 7, innerUDP4(5001, 53, 20)...), mirrored(t, 7, innerUDP4(5002, 53, 20)...)}
	keys := []flow.Key{*k4(7, 17, 5001, 53), *k4(7, 17, 5002, 53)}
	for cpu, f := range frames {
		runOn(t, o, cpu, f, 1)
		idx := slotOfKey(t, o, keys[cpu])
		if s := &o.table.slots[idx]; s.Owner != uint8(cpu+1) || s.Marks&sharedMark != 0 {
			t.Fatalf("flow made on CPU %d: owner %d, marks %#x; want %d and no shared mark", cpu, s.Owner, s.Marks, cpu+1)
		}
	}
	sendEachCPU(t, o, ncpu, n, frames)
	got := walkCounters(t, o)
	want := uint64(1 + ncpu*n)
	for cpu, k := range keys {
		if c := got[k]; c.Packets != want || c.Bytes != want*48 {
			t.Errorf("flow %s: %d packets %d bytes, want %d and %d", k, c.Packets, c.Bytes, want, want*48)
		}
		idx := slotOfKey(t, o, k)
		own, shared := split(o, idx)
		if own != 1+n || shared != uint64((ncpu-1)*n) || o.table.slots[idx].Marks&sharedMark == 0 {
			t.Errorf("flow %s (owner CPU %d): %d packets in the slot, %d shared, marks %#x; want %d, %d and the mark",
				k, cpu, own, shared, o.table.slots[idx].Marks, 1+n, (ncpu-1)*n)
		}
	}
}

// TestMergeIntoOwnedSlot: a restart merges an orphan of a flow into the
// flow's live slot, which its owner CPU adds to with plain adds. The merge
// goes to the shared entry, never the slot's own counters, and the flow's
// total stays exact as both paths go on counting.
func TestMergeIntoOwnedSlot(t *testing.T) {
	testutil.RequirePrivileged(t)
	needCPUs(t)
	o := loadTable(t, 64)
	f := mirrored(t, 7, innerUDP4(5101, 53, 20)...)
	k := *k4(7, 17, 5101, 53)
	runOn(t, o, 0, f, 3)
	orphan := slotOfKey(t, o, k)
	bk := keyToBPF(k)
	if _, ok := o.index.Delete(&bk); !ok {
		t.Fatal("flow not in the index")
	}
	o.dying(orphan) // as a daemon killed inside Remove leaves it
	runOn(t, o, 0, f, 2)
	live := slotOfKey(t, o, k)
	if live == orphan || o.table.slots[live].Owner != 1 {
		t.Fatalf("new slot %d (orphan %d), owner %d: want another slot, owned by CPU 0", live, orphan, o.table.slots[live].Owner)
	}
	rec, err := o.RecoverSlots()
	if err != nil || rec.Merged != 1 {
		t.Fatalf("recover: %+v, %v; want one merge", rec, err)
	}
	if own, shared := split(o, live); own != 2 || shared != 3 {
		t.Errorf("after the merge: %d packets in the slot, %d shared; want the owner's 2 and the orphan's 3", own, shared)
	}
	if *sharedOf(o, orphan) != (VxtapFlowSharedCounts{}) {
		t.Errorf("freed orphan's shared entry %+v, want zero", *sharedOf(o, orphan))
	}
	runOn(t, o, 0, f, 4)
	runOn(t, o, 1, f, 1)
	if own, shared := split(o, live); own != 6 || shared != 4 {
		t.Errorf("after 4 more from the owner and 1 from CPU 1: %d in the slot, %d shared; want 6 and 4", own, shared)
	}
	if c := o.slotCounters(live, 0); c.Packets != 10 || c.Bytes != 480 {
		t.Errorf("flow: %d packets %d bytes, want 10 and 480", c.Packets, c.Bytes)
	}
}

// TestMergeBesideOwnerExact: Go merges into a slot while its owner CPU adds
// to it at full speed: no add of either is lost (an atomic add into the
// slot's own counters, beside the owner's plain load-add-store, would be
// lost whenever it fell between the load and the store).
func TestMergeBesideOwnerExact(t *testing.T) {
	testutil.RequirePrivileged(t)
	needCPUs(t)
	o := loadTable(t, 64)
	fa, fb := mirrored(t, 7, innerUDP4(5201, 53, 20)...), mirrored(t, 7, innerUDP4(5202, 53, 20)...)
	runOn(t, o, 0, fa, 1)
	runOn(t, o, 1, fb, 1)
	a, b := slotOfKey(t, o, *k4(7, 17, 5201, 53)), slotOfKey(t, o, *k4(7, 17, 5202, 53))
	// The owner sends n copies while Go merges without a pause.
	const n = 20000
	var stop atomic.Bool
	errc := make(chan error, 1)
	go func() {
		defer stop.Store(true)
		errc <- pinnedTo(0, func() error {
			for range n {
				if _, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: fa}); err != nil {
					return err
				}
			}
			return nil
		})
	}()
	var merges uint64
	err := pinnedTo(1, func() error {
		for !stop.Load() {
			o.table.mergeSlot(a, b) // b: 1 packet, 48 bytes
			merges++
		}
		return nil
	})
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	want := 1 + n + merges
	t.Logf("%d merges beside %d copies", merges, n)
	if c := o.slotCounters(a, 0); c.Packets != want || c.Bytes != want*48 {
		t.Errorf("%d packets %d bytes, want %d and %d (%d sent by the owner, %d merged)", c.Packets, c.Bytes, want, want*48, n, merges)
	}
	if own, shared := split(o, a); own != 1+n || shared != merges {
		t.Errorf("%d packets in the slot, %d shared; want the owner's %d and the merged %d", own, shared, 1+n, merges)
	}
}

// TestSharedZeroedOnReuse: a flow with shared counts leaves its slot by
// each way Go frees one (Remove; Detach then Release; Detach, Settle and
// a restart's RecoverSlots; an orphan merged by RecoverSlots). The slot's
// shared entry is zero once it is free, and the next flow in the slot
// counts from zero in the slot and in its shared entry.
func TestSharedZeroedOnReuse(t *testing.T) {
	testutil.RequirePrivileged(t)
	needCPUs(t)
	frees := map[string]func(o *Objects, k flow.Key, idx uint32) error{
		"remove": func(o *Objects, k flow.Key, _ uint32) error {
			_, err := o.Remove([]flow.Key{k})
			return err
		},
		"release": func(o *Objects, k flow.Key, _ uint32) error {
			if _, err := o.Detach([]flow.Key{k}); err != nil {
				return err
			}
			return o.Release([]flow.Key{k})
		},
		"recorded": func(o *Objects, k flow.Key, _ uint32) error {
			if _, err := o.Detach([]flow.Key{k}); err != nil {
				return err
			}
			if err := o.Settle([]flow.Key{k}); err != nil {
				return err
			}
			o.held = heldSlots{} // the daemon dies: a restart finds the RECORDED slot
			rec, err := o.RecoverSlots()
			if err == nil && rec.Freed != 1 {
				err = fmt.Errorf("recover: %+v, want one RECORDED slot freed", rec)
			}
			return err
		},
		"merged": func(o *Objects, k flow.Key, idx uint32) error {
			bk := keyToBPF(k)
			if _, ok := o.index.Delete(&bk); !ok {
				return fmt.Errorf("flow %s not in the index", k)
			}
			o.dying(idx)
			// The flow comes back in another slot, which the orphan
			// merges into.
			if _, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: mirrored(t, 7, innerUDP4(k.SPort, 53, 20)...)}); err != nil {
				return err
			}
			rec, err := o.RecoverSlots()
			if err == nil && rec.Merged != 1 {
				err = fmt.Errorf("recover: %+v, want one merge", rec)
			}
			return err
		},
	}
	for name, free := range frees {
		t.Run(name, func(t *testing.T) {
			o := loadTable(t, 64)
			fa, fb := mirrored(t, 7, innerUDP4(5301, 53, 20)...), mirrored(t, 7, innerUDP4(5302, 53, 20)...)
			ka, kb := *k4(7, 17, 5301, 53), *k4(7, 17, 5302, 53)
			runOn(t, o, 0, fa, 2)
			runOn(t, o, 1, fa, 5)
			a := slotOfKey(t, o, ka)
			if own, shared := split(o, a); own != 2 || shared != 5 {
				t.Fatalf("flow a: %d in the slot, %d shared; want 2 and 5", own, shared)
			}
			if err := free(o, ka, a); err != nil {
				t.Fatal(err)
			}
			if st := o.table.slots[a].State; st != uint32(VxtapFlowSlotStateFLOW_SLOT_FREE) || *sharedOf(o, a) != (VxtapFlowSharedCounts{}) {
				t.Fatalf("freed slot: state %d, shared %+v; want FREE and zero", st, *sharedOf(o, a))
			}
			// The next new flow gets the freed slot: made on CPU 1, one
			// copy from CPU 0 (shared).
			runOn(t, o, 1, fb, 1)
			if b := slotOfKey(t, o, kb); b != a {
				t.Fatalf("flow b in slot %d, want the freed %d", b, a)
			}
			runOn(t, o, 0, fb, 1)
			if own, shared := split(o, a); own != 1 || shared != 1 {
				t.Errorf("flow b: %d in the slot, %d shared; want 1 and 1", own, shared)
			}
			if c := o.slotCounters(a, 0); c.Packets != 2 || c.Bytes != 96 {
				t.Errorf("flow b: %d packets %d bytes, want 2 and 96", c.Packets, c.Bytes)
			}
		})
	}
}

// TestStaleSharedZeroedAtClaim: a free slot whose shared entry still
// holds counts, marked (a Go older than flow_shared freed it under a newer
// program, and a restart found it so), is zeroed by the program when a
// new flow claims it: the flow never inherits them.
func TestStaleSharedZeroedAtClaim(t *testing.T) {
	testutil.RequirePrivileged(t)
	needCPUs(t)
	o := loadTable(t, 64)
	fa, fb := mirrored(t, 7, innerUDP4(5401, 53, 20)...), mirrored(t, 7, innerUDP4(5402, 53, 20)...)
	runOn(t, o, 0, fa, 1)
	a := slotOfKey(t, o, *k4(7, 17, 5401, 53))
	if _, err := o.Remove([]flow.Key{*k4(7, 17, 5401, 53)}); err != nil {
		t.Fatal(err)
	}
	// What the older Go left: counts and the mark, on a slot in flow_free.
	*sharedOf(o, a) = VxtapFlowSharedCounts{Packets: 1000, Bytes: 48000}
	atomic.OrUint32(&o.table.slots[a].Marks, sharedMark)
	if rec, err := o.RecoverSlots(); err != nil || rec != (Recovered{}) {
		t.Fatalf("recover: %+v, %v; want nothing to do", rec, err)
	}
	runOn(t, o, 1, fb, 1)
	if b := slotOfKey(t, o, *k4(7, 17, 5402, 53)); b != a {
		t.Fatalf("flow b in slot %d, want the freed %d", b, a)
	}
	runOn(t, o, 0, fb, 1)
	if c := o.slotCounters(a, 0); c.Packets != 2 || c.Bytes != 96 {
		t.Errorf("flow b: %d packets %d bytes, want 2 and 96", c.Packets, c.Bytes)
	}
}

// TestLoadOverOlderPins: pins an older version made (no flow_shared, every
// slot's owner byte 0) under a new program: the load creates flow_shared,
// the old flows keep their counts, and their packets from every CPU go to
// the shared entries, exactly.
func TestLoadOverOlderPins(t *testing.T) {
	testutil.RequirePrivileged(t)
	ncpu := needCPUs(t)
	dir := filepath.Join("/sys/fs/bpf", fmt.Sprintf("vxtap-owner-%d", os.Getpid()))
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := DefaultConfig()
	cfg.PinPath = dir
	cfg.FlowTableSize = 64
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := mirrored(t, 7, innerUDP4(5501, 53, 20)...)
	k := *k4(7, 17, 5501, 53)
	runOn(t, o, 0, f, 2)
	idx := slotOfKey(t, o, k)
	for i := range o.table.slots {
		o.table.slots[i].Owner = 0 // pad0 of the older layout, never written
	}
	o.Close()
	if err := os.Remove(filepath.Join(dir, VxtapMapFlowShared)); err != nil {
		t.Fatal(err)
	}
	if o, err = Load(cfg); err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := os.Stat(filepath.Join(dir, VxtapMapFlowShared)); err != nil {
		t.Fatalf("flow_shared not pinned by the load: %v", err)
	}
	const n = 1000
	if err := onEachCPU(ncpu, func(cpu int) error {
		for range n {
			if _, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: f}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := uint64(2 + ncpu*n)
	if c := o.slotCounters(idx, 0); c.Packets != want || c.Bytes != want*48 {
		t.Errorf("flow %s: %d packets %d bytes, want %d and %d", k, c.Packets, c.Bytes, want, want*48)
	}
	if own, shared := split(o, idx); own != 2 || shared != uint64(ncpu*n) {
		t.Errorf("slot without an owner: %d in the slot, %d shared; want 2 and %d", own, shared, ncpu*n)
	}
}

// TestOpenPinnedSharedMissing: a daemon re-opening pins whose flow_shared
// pin is missing: with the running program's own map (its pin removed),
// that map is pinned again, so Go reads what the program adds; with a
// program older than the map (here one without maps), a new one sized as
// flow_slots is.
func TestOpenPinnedSharedMissing(t *testing.T) {
	testutil.RequirePrivileged(t)
	ncpu := needCPUs(t)
	ns := testutil.Netns(t, "vxown")
	testutil.Sh(t, "ip -n %s link add d0 type veth peer name d1 && ip -n %s link set d0 up && ip -n %s link set d1 up", ns, ns, ns)
	defer testutil.EnterNetns(t, ns)()
	dir := PinDir("d0")
	defer Detach("d0")
	cfg := DefaultConfig()
	cfg.PinPath = dir
	cfg.FlowTableSize = 64
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	att, err := o.Attach("d0", ModeGeneric)
	if err != nil {
		o.Close()
		t.Fatal(err)
	}
	att.Link.Close()
	sharedID := mapID(t, o.FlowShared)
	o.Close()
	if err := os.Remove(filepath.Join(dir, VxtapMapFlowShared)); err != nil {
		t.Fatal(err)
	}
	o, att, err = OpenPinned("d0")
	if err != nil {
		t.Fatal(err)
	}
	defer att.Link.Close()
	defer o.Close()
	if id := mapID(t, o.FlowShared); id != sharedID {
		t.Fatalf("flow_shared re-opened as map %d, the program's is %d", id, sharedID)
	}
	// The test goroutine's thread is in the namespace; test runs are not
	// tied to it, so runOn's threads need not be.
	f := mirrored(t, 7, innerUDP4(5601, 53, 20)...)
	runOn(t, o, 0, f, 1)
	runOn(t, o, ncpu-1, f, 3)
	if c := o.slotCounters(slotOfKey(t, o, *k4(7, 17, 5601, 53)), 0); c.Packets != 4 {
		t.Errorf("%d packets, want 4", c.Packets)
	}

	// A program older than flow_shared: a new map, sized as flow_slots.
	var empty EmptyObjects
	if err := LoadEmptyObjects(&empty, nil); err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	spec, err := LoadVxtap()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, VxtapMapFlowShared)); err != nil {
		t.Fatal(err)
	}
	if err := pinShared(dir, spec, empty.EmptyXdp); err != nil {
		t.Fatal(err)
	}
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, VxtapMapFlowShared), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.MaxEntries() != 64 || mapID(t, m) == sharedID {
		t.Errorf("new flow_shared: %d entries, id %d (the program's %d); want 64 and a new map", m.MaxEntries(), mapID(t, m), sharedID)
	}
	if err := pinShared(dir, spec, empty.EmptyXdp); err != nil { // pinned now: nothing to do
		t.Fatal(err)
	}
}

// mapID is m's kernel id.
func mapID(t *testing.T, m *ebpf.Map) ebpf.MapID {
	t.Helper()
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, ok := info.ID()
	if !ok {
		t.Fatal("no map id")
	}
	return id
}

// TestSharedPagesMappedOnUse: flow_shared is mapped a page at a time,
// only where a marked slot is read: flows that stay on one CPU map none
// (a whole mapping would count every page in the daemon's RSS).
func TestSharedPagesMappedOnUse(t *testing.T) {
	testutil.RequirePrivileged(t)
	needCPUs(t)
	o := loadTable(t, 1<<14)
	for sp := uint16(1); sp <= 100; sp++ {
		runOn(t, o, 0, mirrored(t, 7, innerUDP4(sp, 53, 20)...), 2)
	}
	walk := func() (packets uint64) {
		if err := o.Walk(func(_ flow.Key, c flow.Counters) { packets += c.Packets }); err != nil {
			t.Fatal(err)
		}
		return packets
	}
	if p, m := walk(), len(o.table.mapped); p != 200 || m != 0 {
		t.Fatalf("%d packets, %d flow_shared pages mapped; want 200 and none", p, m)
	}
	runOn(t, o, 1, mirrored(t, 7, innerUDP4(50, 53, 20)...), 1)
	if p, m := walk(), len(o.table.mapped); p != 201 || m != 1 {
		t.Errorf("%d packets, %d flow_shared pages mapped; want 201 and one", p, m)
	}
}
