package loader

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
)

// The overflow aggregates (bpf/include/overflow.h) have two halves; the
// data path adds to the one flow_ctl[FLOW_CTL_OVERFLOW_GEN] names. A drain
// flips it, waits for an RCU grace period (after which no program run
// still adds to the old half), then reads and clears the old half: exact,
// with no count read while it moves.

// DrainOverflow implements flow.OverflowSource.
func (o *Objects) DrainOverflow() ([]flow.Overflow, error) {
	key := uint32(VxtapVxtapConstFLOW_CTL_OVERFLOW_GEN)
	var gen uint64
	if err := o.FlowCtl.Lookup(key, &gen); err != nil {
		return nil, fmt.Errorf("read overflow half: %w", err)
	}
	cur := uint32(gen & 1)
	// The half not in use may hold what a drain cut short (a killed
	// daemon, a failed grace period) left: drain it first.
	left, err := o.overflowPending(cur ^ 1)
	if err != nil || left {
		if err != nil {
			return nil, err
		}
		if err := syncRCU(); err != nil {
			return nil, fmt.Errorf("wait for RCU before draining overflow: %w", err)
		}
		return o.drainHalf(cur ^ 1)
	}
	// Nothing counted: no flip, no grace period (the common case).
	if busy, err := o.overflowPending(cur); err != nil || !busy {
		return nil, err
	}
	if err := o.FlowCtl.Update(key, uint64(cur^1), ebpf.UpdateExist); err != nil {
		return nil, fmt.Errorf("flip overflow half: %w", err)
	}
	if err := syncRCU(); err != nil {
		// Not drained now: the next drain finds this half left over.
		return nil, fmt.Errorf("wait for RCU before draining overflow: %w", err)
	}
	return o.drainHalf(cur)
}

// overflowPending says whether half gen holds any count.
func (o *Objects) overflowPending(gen uint32) (bool, error) {
	var fk VxtapOverflowKey
	var vk VxtapOverflowVniKey
	var per []VxtapOverflowVal
	it := o.OverflowFlows.Iterate()
	for it.Next(&fk, &per) {
		if fk.Gen == gen {
			return true, nil
		}
	}
	it2 := o.OverflowVnis.Iterate()
	for it2.Next(&vk, &per) {
		if vk.Gen == gen {
			return true, nil
		}
	}
	if err := errors.Join(it.Err(), it2.Err()); err != nil {
		return false, fmt.Errorf("read overflow aggregates: %w", err)
	}
	if err := o.OverflowAll.Lookup(gen, &per); err != nil {
		return false, fmt.Errorf("read overflow catch-all: %w", err)
	}
	for _, v := range per {
		if v.Packets > 0 {
			return true, nil
		}
	}
	return false, nil
}

// drainHalf reads and clears half gen, which no program run adds to.
func (o *Objects) drainHalf(gen uint32) ([]flow.Overflow, error) {
	base := o.clock.base()
	var out []flow.Overflow
	var fkeys []VxtapOverflowKey
	var vkeys []VxtapOverflowVniKey
	var fk VxtapOverflowKey
	var vk VxtapOverflowVniKey
	var per []VxtapOverflowVal
	it := o.OverflowFlows.Iterate()
	for it.Next(&fk, &per) {
		if fk.Gen != gen {
			continue
		}
		fkeys = append(fkeys, fk)
		dst := addrFrom(fk.Dst, fk.Family)
		k := flow.Key{VNI: fk.Vni, Src: unspecified(fk.Family), Dst: dst, Proto: fk.Proto, DPort: fk.Dport}
		out = append(out, flow.Overflow{Level: flow.OverflowByDest, Key: k, Counters: o.overflowCounters(per, base)})
	}
	it2 := o.OverflowVnis.Iterate()
	for it2.Next(&vk, &per) {
		if vk.Gen != gen {
			continue
		}
		vkeys = append(vkeys, vk)
		out = append(out, flow.Overflow{Level: flow.OverflowByVNI, Key: flow.Key{VNI: vk.Vni}, Counters: o.overflowCounters(per, base)})
	}
	if err := errors.Join(it.Err(), it2.Err()); err != nil {
		return nil, fmt.Errorf("read overflow aggregates: %w", err)
	}
	if err := o.OverflowAll.Lookup(gen, &per); err != nil {
		return nil, fmt.Errorf("read overflow catch-all: %w", err)
	}
	if c := o.overflowCounters(per, base); c.Packets > 0 {
		out = append(out, flow.Overflow{Level: flow.OverflowAll, Counters: c})
		zero := make([]VxtapOverflowVal, len(per))
		if err := o.OverflowAll.Update(gen, zero, ebpf.UpdateExist); err != nil {
			return nil, fmt.Errorf("clear overflow catch-all: %w", err)
		}
	}
	var errs error
	for i := range fkeys {
		if err := o.OverflowFlows.Delete(&fkeys[i]); err != nil {
			errs = errors.Join(errs, fmt.Errorf("clear overflow aggregate: %w", err))
		}
	}
	for i := range vkeys {
		if err := o.OverflowVnis.Delete(&vkeys[i]); err != nil {
			errs = errors.Join(errs, fmt.Errorf("clear overflow aggregate: %w", err))
		}
	}
	return out, errs
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
