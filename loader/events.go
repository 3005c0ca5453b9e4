package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/vxtap/vxtap/userspace/flow"
)

// Events reads the ring buffer. The program submits without waking the
// reader (a wakeup per record costs much of the throughput), so Read
// always polls with a deadline and takes whatever is queued.
type Events struct {
	rd    *ringbuf.Reader
	clock clockConv
	rec   ringbuf.Record
	// Malformed counts records too short for their type: a bug in the
	// data path if ever non-zero, counted rather than crashing.
	Malformed uint64
}

// OpenEvents opens a reader on the events ring buffer.
func (o *Objects) OpenEvents() (*Events, error) {
	rd, err := ringbuf.NewReader(o.VxtapMaps.Events)
	if err != nil {
		return nil, fmt.Errorf("open ring buffer: %w", err)
	}
	return &Events{rd: rd, clock: o.clock}, nil
}

// Close releases the reader; a blocked Read returns.
func (e *Events) Close() error { return e.rd.Close() }

var (
	flowEventSize = int(unsafe.Sizeof(VxtapFlowEvent{}))
	sampleHdrSize = int(unsafe.Sizeof(VxtapSampleHdr{}))
	threatEvSize  = int(unsafe.Sizeof(VxtapThreatEvent{}))
)

// Read implements flow.EventSource.
func (e *Events) Read(deadline time.Time, onEvent func(flow.Event), onSample func(flow.Sample)) (int, error) {
	n := 0
	e.rd.SetDeadline(deadline)
	// One clock base per drain, not per record: reading the clocks is
	// two system calls, which cost more than the rest of a record.
	base := e.clock.base()
	for {
		err := e.rd.ReadInto(&e.rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("read ring buffer: %w", err)
		}
		n++
		e.decode(e.rec.RawSample, base, onEvent, onSample)
		if e.rd.AvailableBytes() == 0 {
			// Drained: come back at the next deadline rather than block.
			return n, nil
		}
	}
}

func (e *Events) decode(raw []byte, base int64, onEvent func(flow.Event), onSample func(flow.Sample)) {
	if len(raw) < 4 {
		e.Malformed++
		return
	}
	switch VxtapVxtapEventType(binary.NativeEndian.Uint32(raw)) {
	case VxtapVxtapEventTypeEVENT_FLOW_START, VxtapVxtapEventTypeEVENT_FLOW_END:
		if len(raw) < flowEventSize {
			e.Malformed++
			return
		}
		ev := (*VxtapFlowEvent)(unsafe.Pointer(&raw[0]))
		if onEvent != nil {
			fe := flow.Event{
				Type:         flow.EventType(ev.Type),
				Time:         e.clock.wall(ev.TsNs, base),
				Key:          keyFromBPF(&ev.Key),
				TCPFlags:     ev.TcpFlags,
				MirrorSource: addrFrom(ev.OuterSrc, ev.OuterFamily),
			}
			onEvent(fe)
			if startEnds(ev) {
				fe.Type = flow.FlowEnd
				onEvent(fe)
			}
		}
	case VxtapVxtapEventTypeEVENT_THREAT_HIT:
		if len(raw) < threatEvSize {
			e.Malformed++
			return
		}
		ev := (*VxtapThreatEvent)(unsafe.Pointer(&raw[0]))
		if onEvent != nil {
			onEvent(flow.Event{
				Type:         flow.ThreatHit,
				Threat:       flow.ThreatMatch{SrcList: listID(ev.SrcList), DstList: listID(ev.DstList), First: ev.First != 0},
				Time:         e.clock.wall(ev.TsNs, base),
				Key:          keyFromBPF(&ev.Key),
				TCPFlags:     ev.TcpFlags,
				MirrorSource: addrFrom(ev.OuterSrc, ev.OuterFamily),
			})
		}
	case VxtapVxtapEventTypeEVENT_SAMPLE:
		if len(raw) < sampleHdrSize {
			e.Malformed++
			return
		}
		h := (*VxtapSampleHdr)(unsafe.Pointer(&raw[0]))
		if int(h.CapLen) > len(raw)-sampleHdrSize {
			e.Malformed++
			return
		}
		if onSample != nil {
			onSample(flow.Sample{
				VNI:     h.Vni,
				Time:    e.clock.wall(h.TsNs, base),
				OrigLen: h.OrigLen,
				Rule:    h.Rule,
				Data:    append([]byte(nil), raw[sampleHdrSize:sampleHdrSize+int(h.CapLen)]...),
			})
		}
	case VxtapVxtapEventTypeEVENT_CAPTURE:
		e.decodeCapture(raw, onSample) // capture.go
	default:
		e.Malformed++
	}
}

// tcpEndFlags are the TCP flags that end a flow: FIN (0x01) and RST
// (0x04), bits of the TCP header's flags byte (RFC 9293).
const tcpEndFlags = 0x01 | 0x04

// startEnds reports whether a flow-start record also ends its flow: the
// program sends one record, not a start and an end, for a flow whose
// first packet carries FIN or RST (new_flow in bpf/include/account.h),
// and that packet's flags are the record's. A flow-end record the program
// sent on its own still comes as one.
func startEnds(ev *VxtapFlowEvent) bool {
	return ev.Type == uint32(VxtapVxtapEventTypeEVENT_FLOW_START) && ev.TcpFlags&tcpEndFlags != 0
}

// listID narrows a trie value to the list ids Go writes (SetThreats takes
// uint16 ones); anything wider reads as the widest id, still a hit.
func listID(v uint32) uint16 {
	if v > 0xffff {
		return 0xffff
	}
	return uint16(v)
}
