package livecap

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Datapath is what the hub needs of the loaded program (loader.Objects).
type Datapath interface {
	SetCapture(slot int, spec Spec) error
	ClearCapture(slot int) error
	CaptureCounters(slot int) (Counters, error)
}

// ErrBusy: every capture slot is taken.
var ErrBusy = fmt.Errorf("all %d capture slots are in use: wait for a capture to end", MaxSlots)

// Hub hands each capture its copies. Start and Stop run on API
// goroutines; Route runs on the ring-buffer reader and never waits.
type Hub struct {
	dp   Datapath
	mu   sync.Mutex // serialises Start and Stop (the data path's slot table)
	gen  uint8
	subs [MaxSlots]atomic.Pointer[Sub]
}

// NewHub serves captures on dp.
func NewHub(dp Datapath) *Hub { return &Hub{dp: dp} }

// Sub is one running capture.
type Sub struct {
	Slot  int
	Spec  Spec
	C     chan []flow.Sample // copies, a ring-buffer drain at a time
	Done  chan struct{}      // closed when Spec.Limit copies were delivered
	queue atomic.Uint64      // copies the client's queue dropped (it was full)
	got   atomic.Uint64      // copies delivered to C
	once  sync.Once
}

// Dropped is how many copies the capture's queue could not take.
func (s *Sub) Dropped() uint64 { return s.queue.Load() }

// Start takes a free slot and sets it in the data path. queue bounds the
// drains held for a slow client.
func (h *Hub) Start(spec Spec, queue int) (*Sub, error) {
	if queue <= 0 {
		queue = 64
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	slot := -1
	for i := range h.subs {
		if h.subs[i].Load() == nil {
			slot = i
			break
		}
	}
	if slot < 0 {
		return nil, ErrBusy
	}
	h.gen++
	if h.gen == 0 {
		h.gen = 1 // 0 is an empty slot's generation
	}
	spec.Gen = h.gen
	s := &Sub{Slot: slot, Spec: spec, C: make(chan []flow.Sample, queue), Done: make(chan struct{})}
	// Published before the data path sees the slot: the first copies find it.
	h.subs[slot].Store(s)
	if err := h.dp.SetCapture(slot, spec); err != nil {
		h.subs[slot].Store(nil)
		return nil, err
	}
	return s, nil
}

// Stop clears the capture's slot in the data path and returns its counters.
func (h *Hub) Stop(s *Sub) (Counters, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[s.Slot].Load() != s {
		return Counters{}, errors.New("capture already stopped")
	}
	err := h.dp.ClearCapture(s.Slot)
	c, cerr := h.dp.CaptureCounters(s.Slot)
	h.subs[s.Slot].Store(nil)
	return c, errors.Join(err, cerr)
}

// Counters reads a running capture's counters in the data path.
func (h *Hub) Counters(s *Sub) (Counters, error) { return h.dp.CaptureCounters(s.Slot) }

// Delivered is how many copies reached the capture's queue.
func (s *Sub) Delivered() uint64 { return s.got.Load() }

// Running counts the captures under way.
func (h *Hub) Running() int {
	n := 0
	for i := range h.subs {
		if h.subs[i].Load() != nil {
			n++
		}
	}
	return n
}

// Route hands one drain's capture copies to their captures. A copy
// reaches a capture only when the slot's generation in the record is the
// capture's own (a copy sent for a slot's previous capture goes nowhere),
// cut to its snap length, and never past its -c limit. A full queue
// counts the drop; Route never blocks.
func (h *Hub) Route(sms []flow.Sample) {
	for i := range h.subs {
		s := h.subs[i].Load()
		if s == nil {
			continue
		}
		var mine []flow.Sample
		for _, sm := range sms {
			if sm.Captures&(1<<i) == 0 || sm.CaptureGens[i] != s.Spec.Gen {
				continue
			}
			if s.Spec.Limit > 0 && s.got.Load()+uint64(len(mine)) >= s.Spec.Limit {
				break
			}
			if uint32(len(sm.Data)) > s.Spec.SnapLen {
				sm.Data = sm.Data[:s.Spec.SnapLen]
			}
			mine = append(mine, sm)
		}
		if len(mine) == 0 {
			continue
		}
		select {
		case s.C <- mine:
			if n := s.got.Add(uint64(len(mine))); s.Spec.Limit > 0 && n >= s.Spec.Limit {
				s.once.Do(func() { close(s.Done) })
			}
		default:
			if n := s.queue.Add(uint64(len(mine))) + s.got.Load(); s.Spec.Limit > 0 && n >= s.Spec.Limit {
				s.once.Do(func() { close(s.Done) })
			}
		}
	}
}
