package topview

import "sort"

// topN keeps the n items that rank first (all of them when n <= 0) in a
// heap whose root is the last-ranked kept item: one pass over a million
// flows costs O(flows * log n), not a full sort.
type topN[T any] struct {
	n      int
	before func(a, b T) bool // a ranks before b
	items  []T
}

func (t *topN[T]) push(x T) {
	switch {
	case t.n <= 0:
		t.items = append(t.items, x)
	case len(t.items) < t.n:
		t.items = append(t.items, x)
		t.up(len(t.items) - 1)
	case t.before(x, t.items[0]):
		t.items[0] = x
		t.down(0)
	}
}

func (t *topN[T]) up(j int) {
	for j > 0 {
		p := (j - 1) / 2
		if !t.before(t.items[p], t.items[j]) {
			return
		}
		t.items[p], t.items[j] = t.items[j], t.items[p]
		j = p
	}
}

func (t *topN[T]) down(i int) {
	n := len(t.items)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && t.before(t.items[c], t.items[r]) {
			c = r // the child that ranks last
		}
		if !t.before(t.items[i], t.items[c]) {
			return
		}
		t.items[i], t.items[c] = t.items[c], t.items[i]
		i = c
	}
}

// sorted returns the kept items, first-ranked first.
func (t *topN[T]) sorted() []T {
	sort.Slice(t.items, func(i, j int) bool { return t.before(t.items[i], t.items[j]) })
	return t.items
}
