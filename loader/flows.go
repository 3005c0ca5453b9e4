package loader

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
	"golang.org/x/sys/unix"
)

// The flow table is two maps: flow_index (key -> slot number, our own
// hash table the data path looks flows up in, flowindex.go) and
// flow_slots (the flows themselves, an mmapable array); both mmapped. A
// walk is a sequential read of the mmapped slots: no syscall and no
// pointer chasing, where a batch lookup of a hash map costs about half a
// microsecond a flow in cache misses alone.

// slotTable is flow_slots mapped into this process, with flow_shared
// beside it: the counts of CPUs other than a slot's owner, entry i for
// slot i. An mmap of a BPF array maps every page of the range at once
// (remap_vmalloc_range), and the pages count in the process's RSS, so
// flow_shared is mapped a page at a time, when a slot marked
// FLOW_MARK_SHARED is first met there: flows that stay on one CPU cost it
// no resident page (16 MiB per million slots mapped whole).
type slotTable struct {
	mem   []byte
	slots []VxtapFlowSlot

	sharedMap *ebpf.Map
	perPage   int                                     // flow_shared entries in a page
	pages     []atomic.Pointer[VxtapFlowSharedCounts] // first entry of each mapped page, nil until mapped
	mu        sync.Mutex                              // held to map a page
	mapped    [][]byte                                // every page mapped, for unmap
}

func (o *Objects) mapSlots() error {
	n := int(o.FlowSlots.MaxEntries())
	if m := int(o.FlowShared.MaxEntries()); m != n {
		return fmt.Errorf("flow_shared holds %d entries, flow_slots %d: pins of another layout", m, n)
	}
	page := unix.Getpagesize()
	size := (n*int(unsafe.Sizeof(VxtapFlowSlot{})) + page - 1) / page * page
	mem, err := unix.Mmap(o.FlowSlots.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap flow_slots: %w", err)
	}
	per := page / int(unsafe.Sizeof(VxtapFlowSharedCounts{}))
	o.table = &slotTable{mem: mem, slots: unsafe.Slice((*VxtapFlowSlot)(unsafe.Pointer(&mem[0])), n),
		sharedMap: o.FlowShared, perPage: per, pages: make([]atomic.Pointer[VxtapFlowSharedCounts], (n+per-1)/per)}
	hint, err := unix.Mmap(o.FlowFreeHint.FD(), 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		o.table.unmap()
		o.table = nil
		return fmt.Errorf("mmap flow_free_hint: %w", err)
	}
	o.hintMem = hint
	o.freeHint = (*VxtapFreeHint)(unsafe.Pointer(&hint[0]))
	if o.index, err = mapIndex(o.FlowIndex, o.FlowCtl, o.table.slots); err != nil {
		return err // Close unmaps the rest
	}
	return nil
}

// Close unmaps the flow slots and closes the program and maps.
func (o *Objects) Close() error {
	var err error
	if o.table != nil {
		err = o.table.unmap()
		o.table = nil
	}
	if o.hintMem != nil {
		err = errors.Join(err, unix.Munmap(o.hintMem))
		o.hintMem, o.freeHint = nil, nil
	}
	if o.index != nil {
		err = errors.Join(err, o.index.close())
		o.index = nil
	}
	return errors.Join(err, o.VxtapObjects.Close())
}

// unmap unmaps flow_slots and the pages of flow_shared mapped.
func (t *slotTable) unmap() error {
	err := unix.Munmap(t.mem)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.mapped {
		err = errors.Join(err, unix.Munmap(m))
	}
	t.mapped = nil
	return err
}

// sharedMark is FLOW_MARK_SHARED: the slot's flow_shared entry may hold counts.
const sharedMark = uint32(VxtapFlowMarkFLOW_MARK_SHARED)

// shared is slot idx's flow_shared entry, its page mapped on first use.
func (t *slotTable) shared(idx uint32) (*VxtapFlowSharedCounts, error) {
	p, i := int(idx)/t.perPage, int(idx)%t.perPage
	base := t.pages[p].Load()
	if base == nil {
		t.mu.Lock()
		if base = t.pages[p].Load(); base == nil {
			page := unix.Getpagesize()
			mem, err := unix.Mmap(t.sharedMap.FD(), int64(p*page), page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
			if err != nil {
				t.mu.Unlock()
				return nil, fmt.Errorf("mmap flow_shared page %d: %w", p, err)
			}
			t.mapped = append(t.mapped, mem)
			base = (*VxtapFlowSharedCounts)(unsafe.Pointer(&mem[0]))
			t.pages[p].Store(base)
		}
		t.mu.Unlock()
	}
	return (*VxtapFlowSharedCounts)(unsafe.Add(unsafe.Pointer(base), uintptr(i)*unsafe.Sizeof(VxtapFlowSharedCounts{}))), nil
}

// counts is slot idx's packets and bytes: the owner's in the slot plus,
// when the slot's mark says so, the other CPUs' in flow_shared. The mark
// is read first, and set before the first add to the entry, so a read
// that finds it unset has nothing there to miss. A page that cannot be
// mapped is read with a lookup.
func (t *slotTable) counts(idx uint32) (packets, bytes uint64) {
	s := &t.slots[idx]
	marked := atomic.LoadUint32(&s.Marks)&sharedMark != 0
	packets, bytes = atomic.LoadUint64(&s.Packets), atomic.LoadUint64(&s.Bytes)
	if marked {
		var v VxtapFlowSharedCounts
		if sh, err := t.shared(idx); err == nil {
			v.Packets, v.Bytes = atomic.LoadUint64(&sh.Packets), atomic.LoadUint64(&sh.Bytes)
		} else {
			t.sharedMap.Lookup(idx, &v) // on failure too, a read may be behind: the next one catches up
		}
		packets += v.Packets
		bytes += v.Bytes
	}
	return packets, bytes
}

// addShared adds packets and bytes to slot idx's flow_shared entry, with
// the atomics the data path uses there (its owner may be adding to the
// slot's own counters with plain adds, so Go never writes those), the
// mark set first.
func (t *slotTable) addShared(idx uint32, packets, bytes uint64) error {
	if packets == 0 && bytes == 0 {
		return nil
	}
	sh, err := t.shared(idx)
	if err != nil {
		return err
	}
	s := &t.slots[idx]
	if atomic.LoadUint32(&s.Marks)&sharedMark == 0 {
		atomic.OrUint32(&s.Marks, sharedMark)
	}
	atomic.AddUint64(&sh.Packets, packets)
	atomic.AddUint64(&sh.Bytes, bytes)
	return nil
}

// zeroShared zeroes slot idx's flow_shared entry when its mark says it
// was used. Only for a slot no program run adds to (FREE, after a grace
// period): with a page that cannot be mapped, an update does it.
func (t *slotTable) zeroShared(idx uint32) error {
	if atomic.LoadUint32(&t.slots[idx].Marks)&sharedMark == 0 {
		return nil
	}
	sh, err := t.shared(idx)
	if err != nil {
		if err := t.sharedMap.Update(idx, VxtapFlowSharedCounts{}, ebpf.UpdateExist); err != nil {
			return fmt.Errorf("zero flow_shared %d: %w", idx, err)
		}
		return nil
	}
	atomic.StoreUint64(&sh.Packets, 0)
	atomic.StoreUint64(&sh.Bytes, 0)
	return nil
}

// FlowTableSize is how many flows the table holds.
func (o *Objects) FlowTableSize() uint32 { return o.FlowSlots.MaxEntries() }

// used is how many slots the data path has ever handed out (the rest were
// never written).
func (o *Objects) used() (int, error) {
	var next uint64
	if err := o.FlowCtl.Lookup(uint32(VxtapVxtapConstFLOW_CTL_NEXT), &next); err != nil {
		return 0, fmt.Errorf("read flow_ctl: %w", err)
	}
	return int(min(next, uint64(len(o.table.slots)))), nil
}

// Walk implements flow.FlowSource: every live slot in slot order, which
// stays the same from sweep to sweep (the aggregator and the rate tracker
// count on that). Counters are read while CPUs add to them, so packets and
// bytes of one read may be a packet apart; the next read catches up, and
// Remove's read is exact. A slot freed (and maybe reused) while it was
// read, which only a reader beside the daemon can meet, is left out.
func (o *Objects) Walk(fn func(flow.Key, flow.Counters)) error {
	n, err := o.used()
	if err != nil {
		return err
	}
	base := o.clock.base()
	live := uint32(VxtapFlowSlotStateFLOW_SLOT_LIVE)
	var k flow.Key
	var c flow.Counters // filled in place, slot by slot
	for i := 0; i < n; i++ {
		s := &o.table.slots[i]
		gen := atomic.LoadUint32(&s.Gen)
		if atomic.LoadUint32(&s.State) != live {
			continue
		}
		k = keyFromBPF(&s.Key)
		o.readCounters(&c, uint32(i), base)
		if atomic.LoadUint32(&s.Gen) != gen || atomic.LoadUint32(&s.State) != live {
			continue
		}
		fn(k, c)
	}
	return nil
}

// dying marks a slot taken out of flow_index DYING, before the grace
// period the removal waits for: the data path's per-CPU flow cache adds
// only to LIVE slots, so after the grace period nothing adds to it any more.
func (o *Objects) dying(idx uint32) {
	atomic.StoreUint32(&o.table.slots[idx].State, uint32(VxtapFlowSlotStateFLOW_SLOT_DYING))
}

// retire marks a slot out of flow_index FREE, with a new generation, so
// no walk shows it again; it is not yet back in the data path's hands.
// Then it zeroes the slot's flow_shared entry (when the mark says it was
// used), so the next flow in the slot starts from zero: after the final
// read, and after FREE, so a kill before the zeroing leaves a slot that
// is neither recovered (its counts intact until then) nor queued for
// reuse. Every way Go frees a slot goes through here; on an error the
// caller must not give the slot back.
func (o *Objects) retire(idx uint32) error {
	s := &o.table.slots[idx]
	atomic.StoreUint32(&s.State, uint32(VxtapFlowSlotStateFLOW_SLOT_FREE))
	atomic.AddUint32(&s.Gen, 1)
	// On an error the slot is not to be reused with counts it would
	// inherit: left out of flow_free (lost to the data path, as a slot
	// whose give-back failed), and out of the next restart's reach (FREE).
	return o.table.zeroShared(idx)
}

// free retires a slot and gives it back to the data path: the end of every
// removal whose final read is done. A slot that fails either is lost to
// the data path (FREE, never counted again), and the error says so.
func (o *Objects) free(idx uint32) error {
	if err := o.retire(idx); err != nil {
		return err
	}
	return o.giveBack(idx)
}

// giveBack queues a retired slot for the data path; only after an RCU
// grace period, when no program run can still write it.
func (o *Objects) giveBack(idx uint32) error {
	if err := o.FlowFree.Update(nil, idx, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("give back flow slot %d: %w", idx, err)
	}
	// Counted after the push: the data path pops only while the count says
	// a slot waits (a lagging count only defers the slot's reuse).
	atomic.AddUint64(&o.freeHint.Pushed, 1)
	return nil
}

// rcuTries is how often a removal asks for a grace period before giving up.
const rcuTries = 3

// Remove implements flow.FlowSource: the flows are taken out as Detach
// takes them, and their slots freed at once. Nothing a packet added is
// lost.
func (o *Objects) Remove(keys []flow.Key) (map[flow.Key]flow.Counters, error) {
	out, taken, err := o.takeOut(keys)
	for _, g := range taken {
		err = errors.Join(err, o.free(g.idx))
	}
	return out, err
}

// takenSlot is a flow's slot taken out of flow_index.
type takenSlot struct {
	k   flow.Key
	idx uint32
}

// takeOut takes the flows out of flow_index and marks their slots DYING
// (the flow cache's hits need LIVE), waits for an RCU grace period (after
// which no program run can still add to their slots), reads their final
// counters and marks the slots DETACHED: no walk shows them, and a
// restart's RecoverSlots puts them back. The caller frees them.
func (o *Objects) takeOut(keys []flow.Key) (map[flow.Key]flow.Counters, []takenSlot, error) {
	out := make(map[flow.Key]flow.Counters, len(keys))
	var taken []takenSlot
	var firstErr error
	for _, k := range keys {
		bk := keyToBPF(k)
		idx, ok := o.index.Delete(&bk)
		if !ok {
			continue
		}
		if int(idx) < len(o.table.slots) {
			o.dying(idx)
		}
		taken = append(taken, takenSlot{k, idx})
	}
	if len(taken) == 0 {
		return out, nil, firstErr
	}
	// Slots already out of the index must be read and marked whatever
	// happened above, or they would leak.
	var rcuErr error
	for range rcuTries {
		if rcuErr = syncRCU(); rcuErr == nil {
			break
		}
	}
	if rcuErr != nil {
		// No grace period, so the slots cannot be read for good or
		// freed: back into the index, to be removed by a later sweep.
		var back []uint32
		for _, g := range taken {
			back = append(back, g.idx)
		}
		_, perr := o.republish(back)
		return out, nil, errors.Join(firstErr, fmt.Errorf("wait for RCU before freeing flow slots: %w", rcuErr), perr)
	}
	base := o.clock.base()
	kept := taken[:0]
	for _, g := range taken {
		if int(g.idx) >= len(o.table.slots) {
			firstErr = errors.Join(firstErr, fmt.Errorf("flow %s: slot %d past the table", g.k, g.idx))
			continue
		}
		s := &o.table.slots[g.idx]
		out[g.k] = o.slotCounters(g.idx, base)
		atomic.StoreUint32(&s.State, uint32(VxtapFlowSlotStateFLOW_SLOT_DETACHED))
		kept = append(kept, g)
	}
	return out, kept, firstErr
}

// FlowCount is the number of flows in the table now.
func (o *Objects) FlowCount() (int, error) {
	n := 0
	err := o.Walk(func(flow.Key, flow.Counters) { n++ })
	return n, err
}

// ClockBase implements flow.ClockBaser: what a walk now adds to the
// program's clock to make unix ns.
func (o *Objects) ClockBase() int64 { return o.clock.base() }
