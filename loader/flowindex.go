package loader

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The flow index (bpf/include/flow_index.h) is flow_index, an mmapable
// array of 64-byte buckets: a lock word and 15 entries, each 0 or
// (slot + 1) | tag << 24. A key's entry sits in its home bucket or the
// next one. This file is its Go side: the same hash, bucket and tag (the
// reference the tests compare the kernel with), and the removal, insert
// and scans Go does over the mapped buckets with the data path's atomics.
// Nothing else in Go knows the layout.

const (
	bucketEntries = int(VxtapVxtapConstFLOW_BUCKET_ENTRIES)
	entrySlotBits = uint32(VxtapVxtapConstFLOW_ENTRY_SLOT_BITS)
	entrySlotMask = uint32(1)<<entrySlotBits - 1
	// MaxFlowTableSize is the largest flow table: an entry keeps slot + 1
	// in 24 bits beside its 8-bit tag.
	MaxFlowTableSize = uint32(VxtapVxtapConstFLOW_INDEX_MAX_SLOTS)
	hashKeyWords     = int(VxtapVxtapConstFLOW_HASH_KEY_WORDS)
)

// flowBuckets is how many buckets a table of slots flows gets: at most
// half the entries used when the table is full, so a home bucket and the
// next rarely both fill up.
func flowBuckets(slots uint32) uint32 {
	return uint32((uint64(slots)*2 + uint64(bucketEntries) - 1) / uint64(bucketEntries))
}

// flowHashKey expands the pinned 64-bit seed into the hash key the program
// gets as cfg_flow_hash_key (splitmix64: every word differs and depends
// on all of the seed).
func flowHashKey(seed uint64) [hashKeyWords]uint64 {
	var k [hashKeyWords]uint64
	for i := range k {
		seed += 0x9E3779B97F4A7C15
		z := seed
		z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
		z = (z ^ z>>27) * 0x94D049BB133111EB
		k[i] = z ^ z>>31
	}
	return k
}

// newFlowSeed is a random seed for a new pin set (never 0, which a
// flow_ctl not yet written holds).
func newFlowSeed() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("flow hash seed: %w", err)
		}
		if s := binary.LittleEndian.Uint64(b[:]); s != 0 {
			return s, nil
		}
	}
}

// nhWord is flow_index.h's nh_word: the two 32-bit halves of a key word,
// each plus its half of the hash key, multiplied.
func nhWord(w, k uint64) uint64 {
	return uint64(uint32(w)+uint32(k)) * uint64(uint32(w>>32)+uint32(k>>32))
}

// flowHash is flow_index.h's flow_hash: NH over the key's words (as the
// program loads them: the host's byte order) with the hash key, then a
// multiply-xorshift finisher.
func flowHash(k *VxtapFlowKey, hk *[hashKeyWords]uint64) uint64 {
	b := (*[44]byte)(unsafe.Pointer(k))
	ne := binary.NativeEndian
	h := nhWord(ne.Uint64(b[0:]), hk[0]) + nhWord(ne.Uint64(b[8:]), hk[1]) +
		nhWord(ne.Uint64(b[16:]), hk[2]) + nhWord(ne.Uint64(b[24:]), hk[3]) +
		nhWord(ne.Uint64(b[32:]), hk[4]) + nhWord(uint64(ne.Uint32(b[40:])), hk[5])
	return hashFinish(h)
}

// hashFinish is flow_index.h's hash_finish: multiply-xorshift.
func hashFinish(h uint64) uint64 {
	h ^= h >> 32
	h *= 0x9E3779B97F4A7C15
	h ^= h >> 29
	return h
}

// flowHome is flow_home: the top 32 bits of the hash scaled to n buckets.
func flowHome(h uint64, n uint32) uint32 { return uint32((h >> 32) * uint64(n) >> 32) }

// flowTag is flow_tag: hash bits 24..31.
func flowTag(h uint64) uint32 { return uint32(h>>24) & 0xff }

// flowIndex is flow_index mapped into this process.
type flowIndex struct {
	mem     []byte
	buckets []VxtapFlowBucket
	key     [hashKeyWords]uint64
	slots   []VxtapFlowSlot // flow_slots, to compare keys
	regains atomic.Uint64   // times regainAlone gave a bucket bucketAlone back
}

// errIndexFull: the key's home and next bucket have no empty entry.
var errIndexFull = errors.New("flow index: the key's buckets are full")

// errOtherLayout: pinned maps of a vxtap version with another flow index.
var errOtherLayout = errors.New("maps pinned by another vxtap version (detach with that version first, or vxtap detach --force)")

// mapIndex maps flow_index and takes the hash key from the seed in
// flow_ctl. Pins of a version with the kernel hash as flow_index (or a
// flow_ctl without the seed) are refused, saying so.
func mapIndex(m, ctl *ebpf.Map, slots []VxtapFlowSlot) (*flowIndex, error) {
	if m.Type() != ebpf.Array || m.ValueSize() != uint32(unsafe.Sizeof(VxtapFlowBucket{})) || m.Flags()&unix.BPF_F_MMAPABLE == 0 {
		return nil, fmt.Errorf("flow_index is a %s of %d-byte values, not this version's bucket array: %w", m.Type(), m.ValueSize(), errOtherLayout)
	}
	if ctl.MaxEntries() < uint32(VxtapVxtapConstFLOW_CTL_MAX) {
		return nil, fmt.Errorf("flow_ctl has %d entries, not %d: %w", ctl.MaxEntries(), VxtapVxtapConstFLOW_CTL_MAX, errOtherLayout)
	}
	var seed uint64
	if err := ctl.Lookup(uint32(VxtapVxtapConstFLOW_CTL_SEED), &seed); err != nil {
		return nil, fmt.Errorf("read flow hash seed: %w", err)
	}
	n := int(m.MaxEntries())
	size := n * int(unsafe.Sizeof(VxtapFlowBucket{}))
	page := unix.Getpagesize()
	size = (size + page - 1) / page * page
	mem, err := unix.Mmap(m.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap flow_index: %w", err)
	}
	return &flowIndex{
		mem:     mem,
		buckets: unsafe.Slice((*VxtapFlowBucket)(unsafe.Pointer(&mem[0])), n),
		key:     flowHashKey(seed),
		slots:   slots,
	}, nil
}

func (x *flowIndex) close() error { return unix.Munmap(x.mem) }

// place is where a key's entries may sit: its home bucket, the next, and
// the tag its entries carry.
func (x *flowIndex) place(k *VxtapFlowKey) (home, next *VxtapFlowBucket, tag uint32) {
	h := flowHash(k, &x.key)
	hb := x.homeOf(h)
	return &x.buckets[hb], &x.buckets[x.nextOf(hb)], flowTag(h)
}

// homeOf is flow_home for this index: the home bucket of a key hashed h.
func (x *flowIndex) homeOf(h uint64) uint32 { return flowHome(h, uint32(len(x.buckets))) }

// nextOf is flow_next: the bucket after b, the last one's being the first.
func (x *flowIndex) nextOf(b uint32) uint32 {
	if b+1 >= uint32(len(x.buckets)) {
		return 0
	}
	return b + 1
}

// find is the entry of k among the two buckets, its value and its slot,
// and whether it sits in next (spilled from its home bucket).
func (x *flowIndex) find(k *VxtapFlowKey, home, next *VxtapFlowBucket, tag uint32) (*uint32, uint32, uint32, bool, bool) {
	for bi, b := range [2]*VxtapFlowBucket{home, next} {
		for i := range b.Ent {
			e := atomic.LoadUint32(&b.Ent[i])
			if e == 0 || e>>entrySlotBits != tag {
				continue
			}
			j := e&entrySlotMask - 1
			if int(j) < len(x.slots) && x.slots[j].Key == *k {
				return &b.Ent[i], e, j, bi == 1, true
			}
		}
	}
	return nil, 0, 0, false, false
}

// Lookup is the slot of k, if the index holds it.
func (x *flowIndex) Lookup(k *VxtapFlowKey) (uint32, bool) {
	home, next, tag := x.place(k)
	_, _, j, _, ok := x.find(k, home, next, tag)
	return j, ok
}

// Delete takes k out of the index and says which slot it named. No lock:
// a removal only makes the key absent, and an insert rescans under the
// lock after taking it. Only one Go process writes the index (the
// daemon's lock), so the entry found is not swapped by anyone else but
// the data path's inserts, which write only empty entries. A key that
// had spilled into the next bucket may have been its home bucket's last
// there: regainAlone then gives the home bucket its bucketAlone back.
func (x *flowIndex) Delete(k *VxtapFlowKey) (uint32, bool) {
	home, next, tag := x.place(k)
	p, e, j, spilled, ok := x.find(k, home, next, tag)
	if !ok || !atomic.CompareAndSwapUint32(p, e, 0) {
		return 0, false
	}
	if spilled {
		x.regainAlone(x.homeOf(flowHash(k, &x.key)))
	}
	return j, true
}

// regainAlone sets bucketAlone on bucket hb (home) when no key of it has
// its entry in the bucket after it (next), and says whether it did. Without it
// the flag, once cleared by a spill, would stay cleared for the table's
// life, and under churn every bucket's lookups and inserts would come to
// read two buckets. Under home's lock, the only lock under which a key of
// home goes into next (the data path's and Go's inserts alike), so none
// arrives while next is read; next's own keys come and go under next's
// lock, and are never home's. An entry read here names a slot that stays
// this key's while the entry is there: only this process removes entries,
// before it frees their slots, and an insert fills a slot before its
// entry. The release counts in the word, so a data-path insert that read
// the word before this lock rescans.
func (x *flowIndex) regainAlone(hb uint32) bool {
	home, next := &x.buckets[hb], &x.buckets[x.nextOf(hb)]
	if atomic.LoadUint32(&home.Lock)&bucketAlone != 0 {
		return false
	}
	word := lockBucket(home)
	alone := true
	for i := range next.Ent {
		e := atomic.LoadUint32(&next.Ent[i])
		if e == 0 {
			continue
		}
		j := e&entrySlotMask - 1
		if int(j) >= len(x.slots) || x.homeOf(flowHash(&x.slots[j].Key, &x.key)) == hb {
			alone = false
			break
		}
	}
	if alone {
		word |= bucketAlone
		x.regains.Add(1)
	}
	unlockBucket(home, word)
	return alone
}

// regainAllAlone is regainAlone for every bucket without bucketAlone and
// says how many got it back: an index pinned by a version before the flag
// (its words 0), buckets whose stale lock releaseStaleLocks cleared it
// with, and any whose spilled keys left while no daemon ran.
func (x *flowIndex) regainAllAlone() int {
	n := 0
	for bi := range x.buckets {
		if x.regainAlone(uint32(bi)) {
			n++
		}
	}
	return n
}

// The lock word of a bucket (struct flow_bucket): the holder bits (0
// free, the data path's FLOW_LOCK_BPF or Go's lockGo), bucketAlone while
// no key of the bucket has its entry in the next one, and a count of
// releases above (lockVersionOne each). A data-path insert that takes the
// lock with the word its lookup read before scanning skips the rescan, so
// every release, Go's too, counts, and a key Go puts in the next bucket
// clears bucketAlone. Only a daemon killed while holding a lock leaves it
// behind, so RecoverSlots, which runs before this daemon inserts
// anything, releases every bucket Go holds.
const (
	lockHeld       = uint32(VxtapVxtapConstFLOW_LOCK_HELD)
	lockGo         = uint32(VxtapVxtapConstFLOW_LOCK_GO)
	bucketAlone    = uint32(VxtapVxtapConstFLOW_BUCKET_ALONE)
	lockVersionOne = uint32(VxtapVxtapConstFLOW_LOCK_VERSION_ONE)
)

// lockBucket takes bucket b's lock as the data path does (compare-and-swap
// from a free word), yielding while another holds it, and returns the
// word as taken.
func lockBucket(b *VxtapFlowBucket) uint32 {
	// Not bounded: the data path holds a lock for well under a
	// microsecond (XDP runs to completion in softirq), and the locks a
	// killed daemon left were released by RecoverSlots before any insert.
	for {
		w := atomic.LoadUint32(&b.Lock)
		if w&lockHeld == 0 && atomic.CompareAndSwapUint32(&b.Lock, w, w|lockGo) {
			return w | lockGo
		}
		runtime.Gosched()
	}
}

// unlockBucket releases b's lock taken as word (bucketAlone cleared in it
// by a holder that put a key in the next bucket), counting the release,
// with an exchange (fully ordered, as the data path's).
func unlockBucket(b *VxtapFlowBucket, word uint32) {
	atomic.SwapUint32(&b.Lock, word&^lockHeld+lockVersionOne)
}

// markAlone sets bucketAlone on every bucket of an index nothing has
// been inserted in yet (a new pin set, before the program is attached):
// lookups and inserts then skip the next bucket until a key goes there.
// An index from before the flag (its words 0) keeps scanning both.
func (x *flowIndex) markAlone() {
	for bi := range x.buckets {
		atomic.OrUint32(&x.buckets[bi].Lock, bucketAlone)
	}
}

// InsertNoExist puts k -> slot idx in the index unless k is there already:
// then ebpf.ErrKeyExist (and the slot it names in existing). Under the
// home bucket's lock, as the data path inserts, so neither can add the
// key beside the other.
func (x *flowIndex) InsertNoExist(k *VxtapFlowKey, idx uint32) (existing uint32, err error) {
	if idx >= entrySlotMask {
		return 0, fmt.Errorf("flow slot %d past the index's %d", idx, entrySlotMask)
	}
	home, next, tag := x.place(k)
	word := lockBucket(home)
	defer func() { unlockBucket(home, word) }()
	if _, _, j, _, ok := x.find(k, home, next, tag); ok {
		return j, ebpf.ErrKeyExist
	}
	e := (idx + 1) | tag<<entrySlotBits
	for bi, b := range [2]*VxtapFlowBucket{home, next} {
		for i := range b.Ent {
			if atomic.LoadUint32(&b.Ent[i]) == 0 && atomic.CompareAndSwapUint32(&b.Ent[i], 0, e) {
				if bi == 1 {
					word &^= bucketAlone // a key of home now in next
				}
				return 0, nil
			}
		}
	}
	return 0, errIndexFull
}

// releaseStaleLocks releases every bucket a killed daemon left locked
// (lockGo; the one daemon of a table calls it before it locks any) and
// says how many. A data-path lock is left alone: it is released within
// microseconds by the run that holds it. The killed holder may have put
// a key in the next bucket without clearing bucketAlone: a released
// bucket loses it.
func (x *flowIndex) releaseStaleLocks() int {
	n := 0
	for bi := range x.buckets {
		b := &x.buckets[bi]
		if w := atomic.LoadUint32(&b.Lock); w&lockHeld == lockGo &&
			atomic.CompareAndSwapUint32(&b.Lock, w, w&^(lockHeld|bucketAlone)+lockVersionOne) {
			n++
		}
	}
	return n
}

// Range calls fn with the slot of every entry, bucket by bucket (one
// sequential read of the mapped array).
func (x *flowIndex) Range(fn func(slot uint32)) {
	for bi := range x.buckets {
		b := &x.buckets[bi]
		for i := range b.Ent {
			if e := atomic.LoadUint32(&b.Ent[i]); e != 0 {
				fn(e&entrySlotMask - 1)
			}
		}
	}
}
