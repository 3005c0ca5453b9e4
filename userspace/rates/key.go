package rates

import (
	"net/netip"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/internal/shortkey"
)

// ckey is a flow key without pointers (netip.Addr holds one for its
// zone): hashed as plain memory and skipped by the garbage collector,
// which matters with a million entries.
type ckey [42]byte

// compact packs a key: source, destination, VNI, ports, protocol, and
// each address's family (so 10.0.0.1 and ::ffff:10.0.0.1 stay apart).
func compact(k flow.Key) ckey {
	var c ckey
	compactTo(&c, &k)
	return c
}

// compactTo is compact into c, for the sweep's walk: with no copies and
// each address written whole (shortkey.Put16), it costs a third of
// As16 and copies.
func compactTo(c *ckey, k *flow.Key) {
	fs := shortkey.Put16((*[16]byte)(c[0:16]), k.Src)
	fd := shortkey.Put16((*[16]byte)(c[16:32]), k.Dst)
	c[32], c[33], c[34], c[35] = byte(k.VNI>>24), byte(k.VNI>>16), byte(k.VNI>>8), byte(k.VNI)
	c[36], c[37] = byte(k.SPort>>8), byte(k.SPort)
	c[38], c[39] = byte(k.DPort>>8), byte(k.DPort)
	c[40] = k.Proto
	c[41] = fs | fd<<2
}

// packed is c as the key store takes it.
func (c *ckey) packed() *shortkey.Packed { return (*shortkey.Packed)(c) }

// key unpacks what compact packed.
func (c *ckey) key() flow.Key {
	return flow.Key{
		VNI:   uint32(c[32])<<24 | uint32(c[33])<<16 | uint32(c[34])<<8 | uint32(c[35]),
		Src:   shortkey.Addr([16]byte(c[0:16]), c[41]&3),
		Dst:   shortkey.Addr([16]byte(c[16:32]), c[41]>>2&3),
		Proto: c[40],
		SPort: uint16(c[36])<<8 | uint16(c[37]),
		DPort: uint16(c[38])<<8 | uint16(c[39]),
	}
}

// keyOf is the flow key of a short key: read from it directly when it
// holds its addresses (no IPv6), which is what views do a million times.
func keyOf(st *shortkey.Store, k *shortkey.Key) flow.Key {
	if !k.Short() {
		p := ckey(st.Packed(k))
		return p.key()
	}
	return flow.Key{ // k[8:18] is ckey[32:42]
		VNI:   uint32(k[8])<<24 | uint32(k[9])<<16 | uint32(k[10])<<8 | uint32(k[11]),
		Src:   addr4([4]byte(k[0:4]), k[17]&3),
		Dst:   addr4([4]byte(k[4:8]), k[17]>>2&3),
		Proto: k[16],
		SPort: uint16(k[12])<<8 | uint16(k[13]),
		DPort: uint16(k[14])<<8 | uint16(k[15]),
	}
}

// addr4 is the IPv4 address b, or no address (family 0).
func addr4(b [4]byte, fam byte) netip.Addr {
	if fam == 1 {
		return netip.AddrFrom4(b)
	}
	return netip.Addr{}
}

// ident is what a tracked flow is: its key (kept short: shortkey), and
// the mirror source and direction the data path gave it (24 bytes). It never changes while the
// slot holds the flow (a flow whose mirror source changes moves to a new
// slot), so readers of a snapshot read it without locks.
type ident struct {
	key    shortkey.Key // in the tracker's (or snapshot's) key store
	dir    flow.Direction
	mirror uint32 // in the tracker's mirror table: a handful of ENIs serve a million flows
}

// mirrorAddr is a mirror source as the mirror table keeps it.
type mirrorAddr struct {
	a   [16]byte
	fam uint8 // as shortkey.Family says
}

func mirrorOf(a netip.Addr) mirrorAddr { return mirrorAddr{a: a.As16(), fam: shortkey.Family(a)} }

func (m *mirrorAddr) addr() netip.Addr { return shortkey.Addr(m.a, m.fam) }

// mirrorEntry is a mirror source and how many slots (live, or freed but
// still shown to a reader) refer to it.
type mirrorEntry struct {
	mirrorAddr
	refs uint32
}

// mirrorTable interns mirror sources. An entry is reused only once no
// slot refers to it, so a reader's slots always find theirs unchanged.
type mirrorTable struct {
	entries []mirrorEntry
	byAddr  map[mirrorAddr]uint32
	free    []uint32
	// last is the source the last check found in entry lastID (valid
	// while lastOK): a handful of ENIs serve a million flows, so most
	// checks of a sweep compare two addresses instead of rebuilding 16
	// bytes. Only the sweep goroutine uses them; release forgets a freed
	// entry.
	last   netip.Addr
	lastID uint32
	lastOK bool
}

func (m *mirrorTable) acquire(a netip.Addr) uint32 {
	ma := mirrorOf(a)
	if id, ok := m.byAddr[ma]; ok {
		m.entries[id].refs++
		return id
	}
	if m.byAddr == nil {
		m.byAddr = map[mirrorAddr]uint32{}
	}
	var id uint32
	if n := len(m.free); n > 0 {
		id = m.free[n-1]
		m.free = m.free[:n-1]
		m.entries[id] = mirrorEntry{mirrorAddr: ma, refs: 1}
	} else {
		id = uint32(len(m.entries))
		m.entries = append(m.entries, mirrorEntry{mirrorAddr: ma, refs: 1})
	}
	m.byAddr[ma] = id
	return id
}

func (m *mirrorTable) release(id uint32) {
	e := &m.entries[id]
	if e.refs--; e.refs == 0 {
		if m.lastID == id {
			m.lastOK = false // the entry may be reused for another source
		}
		delete(m.byAddr, e.mirrorAddr)
		m.free = append(m.free, id)
	}
}

// is says whether entry id is mirror source a.
func (m *mirrorTable) is(id uint32, a netip.Addr) bool {
	if m.lastOK && m.lastID == id && m.last == a {
		return true
	}
	if m.entries[id].mirrorAddr != mirrorOf(a) {
		return false
	}
	m.last, m.lastID, m.lastOK = a, id, true
	return true
}
