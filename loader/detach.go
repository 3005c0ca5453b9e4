package loader

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/vxtap/vxtap/userspace/flow"
)

// heldSlots are the slots Detach took out, by flow, until Release. Only
// this process knows them; a restart finds them by their DETACHED state.
type heldSlots struct {
	mu sync.Mutex
	m  map[flow.Key][]uint32
}

// Detach implements flow.Detacher: the flows leave flow_index (a new
// packet makes a new flow) and their final counters are read, but the
// slots stay DETACHED, out of every walk, until Release. A daemon killed
// before it stored the records of those counters leaves them for the
// next start's RecoverSlots, which puts them back.
func (o *Objects) Detach(keys []flow.Key) (map[flow.Key]flow.Counters, error) {
	out, taken, err := o.takeOut(keys)
	if len(taken) == 0 {
		return out, err
	}
	o.held.mu.Lock()
	defer o.held.mu.Unlock()
	if o.held.m == nil {
		o.held.m = map[flow.Key][]uint32{}
	}
	for _, g := range taken {
		o.held.m[g.k] = append(o.held.m[g.k], g.idx)
	}
	return out, err
}

// Settle implements flow.Detacher: the detached slots of keys become
// RECORDED, so a restart forgets their ledger entries and frees them
// instead of putting them back.
func (o *Objects) Settle(keys []flow.Key) error {
	o.held.mu.Lock()
	defer o.held.mu.Unlock()
	for _, k := range keys {
		for _, idx := range o.held.m[k] {
			atomic.CompareAndSwapUint32(&o.table.slots[idx].State,
				uint32(VxtapFlowSlotStateFLOW_SLOT_DETACHED), uint32(VxtapFlowSlotStateFLOW_SLOT_RECORDED))
		}
	}
	return nil
}

// Release implements flow.Detacher: the detached slots of keys go back to
// the data path.
func (o *Objects) Release(keys []flow.Key) error {
	o.held.mu.Lock()
	defer o.held.mu.Unlock()
	var err error
	for _, k := range keys {
		for _, idx := range o.held.m[k] {
			if !detachedState(atomic.LoadUint32(&o.table.slots[idx].State)) {
				continue
			}
			// A slot not given back is lost to the data path, never counted
			// again: it is FREE already.
			err = errors.Join(err, o.free(idx))
		}
		delete(o.held.m, k)
	}
	return err
}

// detachedState is true for the states of a slot Detach took out.
func detachedState(st uint32) bool {
	return st == uint32(VxtapFlowSlotStateFLOW_SLOT_DETACHED) || st == uint32(VxtapFlowSlotStateFLOW_SLOT_RECORDED)
}

// WalkDetached calls fn for every DETACHED or DYING slot: flows a daemon
// took out of the table whose last records may not be stored (vxtap detach
// counts them as unreported). RECORDED ones are not: all their packets are.
func (o *Objects) WalkDetached(fn func(flow.Key, flow.Counters)) error {
	n, err := o.used()
	if err != nil {
		return err
	}
	base := o.clock.base()
	for i := 0; i < n; i++ {
		s := &o.table.slots[i]
		if st := atomic.LoadUint32(&s.State); st == uint32(VxtapFlowSlotStateFLOW_SLOT_DETACHED) ||
			st == uint32(VxtapFlowSlotStateFLOW_SLOT_DYING) {
			fn(keyFromBPF(&s.Key), o.slotCounters(uint32(i), base))
		}
	}
	return nil
}
