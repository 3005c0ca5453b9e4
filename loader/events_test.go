package loader

import (
	"testing"
	"time"
	"unsafe"

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

// TestWakeupCountedOnlyWhenSent: the rb_wakeup flag counts the wakeups
// the program forced: one per reader position once the ring holds more
// than the threshold, the reader's first position (0) included, and none
// for a record the full ring refused (which wakes no one, nor spends the
// wakeup of its position). Every copy of one flow is sampled into a
// one-page ring.
func TestWakeupCountedOnlyWhenSent(t *testing.T) {
	testutil.RequirePrivileged(t)
	f := mirrored(t, 7, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP, in4a, in4b), tcpL(2000, 443))
	const page, ringHdr, innerOff = 4096, 8, 50 // ring page, record header, inner frame in f
	rec := (ringHdr + int(unsafe.Sizeof(VxtapSampleHdr{})) + len(f) - innerOff + 7) &^ 7
	setup := func(t *testing.T, threshold int) (*Objects, *Events) {
		cfg := DefaultConfig()
		cfg.FlowTableSize = 256
		cfg.SampleRate = 1
		cfg.RingBytes = page
		cfg.WakeupBytes = uint64(threshold)
		return loadWithEvents(t, cfg)
	}
	send := func(t *testing.T, o *Objects, n int) {
		for i := 0; i < n; i++ {
			if _, err := o.RunPacket(f, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("first-position", func(t *testing.T) {
		// Past the threshold after the third record, reader at 0.
		o, _ := setup(t, 2*rec)
		send(t, o, 10)
		if woken := flagPackets(t, o, "rb_wakeup"); woken != 1 {
			t.Errorf("rb_wakeup %d, want 1 (reader at its first position)", woken)
		}
	})
	t.Run("refused-record", func(t *testing.T) {
		// One byte past the room a sample needs: the first record to see
		// the ring that full is one it refuses. The reader has moved.
		o, ev := setup(t, page-rec+1)
		send(t, o, 1)
		if _, err := ev.Read(time.Unix(1, 0), nil, nil); err != nil {
			t.Fatal(err)
		}
		send(t, o, 100)
		sampled, full, woken := flagPackets(t, o, "sampled"), flagPackets(t, o, "ringbuf_full"), flagPackets(t, o, "rb_wakeup")
		if sampled == 0 || full == 0 || woken != 0 {
			t.Errorf("sampled %d, ringbuf_full %d, rb_wakeup %d; want some, some and 0", sampled, full, woken)
		}
	})
}
