// Package keyindex finds per-flow state by flow key with 8 bytes of index
// per entry at most half full, where a Go map keyed by a 42-byte packed
// key costs 60 to 120 bytes an entry. The keys themselves stay in the
// caller's slots: the index holds slot numbers and a 32-bit hash tag, so
// a probe reads the caller's slot only when the tags agree.
//
// Hashes come from hash/maphash with a seed chosen per process: flow keys
// are chosen by whoever sends packets, and a fixed hash would let them
// pile every key onto one probe chain.
package keyindex

import "hash/maphash"

// Index maps hashes to slot numbers with linear probing and
// backward-shift deletion (no tombstones, so probe chains never rot).
// It is not safe for concurrent use.
type Index struct {
	seed maphash.Seed
	tab  []uint64 // tag<<32 | slot+1; 0 is empty
	mask uint32
	n    int
}

// minSize is the smallest table, in entries.
const minSize = 16

// New returns an index sized for about capacity entries.
func New(capacity int) *Index {
	x := &Index{seed: maphash.MakeSeed()}
	x.alloc(sizeFor(capacity))
	return x
}

// sizeFor is the power of two that holds n entries at most half full.
func sizeFor(n int) int {
	size := minSize
	for size < 2*n {
		size *= 2
	}
	return size
}

func (x *Index) alloc(size int) {
	x.tab = make([]uint64, size)
	x.mask = uint32(size - 1)
}

// Hash is the index's hash of a key's bytes.
func (x *Index) Hash(key []byte) uint32 { return uint32(maphash.Bytes(x.seed, key)) }

// Len is the number of entries.
func (x *Index) Len() int { return x.n }

// Find returns the slot with hash h for which match holds.
func (x *Index) Find(h uint32, match func(slot uint32) bool) (uint32, bool) {
	// Bounded: the table is at most half full, so an empty entry ends
	// the chain within len(tab) steps.
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		e := x.tab[i]
		if e == 0 {
			return 0, false
		}
		if uint32(e>>32) == h && match(uint32(e)-1) {
			return uint32(e) - 1, true
		}
	}
}

// Insert adds slot under hash h; the caller knows it is not there yet.
func (x *Index) Insert(h, slot uint32) {
	if 2*(x.n+1) > len(x.tab) {
		x.grow()
	}
	x.put(uint64(h)<<32 | uint64(slot+1))
	x.n++
}

func (x *Index) put(e uint64) {
	for i := uint32(e>>32) & x.mask; ; i = (i + 1) & x.mask {
		if x.tab[i] == 0 {
			x.tab[i] = e
			return
		}
	}
}

// grow doubles the table; tags are the hashes' low bits, so entries are
// placed again without the keys.
func (x *Index) grow() {
	old := x.tab
	x.alloc(2 * len(old))
	for _, e := range old {
		if e != 0 {
			x.put(e)
		}
	}
}

// Delete removes slot, stored under hash h, if it is there.
func (x *Index) Delete(h, slot uint32) {
	want := uint64(h)<<32 | uint64(slot+1)
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
		home := uint32(x.tab[j]>>32) & x.mask
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
