package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
)

// Ledger is the pinned flow_ledger map: what flow records already carried
// per flow. It implements aggregate.Ledger.
type Ledger struct{ m *ebpf.Map }

// Ledger returns the objects' ledger.
func (o *Objects) Ledger() *Ledger { return &Ledger{m: o.FlowLedger} }

// Load calls fn for every entry.
func (l *Ledger) Load(fn func(k flow.Key, packets, bytes uint64)) error {
	var k VxtapFlowKey
	var v VxtapLedgerEntry
	it := l.m.Iterate()
	for it.Next(&k, &v) {
		fn(keyFromBPF(&k), v.Packets, v.Bytes)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read flow ledger: %w", err)
	}
	return nil
}

// Save writes entries in one batch where the kernel has batches.
func (l *Ledger) Save(entries map[flow.Key][2]uint64) error {
	if len(entries) == 0 {
		return nil
	}
	keys := make([]VxtapFlowKey, 0, len(entries))
	vals := make([]VxtapLedgerEntry, 0, len(entries))
	for k, v := range entries {
		keys = append(keys, keyToBPF(k))
		vals = append(vals, VxtapLedgerEntry{Packets: v[0], Bytes: v[1]})
	}
	if _, err := l.m.BatchUpdate(keys, vals, nil); err == nil {
		return nil
	} else if !errors.Is(err, ebpf.ErrNotSupported) {
		return fmt.Errorf("write flow ledger: %w", err)
	}
	for i := range keys {
		if err := l.m.Put(&keys[i], &vals[i]); err != nil {
			return fmt.Errorf("write flow ledger: %w", err)
		}
	}
	return nil
}

// Forget drops entries of flows that left the table.
func (l *Ledger) Forget(keys []flow.Key) error {
	for _, k := range keys {
		bk := keyToBPF(k)
		if err := l.m.Delete(&bk); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("forget flow %s: %w", k, err)
		}
	}
	return nil
}
