package loader

import (
	"net/netip"
	"sync/atomic"

	"github.com/vxtap/vxtap/userspace/flow"
)

// addrFrom reads a 16-byte address slot holding IPv4 (first 4 bytes) or IPv6.
func addrFrom(b [16]uint8, family uint8) netip.Addr {
	switch family {
	case 4:
		return netip.AddrFrom4([4]byte(b[:4]))
	case 6:
		return netip.AddrFrom16(b)
	}
	return netip.Addr{}
}

// addrTo writes an address into a 16-byte slot and returns its family.
func addrTo(a netip.Addr, b *[16]uint8) uint8 {
	if a.Is4() {
		v := a.As4()
		copy(b[:4], v[:])
		return 4
	}
	*b = a.As16()
	return 6
}

func keyFromBPF(k *VxtapFlowKey) flow.Key {
	return flow.Key{
		VNI:   k.Vni,
		Src:   addrFrom(k.Src, k.Family),
		Dst:   addrFrom(k.Dst, k.Family),
		Proto: k.Proto,
		SPort: k.Sport,
		DPort: k.Dport,
	}
}

func keyToBPF(k flow.Key) VxtapFlowKey {
	var bk VxtapFlowKey
	bk.Vni = k.VNI
	bk.Family = addrTo(k.Src, &bk.Src)
	addrTo(k.Dst, &bk.Dst)
	bk.Proto = k.Proto
	bk.Sport = k.SPort
	bk.Dport = k.DPort
	return bk
}

// slotCounters reads slot idx, converting times with one clock base
// (taken once per walk, so flows of a sweep keep their order).
func (o *Objects) slotCounters(idx uint32, base int64) flow.Counters {
	var c flow.Counters
	o.readCounters(&c, idx, base)
	return c
}

// readCounters is slotCounters into c, every field written: a walk reads
// a million slots into one Counters instead of copying each out. Every
// reader of a flow's packets and bytes comes here (slotTable.counts: the
// slot's plus its flow_shared entry's).
func (o *Objects) readCounters(c *flow.Counters, idx uint32, base int64) {
	s := &o.table.slots[idx]
	packets, bytes := o.table.counts(idx)
	*c = flow.Counters{
		Packets:      packets,
		Bytes:        bytes,
		TCPFlags:     uint8(atomic.LoadUint32(&s.TcpFlags)),
		EndSeen:      atomic.LoadUint32(&s.EndSeen) != 0,
		MirrorSource: addrFrom(s.OuterSrc, s.OuterFamily),
		Direction:    direction(VxtapFlowDir(s.Direction)),
		Rule:         s.Rule,
		Truncated:    s.Truncated != 0, // a byte, only ever 0 -> 1,
		First:        o.clock.wall(s.FirstNs, base),
		Last:         o.clock.wall(atomic.LoadUint64(&s.LastNs), base),
	}
}

// direction turns enum flow_dir into flow.Direction.
func direction(d VxtapFlowDir) flow.Direction {
	switch d {
	case VxtapFlowDirFLOW_DIR_INGRESS:
		return flow.DirIngress
	case VxtapFlowDirFLOW_DIR_EGRESS:
		return flow.DirEgress
	}
	return flow.DirUnknown
}

// flowKey builds a flow.Key; a helper for tests and tools.
func flowKey(vni uint32, src, dst netip.Addr, proto uint8, sport, dport uint16) flow.Key {
	return flow.Key{VNI: vni, Src: src, Dst: dst, Proto: proto, SPort: sport, DPort: dport}
}
