package flowtest

import (
	"errors"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// overflow is the fake's two halves of overflow aggregates (the loader's
// overflow_flows, overflow_vnis and overflow_all): packets add to the
// active half, the other is settled.
type overflow struct {
	halves     [2]map[flow.OverflowID]flow.Counters
	active     uint8
	failRemove int // RemoveOverflow calls still to fail
}

// OverflowPacket accounts a packet that found no slot in the aggregate of
// level and key of the active half, as the data path would.
func (t *Table) OverflowPacket(level flow.OverflowLevel, k flow.Key, bytes uint64, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := &t.ov.halves[t.ov.active]
	if *h == nil {
		*h = map[flow.OverflowID]flow.Counters{}
	}
	id := flow.OverflowID{Half: t.ov.active, Level: level, Key: k}
	c := (*h)[id]
	if c.Packets == 0 {
		c.First = at
	}
	c.Packets++
	c.Bytes += bytes
	c.Last = at
	(*h)[id] = c
}

// FailRemoveOverflow makes the next n RemoveOverflow calls fail after
// removing nothing.
func (t *Table) FailRemoveOverflow(n int) {
	t.mu.Lock()
	t.ov.failRemove = n
	t.mu.Unlock()
}

// OverflowLen is how many aggregates the two halves hold.
func (t *Table) OverflowLen() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.ov.halves[0]) + len(t.ov.halves[1])
}

// SettledOverflow implements flow.OverflowSource.
func (t *Table) SettledOverflow() (uint8, []flow.Overflow, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.ov.active ^ 1
	var out []flow.Overflow
	for id, c := range t.ov.halves[q] {
		out = append(out, flow.Overflow{OverflowID: id, Counters: c})
	}
	return q, out, nil
}

// TurnOverflow implements flow.OverflowSource.
func (t *Table) TurnOverflow() (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.ov.halves[t.ov.active^1]) > 0 || len(t.ov.halves[t.ov.active]) == 0 {
		return false, nil
	}
	t.ov.active ^= 1
	return true, nil
}

// RemoveOverflow implements flow.OverflowSource: only settled aggregates
// go.
func (t *Table) RemoveOverflow(ids []flow.OverflowID) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ov.failRemove > 0 {
		t.ov.failRemove--
		return errors.New("remove overflow aggregate: injected failure")
	}
	for _, id := range ids {
		if id.Half == t.ov.active {
			return errors.New("remove overflow aggregate: the data path still adds to its half")
		}
		delete(t.ov.halves[id.Half], id)
	}
	return nil
}
