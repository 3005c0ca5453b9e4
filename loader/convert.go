package loader

import (
	"net/netip"

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

// mergeCPUs folds the per-CPU slots of one flow, converting times with
// one clock base (taken once per walk, so flows of a sweep keep their order): sums, the earliest first,
// the latest last (and its mirror source), OR of the TCP flags.
func (o *Objects) mergeCPUs(vals []VxtapFlowValue, base int64) flow.Counters {
	var c flow.Counters
	var first, last uint64
	for i := range vals {
		v := &vals[i]
		if v.Packets == 0 {
			continue
		}
		c.Packets += v.Packets
		c.Bytes += v.Bytes
		c.TCPFlags |= v.TcpFlags
		c.EndSeen = c.EndSeen || v.EndSeen != 0
		if first == 0 || v.FirstNs < first {
			first = v.FirstNs
		}
		if v.LastNs >= last {
			last = v.LastNs
			c.MirrorSource = addrFrom(v.OuterSrc, v.OuterFamily)
		}
	}
	c.First = o.clock.wall(first, base)
	c.Last = o.clock.wall(last, base)
	return c
}

// flowKey builds a flow.Key; a helper for tests and tools.
func flowKey(vni uint32, src, dst netip.Addr, proto uint8, sport, dport uint16) flow.Key {
	return flow.Key{VNI: vni, Src: src, Dst: dst, Proto: proto, SPort: sport, DPort: dport}
}
