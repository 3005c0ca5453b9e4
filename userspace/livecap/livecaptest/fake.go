// Package livecaptest is an in-memory data path for live capture tests.
package livecaptest

import (
	"fmt"
	"sync"

	"github.com/vxtap/vxtap/userspace/livecap"
)

// Datapath records what the hub sets and clears.
type Datapath struct {
	mu       sync.Mutex
	slots    [livecap.MaxSlots]*livecap.Spec
	counters [livecap.MaxSlots]livecap.Counters
	Sets     int
	Clears   int
}

// SetCapture implements livecap.Datapath.
func (d *Datapath) SetCapture(i int, s livecap.Spec) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if i < 0 || i >= livecap.MaxSlots {
		return fmt.Errorf("slot %d", i)
	}
	d.slots[i], d.counters[i] = &s, livecap.Counters{}
	d.Sets++
	return nil
}

// ClearCapture implements livecap.Datapath.
func (d *Datapath) ClearCapture(i int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.slots[i] = nil
	d.Clears++
	return nil
}

// CaptureCounters implements livecap.Datapath.
func (d *Datapath) CaptureCounters(i int) (livecap.Counters, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.counters[i], nil
}

// SetCounters sets slot i's counters as the data path would count them.
func (d *Datapath) SetCounters(i int, c livecap.Counters) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.counters[i] = c
}

// Active returns the spec of each active slot (nil when free).
func (d *Datapath) Active() [livecap.MaxSlots]*livecap.Spec {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.slots
}

// NActive counts the active slots.
func (d *Datapath) NActive() int {
	n := 0
	for _, s := range d.Active() {
		if s != nil {
			n++
		}
	}
	return n
}
