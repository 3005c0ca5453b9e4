package loader

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/vxtap/vxtap/userspace/flow"
)

// FuzzDecodeEvent: any ring buffer record, of any length and content, is
// decoded or counted as malformed; never a crash, never a sample reaching
// past the record. One record is one outcome, except a flow start that
// also ends its flow (startEnds): a start, then an end.
func FuzzDecodeEvent(f *testing.F) {
	ev := make([]byte, flowEventSize)
	binary.NativeEndian.PutUint32(ev, uint32(VxtapVxtapEventTypeEVENT_FLOW_START))
	f.Add(ev)
	end := append([]byte(nil), ev...)
	binary.NativeEndian.PutUint32(end, uint32(VxtapVxtapEventTypeEVENT_FLOW_END))
	end[unsafe.Offsetof(VxtapFlowEvent{}.OuterFamily)] = 10
	f.Add(end)
	smp := make([]byte, sampleHdrSize+64)
	binary.NativeEndian.PutUint32(smp, uint32(VxtapVxtapEventTypeEVENT_SAMPLE))
	binary.NativeEndian.PutUint32(smp[unsafe.Offsetof(VxtapSampleHdr{}.CapLen):], 64)
	f.Add(smp)
	f.Add(smp[:sampleHdrSize+10])
	hit := make([]byte, threatEvSize)
	binary.NativeEndian.PutUint32(hit, uint32(VxtapVxtapEventTypeEVENT_THREAT_HIT))
	binary.NativeEndian.PutUint32(hit[unsafe.Offsetof(VxtapThreatEvent{}.DstList):], 1<<20) // wider than a list id
	f.Add(hit)
	f.Add(hit[:threatEvSize-1])
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, raw []byte) {
		e := &Events{clock: newClockConv(false)}
		buf := make([]byte, len(raw)) // a record of exactly this length
		copy(buf, raw)
		events, samples := 0, 0
		var types []flow.EventType
		e.decode(buf, e.clock.base(), func(ev flow.Event) { events++; types = append(types, ev.Type) }, func(s flow.Sample) {
			samples++
			if len(s.Data) > len(raw)-sampleHdrSize {
				t.Fatalf("sample of %d bytes from a %d-byte record", len(s.Data), len(raw))
			}
		})
		if events == 2 && types[0] == flow.FlowStart && types[1] == flow.FlowEnd && startEnds((*VxtapFlowEvent)(unsafe.Pointer(&buf[0]))) {
			events = 1 // a start that ends its flow: one record, two events
		}
		if events+samples+int(e.Malformed) != 1 {
			t.Fatalf("record of %d bytes: %d events, %d samples, %d malformed: want exactly one outcome", len(raw), events, samples, e.Malformed)
		}
	})
}
