package filter

import "math/bits"

// Bitset is a set of rule indexes of one ruleset (bit i = the i-th rule in
// RuleNumber order), laid out as struct filter_bitset: Summary bit w is set
// when word W[w] is non-zero, so the kernel ANDs five summaries first and
// visits only words that can hold a common rule.
type Bitset struct {
	Summary uint64
	W       [MaxRules / 64]uint64
}

// Set adds rule i.
func (b *Bitset) Set(i int) {
	b.W[i/64] |= 1 << (i % 64)
	b.Summary |= 1 << (i / 64)
}

// Clear removes rule i.
func (b *Bitset) Clear(i int) {
	b.W[i/64] &^= 1 << (i % 64)
	if b.W[i/64] == 0 {
		b.Summary &^= 1 << (i / 64)
	}
}

// Has reports whether rule i is in the set.
func (b *Bitset) Has(i int) bool { return b.W[i/64]&(1<<(i%64)) != 0 }

// Or adds every rule of o.
func (b *Bitset) Or(o *Bitset) {
	b.Summary |= o.Summary
	for i := range b.W {
		b.W[i] |= o.W[i]
	}
}

// And returns the rules in every set.
func And(sets ...*Bitset) Bitset {
	out := *sets[0]
	for _, s := range sets[1:] {
		out.Summary &= s.Summary
		for i := range out.W {
			out.W[i] &= s.W[i]
		}
	}
	out.Summary = 0
	for i, w := range out.W {
		if w != 0 {
			out.Summary |= 1 << i
		}
	}
	return out
}

// Lowest is the smallest rule index in the set, or -1.
func (b *Bitset) Lowest() int {
	for cand := b.Summary; cand != 0; cand &= cand - 1 {
		w := bits.TrailingZeros64(cand)
		if b.W[w] != 0 {
			return w*64 + bits.TrailingZeros64(b.W[w])
		}
	}
	return -1
}

// Indexes lists the rule indexes in the set.
func (b *Bitset) Indexes() []int {
	var out []int
	for w, word := range b.W {
		for ; word != 0; word &= word - 1 {
			out = append(out, w*64+bits.TrailingZeros64(word))
		}
	}
	return out
}
