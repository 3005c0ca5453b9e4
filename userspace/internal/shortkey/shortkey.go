// Package shortkey stores packed flow keys in 18 bytes instead of 42.
// A packed key (as the aggregator and the rate tracker pack them) is
// the source and destination as 16 bytes each, then 10 bytes whose last
// holds both addresses' families (bits 0-1 the source's, 2-3 the
// destination's: 0 none, 1 IPv4, 2 IPv6). When neither address is IPv6,
// as for nearly every VPC flow, their 16 bytes are fixed but for the
// last 4, so 4 bytes each are kept; a key with an IPv6 address keeps
// its addresses in a side table (off the Go heap) and their place there.
// At a million flows that is 23 MB less per structure holding keys.
package shortkey

import (
	"runtime"

	"github.com/vxtap/vxtap/userspace/internal/offheap"
)

// Packed is a flow key as its owner packed it.
type Packed = [42]byte

// Key is a Packed kept short: [0:4] the source's last 4 bytes, or the
// side table place of both addresses; [4:8] the destination's last 4
// bytes; [8:18] the packed key's last 10 bytes.
type Key [18]byte

// v4 is the first 12 bytes of an IPv4 address as 16 bytes (netip's
// As16: IPv4-mapped IPv6).
var v4 = [12]byte{10: 0xff, 11: 0xff}

// short says whether p has no IPv6 address.
func short(p *Packed) bool { return p[41]&3 != 2 && p[41]>>2&3 != 2 }

// Store holds the addresses of keys with IPv6 addresses. It is not safe
// for concurrent use while keys are added or dropped.
type Store struct {
	arena *offheap.Arena
	long  [][32]byte // source and destination; off the heap
	free  []uint32
}

// NewStore returns an empty store.
func NewStore() *Store {
	s := &Store{arena: offheap.New()}
	runtime.AddCleanup(s, (*offheap.Arena).Free, s.arena)
	return s
}

// Put makes the short key of p, taking a side table place when p has an
// IPv6 address (Drop gives it back).
func (s *Store) Put(p *Packed) Key {
	var k Key
	copy(k[8:], p[32:])
	if short(p) {
		copy(k[0:4], p[12:16])
		copy(k[4:8], p[28:32])
		return k
	}
	var i uint32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		i = uint32(len(s.long))
		s.long = offheap.Append(s.arena, s.long, [32]byte{})
	}
	s.long[i] = [32]byte(p[0:32])
	k[0], k[1], k[2], k[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
	return k
}

// Short says whether k holds its addresses itself (neither is IPv6):
// then k[0:4] and k[4:8] are their last 4 bytes.
func (k *Key) Short() bool { return k[17]&3 != 2 && k[17]>>2&3 != 2 }

func (k *Key) short() bool { return k.Short() }

func (k *Key) place() uint32 {
	return uint32(k[0])<<24 | uint32(k[1])<<16 | uint32(k[2])<<8 | uint32(k[3])
}

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
	copy(p[0:32], s.long[k.place()][:])
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
	return s.long[k.place()] == [32]byte(p[0:32])
}

// Drop gives back k's side table place, if it has one.
func (s *Store) Drop(k *Key) {
	if !k.short() {
		s.free = append(s.free, k.place())
	}
}

// Release unmaps side tables outgrown since the last call: call it where
// nothing holds one.
func (s *Store) Release() { s.arena.Release() }

// Long is how many keys hold a side table place.
func (s *Store) Long() int { return len(s.long) - len(s.free) }
