package loader

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestStartThatEndsIsOneRecord: a flow whose first packet carries RST
// (or FIN) takes one ring record, not two, and the reader still hands on
// a start and then an end, both counted; a FIN on a known flow is an end
// record of its own; a first packet without either is a start alone.
func TestStartThatEndsIsOneRecord(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadTable(t, 256)
	ev, err := o.OpenEvents()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	tcp := func(sport uint16, set func(*layers.TCP)) []byte {
		l := tcpL(sport, 443)
		set(l)
		return mirrored(t, 7, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP, in4a, in4b), l)
	}
	run := func(frame []byte) (int, []flow.EventType) {
		t.Helper()
		if _, err := o.RunPacket(frame, time.Now()); err != nil {
			t.Fatal(err)
		}
		var types []flow.EventType
		n, err := ev.Read(time.Unix(1, 0), func(e flow.Event) {
			types = append(types, e.Type)
			if e.Key.SPort != 1000 && e.Key.SPort != 1001 {
				t.Errorf("event of port %d", e.Key.SPort)
			}
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return n, types
	}
	eq := func(a, b []flow.EventType) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	se := []flow.EventType{flow.FlowStart, flow.FlowEnd}
	if n, types := run(tcp(1000, func(l *layers.TCP) { l.RST = true })); n != 1 || !eq(types, se) {
		t.Errorf("RST first: %d records, events %v, want 1 and %v", n, types, se)
	}
	if n, types := run(tcp(1001, func(*layers.TCP) {})); n != 1 || !eq(types, se[:1]) {
		t.Errorf("ACK first: %d records, events %v, want 1 and %v", n, types, se[:1])
	}
	if n, types := run(tcp(1001, func(l *layers.TCP) { l.FIN = true })); n != 1 || !eq(types, se[1:]) {
		t.Errorf("FIN on a known flow: %d records, events %v, want 1 and %v", n, types, se[1:])
	}
	if n, types := run(tcp(1001, func(l *layers.TCP) { l.FIN = true })); n != 0 || len(types) != 0 {
		t.Errorf("second FIN: %d records, events %v, want none", n, types)
	}
	if s, e := flagPackets(t, o, "flow_start"), flagPackets(t, o, "flow_end"); s != 2 || e != 2 {
		t.Errorf("flow_start %d, flow_end %d, want 2 and 2", s, e)
	}
}
