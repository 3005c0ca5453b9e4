// Package keyindex finds per-flow state by flow key with 4 bytes of index
// per entry, at most three quarters full (5.3 to 11 bytes a flow), where
// a Go map keyed by a 42-byte packed key costs 60 to 120 bytes a flow.
// The keys stay in the caller's slots: an entry is a slot number and as
// many bits of the key's hash as the slot number leaves free, so a probe
// reads the caller's slot only when those bits agree.
//
// Hashes come from hash/maphash with a seed chosen per process: flow keys
// are chosen by whoever sends packets, and a fixed hash would let them
// pile every key onto one probe chain.
package keyindex

import (
	"hash/maphash"
	"math/bits"
	"runtime"

	"github.com/vxtap/vxtap/userspace/internal/offheap"
)

// Index maps hashes to slot numbers with linear probing and
// backward-shift deletion (no tombstones, so probe chains never rot).
// It is not safe for concurrent use.
type Index struct {
	seed     maphash.Seed
	hashOf   func(slot uint32) uint64 // the hash of the key a slot holds
	tab      []uint32                 // tag<<slotBits | slot+1; 0 is empty; off the heap
	arena    *offheap.Arena
	mask     uint64
	slotBits uint // low bits of an entry that hold slot+1; the rest is a tag
	n        int
}

// minSize is the smallest table, in entries.
const minSize = 16

// New returns an index sized for about capacity entries. hashOf gives
// the hash (Hash) of the key a slot holds: growing the table and
// deleting need it, as entries keep only part of the hash.
func New(capacity int, hashOf func(slot uint32) uint64) *Index {
	x := &Index{seed: maphash.MakeSeed(), hashOf: hashOf, slotBits: uint(max(bits.Len(uint(capacity)), 16)), arena: offheap.New()}
	runtime.AddCleanup(x, (*offheap.Arena).Free, x.arena)
	x.alloc(sizeFor(capacity))
	return x
}

// sizeFor is the power of two that holds n entries at most 3/4 full.
func sizeFor(n int) int {
	size := minSize
	for size*3 < 4*n {
		size *= 2
	}
	return size
}

func (x *Index) alloc(size int) {
	x.tab = offheap.Make[uint32](x.arena, size)[:size]
	x.mask = uint64(size - 1)
}

// Hash is the index's hash of a key's bytes.
func (x *Index) Hash(key []byte) uint64 { return maphash.Bytes(x.seed, key) }

// Len is the number of entries.
func (x *Index) Len() int { return x.n }

// tag is the part of h an entry keeps (0 when slot numbers take all 32 bits).
func (x *Index) tag(h uint64) uint32 {
	if x.slotBits >= 32 {
		return 0
	}
	return uint32(h>>32) << x.slotBits
}

func (x *Index) entry(h uint64, slot uint32) uint32 { return x.tag(h) | (slot + 1) }

// Find returns the slot with hash h for which match holds.
func (x *Index) Find(h uint64, match func(slot uint32) bool) (uint32, bool) {
	tag, low := x.tag(h), uint32(1)<<x.slotBits-1
	if x.slotBits >= 32 {
		low = ^uint32(0)
	}
	// Bounded: the table is at most 3/4 full, so an empty entry ends the
	// chain within len(tab) steps (a few on average).
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		e := x.tab[i]
		if e == 0 {
			return 0, false
		}
		if e&^low == tag && match(e&low-1) {
			return e&low - 1, true
		}
	}
}

// Touch loads the entry where a probe for hash h starts and returns it,
// so a caller can start the cache misses of many lookups at once (the
// CPU overlaps independent loads) before making them one by one: a table
// of a million flows misses the cache on nearly every probe. The caller
// keeps the result (e.g. ORs it into a sink) so the load is not dropped.
func (x *Index) Touch(h uint64) uint32 { return x.tab[h&x.mask] }

// slotOf is the slot an entry holds.
func (x *Index) slotOf(e uint32) uint32 {
	if x.slotBits >= 32 {
		return e - 1
	}
	return e&(uint32(1)<<x.slotBits-1) - 1
}

// Insert adds slot under hash h; the caller knows it is not there yet.
func (x *Index) Insert(h uint64, slot uint32) {
	if uint64(slot)+1 >= 1<<x.slotBits && x.slotBits < 32 {
		x.rebuild(len(x.tab), uint(bits.Len32(slot+1)))
	}
	if 4*(x.n+1) > 3*len(x.tab) {
		x.rebuild(2*len(x.tab), x.slotBits)
	}
	x.put(h, x.entry(h, slot))
	x.n++
}

func (x *Index) put(h uint64, e uint32) {
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		if x.tab[i] == 0 {
			x.tab[i] = e
			return
		}
	}
}

// rebuild places every entry again in a table of size entries whose
// entries keep slotBits bits of slot number.
func (x *Index) rebuild(size int, slotBits uint) {
	old, oldBits := x.tab, x.slotBits
	x.alloc(size)
	x.slotBits = slotBits
	for _, e := range old {
		if e != 0 {
			slot := e - 1
			if oldBits < 32 {
				slot = e&(uint32(1)<<oldBits-1) - 1
			}
			h := x.hashOf(slot)
			x.put(h, x.entry(h, slot))
		}
	}
	offheap.Drop(x.arena, old)
}

// Delete removes slot, stored under hash h, if it is there.
func (x *Index) Delete(h uint64, slot uint32) {
	want := x.entry(h, slot)
	i := h & x.mask
	for ; x.tab[i] != want; i = (i + 1) & x.mask {
		if x.tab[i] == 0 {
			return
		}
	}
	x.n--
	// Backward shift: move later entries of the chain into the hole
	// when their home is not between the hole and where they sit.
	for j := (i + 1) & x.mask; x.tab[j] != 0; j = (j + 1) & x.mask {
		home := x.hashOf(x.slotOf(x.tab[j])) & x.mask
		if (j-home)&x.mask >= (j-i)&x.mask {
			x.tab[i] = x.tab[j]
			i = j
		}
	}
	x.tab[i] = 0
}

// Reset empties the index, keeping its table.
func (x *Index) Reset() {
	clear(x.tab)
	x.n = 0
}
