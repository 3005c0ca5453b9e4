package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
)

// walkBatch is how many flows one batch lookup syscall returns.
const walkBatch = 4096

// Walk implements flow.FlowSource: batch lookups where the kernel has
// them, a plain iteration otherwise.
func (o *Objects) Walk(fn func(flow.Key, flow.Counters)) error {
	keys := make([]VxtapFlowKey, walkBatch)
	vals := make([]VxtapFlowValue, walkBatch*o.ncpu)
	var cursor ebpf.MapBatchCursor
	base := o.clock.base()
	for {
		n, err := o.Flows.BatchLookup(&cursor, keys, vals, nil)
		for i := 0; i < n; i++ {
			fn(keyFromBPF(&keys[i]), o.mergeCPUs(vals[i*o.ncpu:(i+1)*o.ncpu], base))
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			return o.walkIterate(fn)
		}
		if err != nil {
			return fmt.Errorf("walk flow map: %w", err)
		}
	}
}

func (o *Objects) walkIterate(fn func(flow.Key, flow.Counters)) error {
	var k VxtapFlowKey
	var v []VxtapFlowValue
	it := o.Flows.Iterate()
	base := o.clock.base()
	for it.Next(&k, &v) {
		fn(keyFromBPF(&k), o.mergeCPUs(v, base))
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("walk flow map: %w", err)
	}
	return nil
}

// Remove implements flow.FlowSource with lookup-and-delete, so the
// counters returned are the ones the entry held when it went. It also
// tells the data path how many flows left, for its eviction accounting.
func (o *Objects) Remove(keys []flow.Key) (map[flow.Key]flow.Counters, error) {
	out := make(map[flow.Key]flow.Counters, len(keys))
	vals := make([]VxtapFlowValue, o.ncpu)
	base := o.clock.base()
	for _, k := range keys {
		bk := keyToBPF(k)
		err := o.Flows.LookupAndDelete(&bk, &vals)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("remove flow %s: %w", k, err)
		}
		out[k] = o.mergeCPUs(vals, base)
	}
	return out, o.addDeleted(uint64(len(out)))
}

// addDeleted bumps FLOW_CTL_DELETED, which only userspace writes.
func (o *Objects) addDeleted(n uint64) error {
	if n == 0 {
		return nil
	}
	const idx = uint32(2) // FLOW_CTL_DELETED
	var cur uint64
	if err := o.FlowCtl.Lookup(idx, &cur); err != nil {
		return fmt.Errorf("read flow_ctl: %w", err)
	}
	if err := o.FlowCtl.Put(idx, cur+n); err != nil {
		return fmt.Errorf("write flow_ctl: %w", err)
	}
	return nil
}

// FlowCount is the number of flows in the table now.
func (o *Objects) FlowCount() (int, error) {
	n := 0
	err := o.Walk(func(flow.Key, flow.Counters) { n++ })
	return n, err
}
