package topview

import (
	"hash/maphash"
	"math"
	"math/bits"
	"slices"

	"github.com/vxtap/vxtap/userspace/rates"
)

// maxGroups bounds the groups a grouped view sums at once: about 5 MB of
// sums and index. A view with more groups (a scan from a million
// sources) sums them a share at a time, each share in one more pass
// over the flows; each pass reads only the flows of its share, found
// by a tag per flow (2 bytes) computed once.
// (A variable so tests can make every view overflow it.)
var maxGroups = 1 << 15

// Tags: a flow's tag is 15 bits of its group key's hash, or skipTag when
// the filter rejects it. A share is the flows whose tag has given low
// bits; shares split by one more bit while one holds too many groups.
const (
	skipTag   = 1 << 15
	maxShares = 1 << 15
)

// grouper sums flows into groups keyed by K.
type grouper[K comparable] struct {
	s     *rates.Snapshot
	key   func(*rates.Snapshot, int) K
	index map[K]int32
	accs  []acc
	limit int           // groups held at most
	f     rates.Numbers // flow i's, for add
}

// add sums flow i, its numbers already in g.f, into the group of key k. It returns
// false, summing nothing, when k is a new group and limit are held.
func (g *grouper[K]) add(i int, k K, q Query) bool {
	j, ok := g.index[k]
	if !ok {
		if len(g.accs) == g.limit {
			return false
		}
		j = int32(len(g.accs))
		g.index[k] = j
		if len(g.accs) == cap(g.accs) { // double: append grows big slices by a quarter, copying often
			g.accs = slices.Grow(g.accs, max(len(g.accs), 64))
		}
		f := g.s.Flow(i) // once a group
		g.accs = append(g.accs, acc{k: groupKey(q.Group, &f), first: int32(i)})
	}
	a := &g.accs[j]
	var diff uint8
	if a.flows > 0 {
		diff = g.s.Diff(i, int(a.first))
	}
	a.add(&g.f, diff)
	return true
}

// reset forgets the groups summed, keeping the room.
func (g *grouper[K]) reset() {
	clear(g.index)
	g.accs = g.accs[:0]
}

// groupTop sums the flows q keeps into one group per key, counting the
// matched flows into h, and returns how many groups there are and the
// q.N that rank first, first first. Groups and their sums are exactly
// those of one pass (flows are summed in snapshot order in every share).
func groupTop[K comparable](s *rates.Snapshot, q Query, h *Header, key func(*rates.Snapshot, int) K) (int, []acc) {
	g := &grouper[K]{s: s, key: key, index: map[K]int32{}, limit: maxGroups}
	top := topN[acc]{n: q.N, before: func(a, b acc) bool { return accBefore(&a, &b, q.Sort) }}
	var (
		seed = maphash.MakeSeed()
		tags []uint16 // nil until the groups overflow
	)
	var count distinct
	tag := func(k K) uint16 {
		h := maphash.Comparable(seed, k)
		count.add(h)
		return uint16(h % skipTag)
	}
	keep := func(i int) bool {
		if q.Filter.Empty() {
			return true
		}
		k, m := s.KeyMirror(i)
		return q.Filter.Match(&k, m)
	}
	for i := range s.Len() {
		if !keep(i) {
			if tags != nil {
				tags[i] = skipTag
			}
			continue
		}
		g.f = s.Numbers(i)
		h.Matched++
		h.MatchedPacketsPerSecond += g.f.PPS
		h.MatchedBitsPerSecond += 8 * g.f.BPS
		k := key(s, i)
		if tags != nil {
			tags[i] = tag(k)
			continue
		}
		if !g.add(i, k, q) {
			// Too many groups for one pass: tag every flow instead
			// (those before this one again) and sum by shares below.
			tags = make([]uint16, s.Len())
			for j := range i {
				tags[j] = skipTag
				if keep(j) {
					tags[j] = tag(key(s, j))
				}
			}
			tags[i] = tag(k)
		}
	}
	if tags == nil {
		for _, a := range g.accs {
			top.push(a)
		}
		return len(g.accs), top.sorted()
	}
	// Shares: enough that each is likely to hold 3/4 of maxGroups at
	// most; one that holds more is split.
	mod := 2
	for est := count.estimate(); mod < maxShares && mod*maxGroups*3/4 < est; mod *= 2 {
	}
	type share struct{ mod, rest uint16 }
	work := make([]share, 0, mod)
	for r := range mod {
		work = append(work, share{uint16(mod - 1), uint16(r)})
	}
	groups := 0
	for len(work) > 0 {
		sh := work[len(work)-1]
		work = work[:len(work)-1]
		g.reset()
		g.limit = maxGroups
		if sh.mod == maxShares-1 {
			// Every flow of the share has the same tag: it cannot be
			// split, so it is summed whole (only with billions of groups).
			g.limit = math.MaxInt
		}
		whole := true
		for i, t := range tags {
			if t == skipTag || t&sh.mod != sh.rest {
				continue
			}
			g.f = s.Numbers(i)
			if !g.add(i, key(s, i), q) {
				whole = false
				break
			}
		}
		if !whole {
			// Still too many: split the share by one more bit of the tag.
			bit := sh.mod + 1
			work = append(work, share{sh.mod | bit, sh.rest}, share{sh.mod | bit, sh.rest | bit})
			continue
		}
		groups += len(g.accs)
		for _, a := range g.accs {
			top.push(a)
		}
	}
	return groups, top.sorted()
}

// distinct estimates how many distinct hashes it was given
// (HyperLogLog, 1,024 registers: a few percent off), so a grouped view
// knows how many shares its groups need.
type distinct [1 << 10]uint8

func (d *distinct) add(h uint64) {
	r := uint8(bits.LeadingZeros64(h<<10|1<<9)) + 1
	if i := h >> 54; r > d[i] {
		d[i] = r
	}
}

func (d *distinct) estimate() int {
	const m = float64(len(d))
	sum, zeros := 0.0, 0
	for _, r := range d {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e < 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros)) // few: linear counting is closer
	}
	return int(e)
}
