package aggregate

import (
	"encoding/binary"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/internal/shortkey"
)

// fkey is a flow key packed into plain bytes. flow.Key holds pointers
// (netip.Addr keeps one for its zone), so a map keyed by it is hashed
// field by field and scanned by the garbage collector; a byte array is
// hashed as memory and skipped. The data path's addresses carry no IPv6
// zone, so zones are not part of the packed key.
type fkey [42]byte

// pack fills an fkey: both addresses as 16 bytes, then VNI, ports,
// protocol and each address's family, so 10.0.0.1, ::ffff:10.0.0.1 and an
// invalid address all stay apart.
func pack(k *flow.Key) fkey {
	var p fkey
	packTo(&p, k)
	return p
}

// packTo is pack into p, for the sweep's walk: with no copy of the
// result and each address written whole (shortkey.Put16), it costs a
// third of As16 and copies.
func packTo(p *fkey, k *flow.Key) {
	fs := shortkey.Put16((*[16]byte)(p[0:16]), k.Src)
	fd := shortkey.Put16((*[16]byte)(p[16:32]), k.Dst)
	binary.LittleEndian.PutUint32(p[32:36], k.VNI)
	binary.LittleEndian.PutUint16(p[36:38], k.SPort)
	binary.LittleEndian.PutUint16(p[38:40], k.DPort)
	p[40] = k.Proto
	p[41] = fs | fd<<2
}

// unpack is the flow key p was packed from.
func (p *fkey) unpack() flow.Key {
	k := flow.Key{
		VNI:   binary.LittleEndian.Uint32(p[32:36]),
		SPort: binary.LittleEndian.Uint16(p[36:38]),
		DPort: binary.LittleEndian.Uint16(p[38:40]),
		Proto: p[40],
	}
	k.Src = shortkey.Addr([16]byte(p[0:16]), p[41]&3)
	k.Dst = shortkey.Addr([16]byte(p[16:32]), p[41]>>2&3)
	return k
}
