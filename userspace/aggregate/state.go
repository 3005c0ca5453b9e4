package aggregate

import (
	"runtime"

	"github.com/vxtap/vxtap/userspace/internal/keyindex"
	"github.com/vxtap/vxtap/userspace/internal/offheap"
	"github.com/vxtap/vxtap/userspace/internal/shortkey"
)

// slot is what earlier records of one flow already carried: 64 bytes. It
// holds no pointers, so a million of them are one array the garbage
// collector never sees (it is off the heap: newStates).
type slot struct {
	packets    uint64
	bytes      uint64
	lastRecord stamp        // when the last record was emitted (or the flow started)
	lastPacket int64        // wall ns: Last of the last record
	key        shortkey.Key // the packed key (fkey), short: states.keys holds IPv6 addresses
	flags      uint8        // slotUsed, slotOdd
	zone       uint8        // location of lastPacket, an index into clock.zones
	pos        uint32       // place in the walk of the sweep that last saw it; noPos when not walked then
}

// slot flags.
const (
	slotUsed = 1 << iota // the slot holds a flow
	// slotOdd: the sweep that last saw the flow in the table (or was the
	// last one when it became known) had an odd number. A flow is always
	// last seen by the current sweep or the one before (a sweep forgets
	// those it did not see), so the parity tells which.
	slotOdd
)

func (sl *slot) used() bool { return sl.flags&slotUsed != 0 }

func (sl *slot) odd() bool { return sl.flags&slotOdd != 0 }

// setOdd marks the slot seen by a sweep of odd's parity.
func (sl *slot) setOdd(odd bool) {
	sl.flags &^= slotOdd
	if odd {
		sl.flags |= slotOdd
	}
}

const noPos = ^uint32(0)

// states holds every known flow's slot, found through an index of the
// packed flow keys (about 8 bytes a flow where a Go map cost over 60),
// and counts how many of them the current sweep has seen so a sweep
// that met every flow skips the search for evicted ones.
type states struct {
	index  *keyindex.Index
	arena  *offheap.Arena  // slots, order and walk live there, off the Go heap
	keys   *shortkey.Store // the IPv6 addresses of the slots' keys
	slots  []slot
	free   []uint32 // slots to reuse
	sweep  uint64   // number of the current (or last) sweep
	marked int      // used slots the current sweep saw

	// order lists slots in the last sweep's walk order, walk is this
	// sweep's. A BPF hash map walks in the same order every time (by
	// bucket), so the next flow is most likely the one after the last
	// match: looking there first skips the map lookup, and its cache
	// misses, for nearly every flow.
	order, walk []uint32
	cursor      int // where in order the next flow is expected
	misses      int // wrong guesses in a row
}

// newStates sizes the slots for capacity flows: reserved, not touched,
// so unused room costs address space, not memory, and a table filling
// up never leaves grown-out copies behind. They are off the Go heap
// (package offheap), where they add nothing to the garbage collector's
// goal.
func newStates(capacity int) *states {
	a := offheap.New()
	s := &states{arena: a, keys: shortkey.NewStore(), slots: offheap.Make[slot](a, capacity), order: offheap.Make[uint32](a, capacity), walk: offheap.Make[uint32](a, capacity)}
	runtime.AddCleanup(s, (*offheap.Arena).Free, a)
	s.index = keyindex.New(capacity, func(i uint32) uint64 {
		k := s.key(i)
		return s.hash(&k)
	})
	return s
}

// key is slot i's packed key.
func (s *states) key(i uint32) fkey { return fkey(s.keys.Packed(&s.slots[i].key)) }

// len is the number of known flows.
func (s *states) len() int { return s.index.Len() }

func (s *states) hash(k *fkey) uint64 { return s.index.Hash(k[:]) }

// begin starts sweep n.
func (s *states) begin(n uint64) {
	s.arena.Release() // nothing points into outgrown arrays between sweeps
	s.keys.Release()
	s.sweep, s.marked = n, 0
	s.walk = s.walk[:0]
	s.cursor, s.misses = 0, 0
}

// end closes the sweep's walk: its order is the next sweep's guess.
func (s *states) end() { s.order, s.walk = s.walk, s.order }

// get returns a known flow's slot index.
func (s *states) get(k *fkey) (uint32, bool) { return s.getHashed(k, s.hash(k)) }

// getHashed is get for a key whose hash h is known.
func (s *states) getHashed(k *fkey, h uint64) (uint32, bool) {
	return s.index.Find(h, func(i uint32) bool { return s.keys.Equal(&s.slots[i].key, (*shortkey.Packed)(k)) })
}

// find is get for a flow met by the sweep's walk: it checks where the last
// walk order expects the flow first. After a run of wrong guesses (the
// order changed wholesale) it guesses only every 16th flow, so a shuffled
// walk does not pay a wasted cache miss per flow.
func (s *states) find(k *fkey) (uint32, bool) {
	if s.cursor < len(s.order) && (s.misses < 4 || s.misses%16 == 0) {
		i := s.order[s.cursor]
		if sl := &s.slots[i]; sl.used() && s.keys.Equal(&sl.key, (*shortkey.Packed)(k)) {
			s.cursor++
			s.misses = 0
			return i, true
		}
	}
	s.misses++
	i, ok := s.get(k)
	if ok && !s.seenNow(&s.slots[i]) && s.slots[i].pos != noPos {
		s.cursor = int(s.slots[i].pos) + 1 // resynchronise after inserts and removals
	}
	return i, ok
}

// add makes a slot for a new flow, seen by sweep seen, reusing freed
// slots first.
func (s *states) add(k fkey, seen uint64) uint32 { return s.addHashed(k, seen, s.hash(&k)) }

// addHashed is add for a key whose hash h is known.
func (s *states) addHashed(k fkey, seen uint64, h uint64) uint32 {
	var i uint32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		s.slots = offheap.Append(s.arena, s.slots, slot{})
		i = uint32(len(s.slots) - 1)
	}
	s.slots[i] = slot{key: s.keys.Put((*shortkey.Packed)(&k)), flags: slotUsed, pos: noPos}
	s.slots[i].setOdd(seen&1 == 1)
	s.index.Insert(h, i)
	if seen == s.sweep {
		s.marked++
	}
	return i
}

// seenNow says whether the current sweep saw the slot.
func (s *states) seenNow(sl *slot) bool { return sl.odd() == (s.sweep&1 == 1) }

// markAll makes every known flow count as seen by the current sweep: after
// a walk that failed part way, those it did not reach have not vanished.
func (s *states) markAll() {
	for i := range s.slots {
		if sl := &s.slots[i]; sl.used() {
			sl.setOdd(s.sweep&1 == 1)
		}
	}
	s.marked = s.len()
}

// walked records that this sweep's walk met slot i: seen now, and its
// place for the next sweep's guesses.
func (s *states) walked(i uint32) {
	sl := &s.slots[i]
	if int(sl.pos) < len(s.walk) && s.walk[sl.pos] == i {
		return // met twice in one walk (the map changed under it): keep the first place
	}
	if !s.seenNow(sl) {
		sl.setOdd(s.sweep&1 == 1)
		s.marked++
	}
	sl.pos = uint32(len(s.walk))
	s.walk = offheap.Append(s.arena, s.walk, i)
}

// drop forgets slot i.
func (s *states) drop(i uint32) {
	sl := &s.slots[i]
	if s.seenNow(sl) {
		s.marked--
	}
	k := s.key(i)
	s.index.Delete(s.hash(&k), i)
	s.keys.Drop(&sl.key)
	*sl = slot{}
	s.free = append(s.free, i)
}

// dropUnseen forgets every flow the current sweep did not see and returns
// how many went. When the sweep saw them all it returns at once.
func (s *states) dropUnseen() int {
	if s.marked == s.len() {
		return 0
	}
	n := 0
	for i := range s.slots {
		if sl := &s.slots[i]; sl.used() && !s.seenNow(sl) {
			s.drop(uint32(i))
			n++
		}
	}
	return n
}
