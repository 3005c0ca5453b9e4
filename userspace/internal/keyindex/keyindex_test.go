package keyindex

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestAgainstMap drives the index and a Go map with the same random
// inserts and deletes, with few distinct hash bits so chains collide and
// wrap, and checks every key after each step.
func TestAgainstMap(t *testing.T) {
	for _, hashBits := range []uint{32, 9} {
		rnd := rand.New(rand.NewPCG(1, uint64(hashBits)))
		keys := map[uint32]uint32{} // slot -> key
		ref := map[uint32]uint32{}  // key -> slot
		var x *Index
		hash := func(k uint32) uint64 { // the index's hash, cut to hashBits
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], k)
			return x.Hash(b[:]) & (1<<hashBits - 1)
		}
		x = New(0, func(s uint32) uint64 { return hash(keys[s]) })
		find := func(k uint32) (uint32, bool) {
			return x.Find(hash(k), func(s uint32) bool { return keys[s] == k })
		}
		next := uint32(65000) // slot numbers outgrow the first entry layout (16 bits)
		for step := range 8000 {
			k := rnd.Uint32N(3000)
			if s, ok := ref[k]; ok && rnd.IntN(2) == 0 {
				x.Delete(hash(k), s)
				delete(ref, k)
				delete(keys, s)
			} else if !ok {
				keys[next], ref[k] = k, next
				x.Insert(hash(k), next)
				next++
			}
			if x.Len() != len(ref) {
				t.Fatalf("step %d: len %d, want %d", step, x.Len(), len(ref))
			}
			if step%197 == 0 {
				for k := range uint32(3000) {
					s, ok := find(k)
					ws, wok := ref[k]
					if ok != wok || s != ws {
						t.Fatalf("bits %d step %d key %d: (%d, %v), want (%d, %v)", hashBits, step, k, s, ok, ws, wok)
					}
				}
			}
		}
		x.Reset()
		if _, ok := find(1); ok || x.Len() != 0 {
			t.Fatal("Reset left entries")
		}
	}
}

// The index costs 10.7 bytes an entry at most (4 bytes, at least 3/8 full).
func TestSize(t *testing.T) {
	h := func(i uint32) uint64 { return uint64(i) * 0x9E3779B97F4A7C15 }
	x := New(0, h)
	for i := range uint32(1 << 20) {
		x.Insert(h(i), i)
	}
	if per := float64(4*len(x.tab)) / float64(x.Len()); per > 4*8/3.0 {
		t.Errorf("%.1f bytes per entry", per)
	}
}
