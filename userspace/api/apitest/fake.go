// Package apitest has a fake Provider, so the API and `vxtap top` are
// tested without a daemon or BPF.
package apitest

import (
	"net/netip"
	"sync"
	"time"

	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/rates"
)

// Fake is a Provider holding a fixed set of flows and counters.
type Fake struct {
	mu       sync.Mutex
	snap     *rates.Snapshot
	reasons  []flow.Counter
	flags    []flow.Counter
	status   api.Status
	countErr error
	hold     chan struct{} // while set, View waits for it to close
	entered  chan struct{} // View signals here when it starts holding
}

// NewFake returns a fake with no flows.
func NewFake(iface string) *Fake {
	return &Fake{status: api.Status{Iface: iface, PID: 4242, Started: time.Unix(1700000000, 0).UTC(), Healthy: true, Health: "ok"},
		snap: rates.NewSnapshot(time.Now(), time.Second, 1, nil)}
}

// Flow is one flow for SetFlows, rates given directly.
type Flow struct {
	VNI          uint32
	Src, Dst     string
	Proto        uint8
	SPort, DPort uint16
	MirrorSource string
	BitsPerSec   float64
	PktsPerSec   float64
	Bytes        uint64
	Packets      uint64
}

// SetFlows replaces the flows the fake serves.
func (f *Fake) SetFlows(flows []Flow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var fs []rates.Flow
	for _, fl := range flows {
		var mirror netip.Addr
		if fl.MirrorSource != "" {
			mirror = netip.MustParseAddr(fl.MirrorSource)
		}
		r := rates.Flow{Key: flow.Key{VNI: fl.VNI, Src: netip.MustParseAddr(fl.Src), Dst: netip.MustParseAddr(fl.Dst),
			Proto: fl.Proto, SPort: fl.SPort, DPort: fl.DPort}, MirrorSource: mirror,
			PPS: fl.PktsPerSec, BPS: fl.BitsPerSec / 8, AvgPPS: fl.PktsPerSec, AvgBPS: fl.BitsPerSec / 8,
			Packets: fl.Packets, Bytes: fl.Bytes}
		fs = append(fs, r)
	}
	f.snap = rates.NewSnapshot(time.Now(), time.Second, f.snap.Sweeps+1, fs)
}

// SetCounters replaces the data path counters.
func (f *Fake) SetCounters(reasons, flags []flow.Counter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reasons, f.flags = reasons, flags
}

// FailCounters makes Counters return err (nil: succeed again).
func (f *Fake) FailCounters(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.countErr = err
}

// View implements api.Provider.
func (f *Fake) View(fn func(*rates.Snapshot)) {
	f.mu.Lock()
	hold, entered, snap := f.hold, f.entered, f.snap
	f.mu.Unlock()
	if hold != nil {
		entered <- struct{}{}
		<-hold
	}
	fn(snap)
}

// HoldViews makes every View wait until release is called; entered
// receives once per View that started waiting.
func (f *Fake) HoldViews() (entered <-chan struct{}, release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold, f.entered = make(chan struct{}), make(chan struct{}, 64)
	hold := f.hold
	return f.entered, func() {
		f.mu.Lock()
		f.hold = nil
		f.mu.Unlock()
		close(hold)
	}
}

// SetSnapshot serves s as it is.
func (f *Fake) SetSnapshot(s *rates.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap = s
}

// Counters implements api.Provider.
func (f *Fake) Counters() ([]flow.Counter, []flow.Counter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.countErr != nil {
		return nil, nil, f.countErr
	}
	return append([]flow.Counter(nil), f.reasons...), append([]flow.Counter(nil), f.flags...), nil
}

// Status implements api.Provider.
func (f *Fake) Status() api.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status
	st.Flows = f.snap.Len()
	return st
}

// LabFlows are known flows with distinct leaders by rate, bytes and
// packets, for tests of the view.
func LabFlows() []Flow {
	return []Flow{
		{VNI: 101, Src: "198.18.1.10", Dst: "198.19.1.20", Proto: 6, SPort: 40001, DPort: 443, MirrorSource: "10.0.0.11",
			BitsPerSec: 80e6, PktsPerSec: 7000, Bytes: 2e9, Packets: 1_500_000}, // heaviest by rate
		{VNI: 101, Src: "198.18.1.11", Dst: "198.19.1.21", Proto: 6, SPort: 40002, DPort: 80, MirrorSource: "10.0.0.11",
			BitsPerSec: 8e6, PktsPerSec: 900, Bytes: 9e9, Packets: 7_000_000}, // heaviest by bytes
		{VNI: 102, Src: "198.18.2.10", Dst: "198.19.2.53", Proto: 17, SPort: 5353, DPort: 53, MirrorSource: "10.0.0.12",
			BitsPerSec: 12e6, PktsPerSec: 20000, Bytes: 1e8, Packets: 900_000}, // heaviest by packets/s
		{VNI: 101, Src: "198.18.1.10", Dst: "198.19.1.22", Proto: 6, SPort: 40003, DPort: 443, MirrorSource: "10.0.0.11",
			BitsPerSec: 2e6, PktsPerSec: 200, Bytes: 5e7, Packets: 40_000},
		{VNI: 102, Src: "2001:db8:1::10", Dst: "2001:db8:2::20", Proto: 58, MirrorSource: "10.0.0.12",
			BitsPerSec: 800, PktsPerSec: 1, Bytes: 6000, Packets: 60},
	}
}
