package loader

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
)

// Recovered says what RecoverSlots repaired.
type Recovered struct {
	Republished int // live slots put back in flow_index: their flow was missing there
	Merged      int // live slots added into the slot flow_index names for their flow, then freed
	Freed       int // RECORDED slots freed, their ledger entries forgotten
	StaleLocks  int // flow index buckets a killed daemon left locked, released
	Deferred    int // orphans whose home and next bucket are full: kept DYING (out of walks, counts kept) for the next RecoverSlots
	Alone       int // flow index buckets given bucketAlone back: none of their keys in the next bucket (regainAllAlone)
}

// RecoverSlots repairs what a daemon killed inside Remove can leave behind:
// a slot still LIVE (or DYING) whose flow it had already taken out of
// flow_index, so only the data path's flow cache may still add to it and a
// walk still shows it (or no longer does); a slot DYING though in the index
// (killed while republishing), which goes back to LIVE; and every
// DETACHED slot (Detach): a finished flow whose last records the killed
// daemon may not have stored. When the flow is absent from the index, the
// slot goes back in (its packets were never in a record; the ledger knows
// what earlier records carried). When the flow came back meanwhile in
// another slot, the orphan's counts are added into that slot and the
// orphan is freed, so the flow's total stays exact and the walk shows it
// once. RECORDED slots (every packet in stored records) are freed after
// their ledger entries are forgotten. The writer (vxtap run) calls it once
// after re-opening a pinned table, before its first sweep and the ledger's
// load.
func (o *Objects) RecoverSlots() (Recovered, error) {
	// First, so the republish below cannot wait on a lock no one holds.
	stale := o.index.releaseStaleLocks()
	n, err := o.used()
	if err != nil {
		return Recovered{}, err
	}
	published := o.publishedSlots(n)
	var orphans, recorded []uint32
	revived := 0
	for i := 0; i < n; i++ {
		st := atomic.LoadUint32(&o.table.slots[i].State)
		indexed := published[i/64]&(1<<(i%64)) != 0
		switch {
		case st == uint32(VxtapFlowSlotStateFLOW_SLOT_RECORDED):
			recorded = append(recorded, uint32(i))
		case !indexed && (st == uint32(VxtapFlowSlotStateFLOW_SLOT_LIVE) ||
			st == uint32(VxtapFlowSlotStateFLOW_SLOT_DETACHED) || st == uint32(VxtapFlowSlotStateFLOW_SLOT_DYING)):
			orphans = append(orphans, uint32(i))
		case indexed && st == uint32(VxtapFlowSlotStateFLOW_SLOT_DYING):
			// Killed while republishing it: in the index, so LIVE.
			atomic.StoreUint32(&o.table.slots[i].State, uint32(VxtapFlowSlotStateFLOW_SLOT_LIVE))
			revived++
		}
	}
	freed, err := o.freeRecorded(recorded)
	if err != nil {
		return Recovered{}, err
	}
	rec, err := o.republish(orphans)
	rec.Republished += revived
	rec.Freed = freed
	rec.StaleLocks = stale
	// Last: the republish above may spill keys into next buckets.
	rec.Alone = o.index.regainAllAlone()
	return rec, err
}

// freeRecorded ends RECORDED slots: a daemon killed after every packet of
// their flow was in stored records, before it forgot the flow's ledger
// entry or freed the slot. The entry is that flow's (nothing recorded a
// newer flow of the key meanwhile), so it goes first, then the slot; a
// kill in between leaves the slot for the next start. They left flow_index
// a grace period ago: no program run holds them.
func (o *Objects) freeRecorded(idxs []uint32) (int, error) {
	if len(idxs) == 0 {
		return 0, nil
	}
	keys := make([]flow.Key, len(idxs))
	for i, idx := range idxs {
		keys[i] = keyFromBPF(&o.table.slots[idx].Key)
	}
	if err := o.Ledger().Forget(keys); err != nil {
		return 0, fmt.Errorf("recover flow slots: %w", err)
	}
	for _, idx := range idxs {
		if err := o.free(idx); err != nil {
			return 0, err
		}
	}
	return len(idxs), nil
}

// republish puts slots that are out of flow_index back in (LIVE again), or,
// where the flow is in the index again in another slot, adds their counts
// there. Such a slot is first marked DYING and a grace period passes, so
// no flow cache hit still adds to it while it is merged; it is marked FREE
// right after its merge, so nothing counts it twice even if this process
// dies next, and it goes back to the data path at once (no run can reach
// it any more). Without a grace period the slots stay DYING, out of the
// index: a later RecoverSlots merges them (a lost slot, never a wrong
// count).
func (o *Objects) republish(idxs []uint32) (Recovered, error) {
	var rec Recovered
	type dup struct{ orphan, live uint32 }
	var dups []dup
	for _, idx := range idxs {
		if int(idx) >= len(o.table.slots) {
			continue
		}
		s := &o.table.slots[idx]
		// LIVE before it is in the index: a kill in between leaves an
		// orphan the next start finds, never an indexed slot no walk shows.
		atomic.StoreUint32(&s.State, uint32(VxtapFlowSlotStateFLOW_SLOT_LIVE))
		j, err := o.index.InsertNoExist(&s.Key, idx)
		if err == nil {
			rec.Republished++
			continue
		}
		if errors.Is(err, errIndexFull) {
			// No room in its two buckets (filled while it was out):
			// kept out of walks with its counts, for the next
			// RecoverSlots. Failing here would fail every start, as
			// nothing empties the buckets while no daemon runs.
			o.dying(idx)
			rec.Deferred++
			continue
		}
		if !errors.Is(err, ebpf.ErrKeyExist) {
			return rec, fmt.Errorf("recover flow slot %d: %w", idx, err)
		}
		if j == idx || int(j) >= len(o.table.slots) {
			continue // published after the index was read: not an orphan
		}
		o.dying(idx)
		dups = append(dups, dup{idx, j})
	}
	if len(dups) == 0 {
		return rec, nil
	}
	// The orphans are out of the index and DYING, so no program run
	// still adds to them after one grace period.
	if err := syncRCU(); err != nil {
		return rec, fmt.Errorf("wait for RCU before merging flow slots: %w", err)
	}
	var freed []uint32
	var err error
	for _, d := range dups {
		if merr := o.table.mergeSlot(d.live, d.orphan); merr != nil {
			// Nothing added: it stays DYING, for the next RecoverSlots.
			err = errors.Join(err, fmt.Errorf("merge flow slot %d: %w", d.orphan, merr))
			continue
		}
		rec.Merged++
		if rerr := o.retire(d.orphan); rerr != nil {
			err = errors.Join(err, rerr)
			continue
		}
		freed = append(freed, d.orphan)
	}
	for _, idx := range freed {
		if gerr := o.giveBack(idx); gerr != nil {
			return rec, errors.Join(err, gerr)
		}
	}
	return rec, err
}

// publishedSlots marks, in a bitset, every slot flow_index points at:
// one read of the mapped buckets.
func (o *Objects) publishedSlots(n int) []uint64 {
	bits := make([]uint64, (n+63)/64)
	o.index.Range(func(idx uint32) {
		if int(idx) < n {
			bits[idx/64] |= 1 << (idx % 64)
		}
	})
	return bits
}

// mergeSlot adds an orphaned slot's counts into the flow's live slot, with
// the atomics the data path uses on it. Packets and bytes go to the live
// slot's flow_shared entry (addShared): its owner CPU adds to the slot's
// own with plain adds, which an atomic add beside them would break.
func (t *slotTable) mergeSlot(liveIdx, orphanIdx uint32) error {
	live, orphan := &t.slots[liveIdx], &t.slots[orphanIdx]
	packets, bytes := t.counts(orphanIdx)
	if err := t.addShared(liveIdx, packets, bytes); err != nil {
		return err
	}
	atomic.OrUint32(&live.TcpFlags, atomic.LoadUint32(&orphan.TcpFlags))
	if atomic.LoadUint32(&orphan.EndSeen) != 0 {
		atomic.StoreUint32(&live.EndSeen, 1)
	}
	// first_ns is written only when a slot is claimed: the earlier wins.
	if of := atomic.LoadUint64(&orphan.FirstNs); of < atomic.LoadUint64(&live.FirstNs) {
		atomic.StoreUint64(&live.FirstNs, of)
	}
	return nil
}
