// Package shortkey stores packed flow keys in 18 bytes instead of 42.
// A packed key (as the aggregator and the rate tracker pack them) is
// the source and destination as 16 bytes each, then 10 bytes whose last
// holds both addresses' families (bits 0-1 the source's, 2-3 the
// destination's: 0 none, 1 IPv4, 2 IPv6). When neither address is IPv6,
// as for nearly every VPC flow, their 16 bytes are fixed but for the
// last 4, so 4 bytes each are kept: at a million flows that is 23 MB
// less per structure holding keys. A key with an IPv6 address keeps
// the numbers of its two addresses in the store's address table, where
// each distinct address is kept once (off the Go heap) for every key
// that has it: flows share addresses (a mirrored ENI talks to many
// peers, a peer opens many flows), so a million IPv6 flows cost a few
// MB there instead of 32 bytes each.
package shortkey

import (
	"net/netip"
	"runtime"

	"github.com/vxtap/vxtap/userspace/internal/keyindex"
	"github.com/vxtap/vxtap/userspace/internal/offheap"
)

// Packed is a flow key as its owner packed it.
type Packed = [42]byte

// Key is a Packed kept short: [0:4] the source's last 4 bytes, or its
// number in the address table; [4:8] the same for the destination;
// [8:18] the packed key's last 10 bytes.
type Key [18]byte

// Family is an address's family as a packed key's last byte holds it: 0
// for an invalid address, 1 for IPv4, 2 for IPv6.
func Family(a netip.Addr) byte {
	switch {
	case a.Is4():
		return 1
	case a.Is6():
		return 2
	}
	return 0
}

// Addr is the address a packed key holds in 16 bytes with family fam
// (as Family gives it).
func Addr(b [16]byte, fam byte) netip.Addr {
	switch fam {
	case 1:
		return netip.AddrFrom16(b).Unmap()
	case 2:
		return netip.AddrFrom16(b)
	}
	return netip.Addr{}
}

// Put16 writes a into dst as 16 bytes, as a.As16() gives them (IPv4
// IPv4-mapped, no address all zero), and returns its Family. It is what
// packing a key costs most: As16 of an IPv4 address, the common case,
// costs several times As4 and a constant prefix.
func Put16(dst *[16]byte, a netip.Addr) byte {
	switch {
	case a.Is4():
		*(*[12]byte)(dst[:12]) = v4
		*(*[4]byte)(dst[12:16]) = a.As4()
		return 1
	case a.Is6():
		*dst = a.As16()
		return 2
	}
	*dst = [16]byte{}
	return 0
}

// v4 is the first 12 bytes of an IPv4 address as 16 bytes (netip's
// As16: IPv4-mapped IPv6).
var v4 = [12]byte{10: 0xff, 11: 0xff}

// short says whether p has no IPv6 address.
func short(p *Packed) bool { return p[41]&3 != 2 && p[41]>>2&3 != 2 }

// Store holds the addresses of keys with IPv6 addresses, each distinct
// address once with the number of keys that have it (about 28 bytes an
// address: itself, its count and its place in the index). It is not
// safe for concurrent use while keys are added or dropped; reading keys
// (Packed, Equal) while none are is.
type Store struct {
	arena *offheap.Arena
	addrs [][16]byte // by number; off the heap
	refs  []uint32   // by number: how many key addresses are it, 0 when free; off the heap
	index *keyindex.Index
	free  []uint32 // numbers to reuse
	long  int      // keys with numbers
}

// NewStore returns an empty store.
func NewStore() *Store {
	s := &Store{arena: offheap.New()}
	runtime.AddCleanup(s, (*offheap.Arena).Free, s.arena)
	s.index = keyindex.New(0, func(i uint32) uint64 { return s.index.Hash(s.addrs[i][:]) })
	return s
}

// intern returns the number of address a, counting one more key address
// that is it.
func (s *Store) intern(a [16]byte) uint32 {
	h := s.index.Hash(a[:])
	if i, ok := s.index.Find(h, func(i uint32) bool { return s.addrs[i] == a }); ok {
		s.refs[i]++
		return i
	}
	var i uint32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
		s.addrs[i], s.refs[i] = a, 1
	} else {
		i = uint32(len(s.addrs))
		s.addrs = offheap.Append(s.arena, s.addrs, a)
		s.refs = offheap.Append(s.arena, s.refs, 1)
	}
	s.index.Insert(h, i)
	return i
}

// release counts one key address that is address i less, and frees it
// after the last.
func (s *Store) release(i uint32) {
	if s.refs[i]--; s.refs[i] == 0 {
		s.index.Delete(s.index.Hash(s.addrs[i][:]), i)
		s.free = append(s.free, i)
	}
}

// Put makes the short key of p, numbering its addresses in the address
// table when p has an IPv6 address (Drop gives them back).
func (s *Store) Put(p *Packed) Key {
	var k Key
	copy(k[8:], p[32:])
	if short(p) {
		copy(k[0:4], p[12:16])
		copy(k[4:8], p[28:32])
		return k
	}
	src, dst := s.intern([16]byte(p[0:16])), s.intern([16]byte(p[16:32]))
	putNum(k[0:4], src)
	putNum(k[4:8], dst)
	s.long++
	return k
}

func putNum(b []byte, i uint32) {
	b[0], b[1], b[2], b[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
}

func num(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Short says whether k holds its addresses itself (neither is IPv6):
// then k[0:4] and k[4:8] are their last 4 bytes.
func (k *Key) Short() bool { return k[17]&3 != 2 && k[17]>>2&3 != 2 }

func (k *Key) short() bool { return k.Short() }

// addr fills 16 bytes of an address of family fam whose last 4 bytes are b.
func addr(dst []byte, b []byte, fam byte) {
	switch fam {
	case 1:
		copy(dst, v4[:])
		copy(dst[12:16], b)
	default: // no address: all zero
		clear(dst[:16])
	}
}

// Packed is the packed key k was made from.
func (s *Store) Packed(k *Key) Packed {
	var p Packed
	copy(p[32:], k[8:])
	if k.short() {
		addr(p[0:16], k[0:4], k[17]&3)
		addr(p[16:32], k[4:8], k[17]>>2&3)
		return p
	}
	*(*[16]byte)(p[0:16]) = s.addrs[num(k[0:4])]
	*(*[16]byte)(p[16:32]) = s.addrs[num(k[4:8])]
	return p
}

// Equal says whether k is the short key of p.
func (s *Store) Equal(k *Key, p *Packed) bool {
	if [10]byte(k[8:18]) != [10]byte(p[32:42]) {
		return false
	}
	if k.short() { // the families agree, and fix all but the last 4 bytes of each address
		return [4]byte(k[0:4]) == [4]byte(p[12:16]) && [4]byte(k[4:8]) == [4]byte(p[28:32])
	}
	return s.addrs[num(k[0:4])] == [16]byte(p[0:16]) && s.addrs[num(k[4:8])] == [16]byte(p[16:32])
}

// Drop gives back k's addresses' numbers, if it has them.
func (s *Store) Drop(k *Key) {
	if !k.short() {
		s.release(num(k[0:4]))
		s.release(num(k[4:8]))
		s.long--
	}
}

// Release unmaps address tables outgrown since the last call: call it
// where nothing holds one.
func (s *Store) Release() { s.arena.Release() }

// Long is how many keys have their addresses numbered.
func (s *Store) Long() int { return s.long }

// Addrs is how many distinct addresses the address table holds.
func (s *Store) Addrs() int { return len(s.addrs) - len(s.free) }
