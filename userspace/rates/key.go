package rates

import "github.com/vxtap/vxtap/userspace/flow"

// ckey is a flow key without pointers (netip.Addr holds one for its
// zone): hashed as plain memory and skipped by the garbage collector,
// which matters with a million entries.
type ckey [42]byte

// compact packs a key: source, destination, VNI, ports, protocol, and
// which addresses are IPv4 (so 10.0.0.1 and ::ffff:10.0.0.1 stay apart).
func compact(k flow.Key) ckey {
	var c ckey
	s, d := k.Src.As16(), k.Dst.As16()
	copy(c[0:16], s[:])
	copy(c[16:32], d[:])
	c[32], c[33], c[34], c[35] = byte(k.VNI>>24), byte(k.VNI>>16), byte(k.VNI>>8), byte(k.VNI)
	c[36], c[37] = byte(k.SPort>>8), byte(k.SPort)
	c[38], c[39] = byte(k.DPort>>8), byte(k.DPort)
	c[40] = k.Proto
	var fam byte
	if k.Src.Is4() {
		fam |= 1
	}
	if k.Dst.Is4() {
		fam |= 2
	}
	c[41] = fam
	return c
}
