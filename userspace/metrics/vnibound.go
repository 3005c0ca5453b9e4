package metrics

import (
	"sort"
	"strconv"
	"sync"
)

// DefaultTopVNIs is how many VNIs beyond the configured sessions keep a
// series of their own.
const DefaultTopVNIs = 64

// OtherVNI is the vni label of the series every other VNI is summed in.
const OtherVNI = "other"

// vniBound keeps the vni label bounded: 20,000 spoofed VNIs once made
// /metrics 2.2 MB and 40,000 series. The configured sessions' VNIs, and
// up to top more chosen by traffic, have series of their own; the rest
// are summed in vni="other". A VNI once given a series keeps it for the
// daemon's life: were it to move back into "other", that counter would go
// backwards, which Prometheus reads as a reset.
type vniBound struct {
	top        int
	configured func() []uint32 // may be nil

	mu    sync.Mutex
	shown map[uint32]bool // VNIs chosen by traffic (configured ones apart)
}

func newVNIBound(top int) *vniBound {
	return &vniBound{top: top, shown: make(map[uint32]bool)}
}

// vniSeries is one vni label value and its totals.
type vniSeries struct {
	label          string
	packets, bytes uint64
}

// series folds the per-VNI totals into at most len(configured)+top+1
// series, the "other" one last (present only when something is folded).
func (b *vniBound) series(pkts, bytes map[uint32]uint64) []vniSeries {
	keep := map[uint32]bool{}
	if b.configured != nil {
		for _, v := range b.configured() {
			keep[v] = true
		}
	}
	b.mu.Lock()
	if free := b.top - len(b.shown); free > 0 {
		// Promote the heaviest of the VNIs not shown yet.
		var cand []uint32
		for v := range pkts {
			if !keep[v] && !b.shown[v] {
				cand = append(cand, v)
			}
		}
		sort.Slice(cand, func(i, j int) bool {
			if bytes[cand[i]] != bytes[cand[j]] {
				return bytes[cand[i]] > bytes[cand[j]]
			}
			return cand[i] < cand[j]
		})
		for _, v := range cand[:min(free, len(cand))] {
			b.shown[v] = true
		}
	}
	for v := range b.shown {
		keep[v] = true
	}
	b.mu.Unlock()

	out := make([]vniSeries, 0, len(keep)+1)
	other := vniSeries{label: OtherVNI}
	folded := false
	for v, p := range pkts {
		if keep[v] {
			out = append(out, vniSeries{label: strconv.FormatUint(uint64(v), 10), packets: p, bytes: bytes[v]})
			continue
		}
		other.packets += p
		other.bytes += bytes[v]
		folded = true
	}
	sort.Slice(out, func(i, j int) bool { return out[i].label < out[j].label })
	if folded {
		out = append(out, other)
	}
	return out
}
