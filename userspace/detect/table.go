package detect

// table is a fixed-capacity map for per-host detector state. When full,
// a new key replaces the least recently seen of a few slots picked at
// random (sampled LRU): a host still active keeps its state, a flood of
// new (or spoofed) addresses only ever displaces idle ones, and memory
// never grows past the capacity.
type table[K comparable, V any] struct {
	idx     map[K]int32
	keys    []K
	vals    []V
	seen    []int64 // last touch, unix nanoseconds
	limit   int
	rng     uint64
	evicted uint64
}

// evictSample is how many slots an eviction compares.
const evictSample = 8

func newTable[K comparable, V any](limit int) *table[K, V] {
	if limit < 1 {
		limit = 1
	}
	return &table[K, V]{idx: make(map[K]int32, min(limit, 4096)), limit: limit, rng: 0x9e3779b97f4a7c15}
}

// get returns k's state, created zero (replacing an idle entry when the
// table is full) if absent, and marks it seen at now.
func (t *table[K, V]) get(k K, now int64) *V {
	if i, ok := t.idx[k]; ok {
		t.seen[i] = now
		return &t.vals[i]
	}
	var zero V
	if len(t.keys) < t.limit {
		t.idx[k] = int32(len(t.keys))
		t.keys = append(t.keys, k)
		t.vals = append(t.vals, zero)
		t.seen = append(t.seen, now)
		return &t.vals[len(t.vals)-1]
	}
	victim := t.pick()
	delete(t.idx, t.keys[victim])
	t.evicted++
	t.idx[k] = int32(victim)
	t.keys[victim], t.vals[victim], t.seen[victim] = k, zero, now
	return &t.vals[victim]
}

// pick returns the stalest of evictSample random slots.
func (t *table[K, V]) pick() int {
	best := -1
	for range evictSample {
		t.rng = mix64(t.rng + 0x9e3779b97f4a7c15)
		i := int(t.rng % uint64(len(t.keys)))
		if best < 0 || t.seen[i] < t.seen[best] {
			best = i
		}
	}
	return best
}

func (t *table[K, V]) len() int { return len(t.keys) }

// setLimit changes the capacity (a reload); a smaller one drops the
// stalest entries at once.
func (t *table[K, V]) setLimit(limit int) {
	if limit < 1 {
		limit = 1
	}
	t.limit = limit
	for len(t.keys) > limit {
		v := t.pick()
		last := len(t.keys) - 1
		delete(t.idx, t.keys[v])
		if v != last {
			t.keys[v], t.vals[v], t.seen[v] = t.keys[last], t.vals[last], t.seen[last]
			t.idx[t.keys[v]] = int32(v)
		}
		t.keys, t.vals, t.seen = t.keys[:last], t.vals[:last], t.seen[:last]
		t.evicted++
	}
}
