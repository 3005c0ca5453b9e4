package loader

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
)

// The overflow aggregates (bpf/include/overflow.h) have two halves; the
// data path adds to the one flow_ctl[FLOW_CTL_OVERFLOW_GEN] names (bit 0).
// The other is settled once an RCU grace period passed after the turn:
// no program run adds to it any more, so its totals are final, and an
// aggregate of it can be removed without losing a count. Nothing here
// removes an aggregate on its own: the aggregator does, once its record
// is stored (userspace/aggregate/overflow.go).

// overflowHalf is the half the data path adds to.
func (o *Objects) overflowHalf() (uint32, error) {
	var gen uint64
	if err := o.FlowCtl.Lookup(uint32(VxtapVxtapConstFLOW_CTL_OVERFLOW_GEN), &gen); err != nil {
		return 0, fmt.Errorf("read overflow half: %w", err)
	}
	return uint32(gen & 1), nil
}

// settle waits for a grace period unless this process already did since
// the last turn (a killed daemon may have turned just before it died).
func (o *Objects) settle() error {
	if o.ovSettled {
		return nil
	}
	if err := syncRCU(); err != nil {
		return fmt.Errorf("wait for RCU before reading overflow: %w", err)
	}
	o.ovSettled = true
	return nil
}

// SettledOverflow implements flow.OverflowSource.
func (o *Objects) SettledOverflow() (uint8, []flow.Overflow, error) {
	cur, err := o.overflowHalf()
	if err != nil {
		return 0, nil, err
	}
	if err := o.settle(); err != nil {
		return 0, nil, err
	}
	aggs, err := o.readHalf(cur ^ 1)
	return uint8(cur ^ 1), aggs, err
}

// TurnOverflow implements flow.OverflowSource.
func (o *Objects) TurnOverflow() (bool, error) {
	cur, err := o.overflowHalf()
	if err != nil {
		return false, err
	}
	if left, err := o.readHalf(cur ^ 1); err != nil || len(left) > 0 {
		return false, err
	}
	if busy, err := o.readHalf(cur); err != nil || len(busy) == 0 {
		return false, err
	}
	if err := o.FlowCtl.Update(uint32(VxtapVxtapConstFLOW_CTL_OVERFLOW_GEN), uint64(cur^1), ebpf.UpdateExist); err != nil {
		return false, fmt.Errorf("turn overflow half: %w", err)
	}
	o.ovSettled = false
	return true, o.settle()
}

// RemoveOverflow implements flow.OverflowSource. It refuses an aggregate
// of the half in use, or of a half not yet settled.
func (o *Objects) RemoveOverflow(ids []flow.OverflowID) error {
	cur, err := o.overflowHalf()
	if err != nil {
		return err
	}
	if !o.ovSettled {
		return errors.New("remove overflow aggregates: their half is not settled")
	}
	var errs error
	for _, id := range ids {
		if uint32(id.Half) == cur {
			return fmt.Errorf("remove overflow aggregate %v %s: the data path adds to its half", id.Level, id.Key)
		}
		if err := o.removeOverflow(id); err != nil {
			errs = errors.Join(errs, fmt.Errorf("remove overflow aggregate %v %s: %w", id.Level, id.Key, err))
		}
	}
	return errs
}

// removeOverflow deletes one aggregate; the catch-all is zeroed (an array).
func (o *Objects) removeOverflow(id flow.OverflowID) error {
	switch id.Level {
	case flow.OverflowByDest:
		k := overflowKey(id)
		return ignoreMissing(o.OverflowFlows.Delete(&k))
	case flow.OverflowByVNI:
		k := VxtapOverflowVniKey{Gen: uint32(id.Half), Vni: id.Key.VNI}
		return ignoreMissing(o.OverflowVnis.Delete(&k))
	}
	zero := make([]VxtapOverflowVal, ebpf.MustPossibleCPU())
	return o.OverflowAll.Update(uint32(id.Half), zero, ebpf.UpdateExist)
}

func ignoreMissing(err error) error {
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return err
}

// overflowKey is the map key of an aggregate by destination (or, with
// only VNI and half set, the ledger's part of the others).
func overflowKey(id flow.OverflowID) VxtapOverflowKey {
	k := VxtapOverflowKey{Gen: uint32(id.Half), Vni: id.Key.VNI, Proto: id.Key.Proto, Dport: id.Key.DPort}
	if id.Key.Dst.IsValid() {
		k.Family = addrTo(id.Key.Dst, &k.Dst)
	}
	return k
}

// readHalf returns the aggregates of half gen that hold a count.
func (o *Objects) readHalf(gen uint32) ([]flow.Overflow, error) {
	base := o.clock.base()
	var out []flow.Overflow
	var fk VxtapOverflowKey
	var vk VxtapOverflowVniKey
	var per []VxtapOverflowVal
	it := o.OverflowFlows.Iterate()
	for it.Next(&fk, &per) {
		if fk.Gen != gen {
			continue
		}
		k := flow.Key{VNI: fk.Vni, Src: unspecified(fk.Family), Dst: addrFrom(fk.Dst, fk.Family), Proto: fk.Proto, DPort: fk.Dport}
		out = append(out, flow.Overflow{OverflowID: flow.OverflowID{Half: uint8(gen), Level: flow.OverflowByDest, Key: k},
			Counters: o.overflowCounters(per, base)})
	}
	it2 := o.OverflowVnis.Iterate()
	for it2.Next(&vk, &per) {
		if vk.Gen != gen {
			continue
		}
		out = append(out, flow.Overflow{OverflowID: flow.OverflowID{Half: uint8(gen), Level: flow.OverflowByVNI, Key: flow.Key{VNI: vk.Vni}},
			Counters: o.overflowCounters(per, base)})
	}
	if err := errors.Join(it.Err(), it2.Err()); err != nil {
		return nil, fmt.Errorf("read overflow aggregates: %w", err)
	}
	if err := o.OverflowAll.Lookup(gen, &per); err != nil {
		return nil, fmt.Errorf("read overflow catch-all: %w", err)
	}
	if c := o.overflowCounters(per, base); c.Packets > 0 {
		out = append(out, flow.Overflow{OverflowID: flow.OverflowID{Half: uint8(gen), Level: flow.OverflowAll}, Counters: c})
	}
	return out, nil
}

// overflowCounters sums one aggregate over the CPUs.
func (o *Objects) overflowCounters(per []VxtapOverflowVal, base int64) flow.Counters {
	var c flow.Counters
	var first, last uint64
	for _, v := range per {
		c.Packets += v.Packets
		c.Bytes += v.Bytes
		c.TCPFlags |= uint8(v.TcpFlags)
		c.Truncated = c.Truncated || v.Truncated != 0
		if v.FirstNs != 0 && (first == 0 || v.FirstNs < first) {
			first = v.FirstNs
		}
		last = max(last, v.LastNs)
	}
	c.First, c.Last = o.clock.wall(first, base), o.clock.wall(last, base)
	return c
}

// unspecified is 0.0.0.0 or ::, the source of an overflow aggregate.
func unspecified(family uint8) netip.Addr {
	if family == 4 {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}
