package loader

import (
	"fmt"
	"math/bits"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/livecap"
	"github.com/vxtap/vxtap/userspace/topview"
)

// The Go limits must be the data path's.
var _ = [1]struct{}{}[int(VxtapCaptureConstCAPTURE_MAX_SLOTS)-livecap.MaxSlots]
var _ = [1]struct{}{}[int(VxtapCaptureConstCAPTURE_MAX_TERMS)-livecap.MaxTerms]
var _ = [1]struct{}{}[int(VxtapVxtapConstMAX_SNAP_LEN)-livecap.MaxSnapLen]

// Live captures (bpf/include/capture.h): narrow handles on the capture
// slots. The caller (livecap.Hub) serialises them.

// SetCapture starts capture slot i with spec, zeroing its counters. The
// slot is written inactive first, then active, so a packet never matches
// a filter half written.
func (o *Objects) SetCapture(i int, spec livecap.Spec) error {
	if i < 0 || i >= livecap.MaxSlots {
		return fmt.Errorf("capture slot %d: want 0..%d", i, livecap.MaxSlots-1)
	}
	slot, err := compileCapture(spec)
	if err != nil {
		return err
	}
	if err := o.zeroCaptureStats(i); err != nil {
		return err
	}
	slot.Active = 0
	if err := o.writeSlot(i, &slot); err != nil {
		return err
	}
	slot.Active = 1
	if err := o.writeSlot(i, &slot); err != nil {
		return err
	}
	return o.countActive()
}

// ClearCapture stops capture slot i: from now on no copy is sent for it.
func (o *Objects) ClearCapture(i int) error {
	if i < 0 || i >= livecap.MaxSlots {
		return fmt.Errorf("capture slot %d: want 0..%d", i, livecap.MaxSlots-1)
	}
	var slot VxtapCaptureSlot
	if err := o.VxtapMaps.CaptureSlots.Lookup(uint32(i), &slot); err != nil {
		return fmt.Errorf("read capture slot %d: %w", i, err)
	}
	if slot.Active != 0 {
		slot.Active = 0
		if err := o.writeSlot(i, &slot); err != nil {
			return err
		}
	}
	if err := o.writeSlot(i, &VxtapCaptureSlot{}); err != nil {
		return err
	}
	return o.countActive()
}

// CaptureCounters sums slot i's counters over the CPUs.
func (o *Objects) CaptureCounters(i int) (livecap.Counters, error) {
	var per []VxtapCaptureCounters
	if err := o.VxtapMaps.CaptureStats.Lookup(uint32(i), &per); err != nil {
		return livecap.Counters{}, fmt.Errorf("read capture counters of slot %d: %w", i, err)
	}
	var c livecap.Counters
	for _, p := range per {
		c.Matched += p.Matched
		c.Sent += p.Sent
		c.Lost += p.Lost
		c.OverLimit += p.OverLimit
	}
	return c, nil
}

// CaptureActive reports which slots the data path runs: bit i set when
// slot i is active.
func (o *Objects) CaptureActive() (uint8, error) {
	var m uint8
	for i := 0; i < livecap.MaxSlots; i++ {
		var s VxtapCaptureSlot
		if err := o.VxtapMaps.CaptureSlots.Lookup(uint32(i), &s); err != nil {
			return 0, fmt.Errorf("read capture slot %d: %w", i, err)
		}
		if s.Active != 0 {
			m |= 1 << i
		}
	}
	return m, nil
}

func (o *Objects) writeSlot(i int, s *VxtapCaptureSlot) error {
	if err := o.VxtapMaps.CaptureSlots.Update(uint32(i), s, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("write capture slot %d: %w", i, err)
	}
	return nil
}

// countActive writes how many slots are active, which a copy tests
// before looking at any slot.
func (o *Objects) countActive() error {
	m, err := o.CaptureActive()
	if err != nil {
		return err
	}
	ctl := VxtapCaptureCtl{Nactive: uint32(bits.OnesCount8(m))}
	if err := o.VxtapMaps.CaptureControl.Update(uint32(0), &ctl, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("write capture count: %w", err)
	}
	return nil
}

func (o *Objects) zeroCaptureStats(i int) error {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	if err := o.VxtapMaps.CaptureStats.Update(uint32(i), make([]VxtapCaptureCounters, n), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("zero capture counters of slot %d: %w", i, err)
	}
	return nil
}

// compileCapture turns a spec into the slot the program reads.
func compileCapture(spec livecap.Spec) (VxtapCaptureSlot, error) {
	s := VxtapCaptureSlot{Active: 1, SnapLen: spec.SnapLen, Gen: spec.Gen, Limit: spec.Limit}
	if spec.SnapLen == 0 || spec.SnapLen > livecap.MaxSnapLen {
		return s, fmt.Errorf("capture snap length %d: want 1..%d", spec.SnapLen, livecap.MaxSnapLen)
	}
	if len(spec.Terms) > len(s.Terms) {
		return s, fmt.Errorf("capture filter: %d terms, the data path checks at most %d", len(spec.Terms), len(s.Terms))
	}
	for i, t := range spec.Terms {
		ct, err := compileTerm(t)
		if err != nil {
			return s, fmt.Errorf("capture filter term %d: %w", i+1, err)
		}
		s.Terms[i] = ct
	}
	s.Nterms = uint32(len(spec.Terms))
	return s, nil
}

// termKinds maps the top view's term fields to the data path's kinds.
var termKinds = map[string]VxtapCaptureTermKind{
	"vni": VxtapCaptureTermKindCAPTURE_TERM_VNI, "addr": VxtapCaptureTermKindCAPTURE_TERM_ADDR,
	"src": VxtapCaptureTermKindCAPTURE_TERM_SRC, "dst": VxtapCaptureTermKindCAPTURE_TERM_DST,
	"mirror": VxtapCaptureTermKindCAPTURE_TERM_MIRROR, "port": VxtapCaptureTermKindCAPTURE_TERM_PORT,
	"sport": VxtapCaptureTermKindCAPTURE_TERM_SPORT, "dport": VxtapCaptureTermKindCAPTURE_TERM_DPORT,
	"proto": VxtapCaptureTermKindCAPTURE_TERM_PROTO,
}

func compileTerm(t topview.Term) (VxtapCaptureTerm, error) {
	var ct VxtapCaptureTerm
	k, ok := termKinds[t.Field]
	if !ok {
		return ct, fmt.Errorf("unknown term %q", t.Field)
	}
	ct.Kind, ct.Num = uint8(k), t.Num
	switch k {
	case VxtapCaptureTermKindCAPTURE_TERM_ADDR, VxtapCaptureTermKindCAPTURE_TERM_SRC,
		VxtapCaptureTermKindCAPTURE_TERM_DST, VxtapCaptureTermKindCAPTURE_TERM_MIRROR:
		p := t.Prefix.Masked()
		if !p.IsValid() {
			return ct, fmt.Errorf("invalid prefix")
		}
		// An IPv4-mapped IPv6 prefix stays IPv6, which matches no IPv4
		// packet: as in the top view (Filter.Match).
		a := p.Addr()
		ct.Family = 6
		if a.Is4() {
			ct.Family = 4
		}
		b := a.As16()
		if a.Is4() {
			b = [16]byte{}
			v4 := a.As4()
			copy(b[:4], v4[:])
		}
		ct.Addr = b
		for bit := 0; bit < p.Bits(); bit++ {
			ct.Mask[bit/8] |= 0x80 >> (bit % 8)
		}
	case VxtapCaptureTermKindCAPTURE_TERM_PROTO:
		for _, pr := range t.Protos {
			ct.Protos[pr/64] |= 1 << (pr % 64)
		}
	}
	return ct, nil
}

var captureHdrSize = int(unsafe.Sizeof(VxtapCaptureHdr{}))

// decodeCapture reads an EVENT_CAPTURE record into a sample carrying the
// capture bitmask, the slots' generations and the mirror source.
func (e *Events) decodeCapture(raw []byte, onSample func(flow.Sample)) {
	if len(raw) < captureHdrSize {
		e.Malformed++
		return
	}
	h := (*VxtapCaptureHdr)(unsafe.Pointer(&raw[0]))
	if int(h.CapLen) > len(raw)-captureHdrSize {
		e.Malformed++
		return
	}
	if onSample == nil {
		return
	}
	onSample(flow.Sample{
		VNI:          h.Vni,
		Time:         e.clock.wall(h.TsNs, e.clock.base()),
		OrigLen:      h.OrigLen,
		Rule:         h.Rule,
		Data:         append([]byte(nil), raw[captureHdrSize:captureHdrSize+int(h.CapLen)]...),
		Captures:     h.Captures,
		CaptureGens:  h.Gen,
		MirrorSource: addrFrom(h.OuterSrc, h.OuterFamily),
	})
}
