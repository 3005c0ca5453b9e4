package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
)

// Ledger is the pinned flow_ledger map: what flow records already carried
// per flow. It implements aggregate.Ledger.
// With the pinned overflow_ledger it also implements aggregate.OverflowLedger.
type Ledger struct{ m, ov *ebpf.Map }

// Ledger returns the objects' ledger.
func (o *Objects) Ledger() *Ledger { return &Ledger{m: o.FlowLedger, ov: o.OverflowLedger} }

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

// LoadOverflow calls fn for every overflow_ledger entry
// (aggregate.OverflowLedger).
func (l *Ledger) LoadOverflow(fn func(id flow.OverflowID, packets, bytes uint64)) error {
	var k VxtapOverflowLedgerKey
	var v VxtapLedgerEntry
	it := l.ov.Iterate()
	for it.Next(&k, &v) {
		fn(overflowIDFrom(&k), v.Packets, v.Bytes)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read overflow ledger: %w", err)
	}
	return nil
}

// SaveOverflow writes overflow_ledger entries.
func (l *Ledger) SaveOverflow(entries map[flow.OverflowID][2]uint64) error {
	for id, v := range entries {
		k := overflowLedgerKey(id)
		if err := l.ov.Put(&k, &VxtapLedgerEntry{Packets: v[0], Bytes: v[1]}); err != nil {
			return fmt.Errorf("write overflow ledger: %w", err)
		}
	}
	return nil
}

// ForgetOverflow drops overflow_ledger entries of removed aggregates.
func (l *Ledger) ForgetOverflow(ids []flow.OverflowID) error {
	for _, id := range ids {
		k := overflowLedgerKey(id)
		if err := l.ov.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("forget overflow aggregate %s: %w", id.Key, err)
		}
	}
	return nil
}

// overflowLedgerKey is the overflow_ledger key of an aggregate: the
// fields its level keeps, zero elsewhere.
func overflowLedgerKey(id flow.OverflowID) VxtapOverflowLedgerKey {
	k := VxtapOverflowLedgerKey{Level: uint32(id.Level)}
	switch id.Level {
	case flow.OverflowByDest:
		k.Agg = overflowKey(id)
	case flow.OverflowByVNI:
		k.Agg = VxtapOverflowKey{Gen: uint32(id.Half), Vni: id.Key.VNI}
	default:
		k.Agg = VxtapOverflowKey{Gen: uint32(id.Half)}
	}
	return k
}

// overflowIDFrom is the aggregate an overflow_ledger key names, as
// SettledOverflow names it.
func overflowIDFrom(k *VxtapOverflowLedgerKey) flow.OverflowID {
	id := flow.OverflowID{Half: uint8(k.Agg.Gen), Level: flow.OverflowLevel(k.Level)}
	switch id.Level {
	case flow.OverflowByDest:
		a := k.Agg
		id.Key = flow.Key{VNI: a.Vni, Src: unspecified(a.Family), Dst: addrFrom(a.Dst, a.Family), Proto: a.Proto, DPort: a.Dport}
	case flow.OverflowByVNI:
		id.Key = flow.Key{VNI: k.Agg.Vni}
	}
	return id
}
