package filter_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vxtap/vxtap/userspace/filter"
	"github.com/vxtap/vxtap/userspace/filter/filtertest"
)

// sameDecision reports how the compiled tables' decision differs from the
// reference evaluator's, or "".
func sameDecision(want filter.Decision, got filter.Decision) string {
	switch {
	case want.Accept != got.Accept:
		return fmt.Sprintf("accept %v, tables say %v", want.Accept, got.Accept)
	case want.By != got.By:
		return fmt.Sprintf("decided by %s, tables say %s", want.By, got.By)
	case want.RuleIndex != got.RuleIndex:
		return fmt.Sprintf("rule index %d, tables say %d", want.RuleIndex, got.RuleIndex)
	case want.Direction != got.Direction || want.DirUnknown != got.DirUnknown:
		return fmt.Sprintf("direction %s/%v, tables say %s/%v", want.Direction, want.DirUnknown, got.Direction, got.DirUnknown)
	case want.SampleRate != got.SampleRate || want.Capture != got.Capture:
		return fmt.Sprintf("sampling %d/%v, tables say %d/%v", want.SampleRate, want.Capture, got.SampleRate, got.Capture)
	}
	return ""
}

// TestCompiledTablesAgreeWithReference is the pure-Go half of the
// differential test: the tables the kernel gets, walked in Go the way the
// kernel walks them, against the plain first-match evaluator.
func TestCompiledTablesAgreeWithReference(t *testing.T) {
	cases := []struct {
		rules, v6, packets int
		narrow             bool
	}{
		{1, 0, 3000, false}, {2, 50, 3000, false}, {7, 50, 5000, true}, {30, 30, 10000, false},
		{200, 50, 10000, false}, {1000, 50, 10000, true}, {4096, 50, 10000, false},
		{4096, 30, 10000, true},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("rules=%d", tc.rules), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			cfg := filtertest.Config(rng, filtertest.Options{Rules: tc.rules, V6Share: tc.v6, Sessions: 4, Narrow: tc.narrow, AWSLike: i%2 == 0})
			comp := filter.Compile(cfg)
			by := map[filter.DecidedBy]int{}
			for n := 0; n < tc.packets; n++ {
				p := filtertest.Packet(rng, cfg)
				want, got := cfg.Evaluate(p), comp.Classify(p)
				by[want.By]++
				if d := sameDecision(want, got.Decision); d != "" {
					t.Fatalf("packet %+v: reference %s", p, d)
				}
			}
			t.Logf("%d packets, %d bitsets, %d port blocks, %d IPv4 nodes; decided by %v", tc.packets, len(comp.Bitsets), len(comp.Blocks), len(comp.Nodes4), by)
			if by[filter.ByRule] == 0 || by[filter.ByNoMatch] == 0 && tc.rules > 1 {
				t.Errorf("packets do not exercise both matches and misses: %v", by)
			}
		})
	}
}

// TestBitsetLowest: the kernel's search order, summary word first.
func TestBitsetLowest(t *testing.T) {
	for _, idx := range [][]int{{}, {0}, {63}, {64}, {4095}, {5, 4095}, {130, 129, 4000}} {
		var b filter.Bitset
		want := -1
		for _, i := range idx {
			b.Set(i)
			if want < 0 || i < want {
				want = i
			}
		}
		if got := b.Lowest(); got != want {
			t.Errorf("%v: lowest %d, want %d", idx, got, want)
		}
	}
	var a, b filter.Bitset
	a.Set(3)
	a.Set(700)
	b.Set(700)
	b.Set(4)
	if got := filter.And(&a, &b); got.Lowest() != 700 || got.Summary != 1<<(700/64) {
		t.Errorf("and: %v", got.Indexes())
	}
}
