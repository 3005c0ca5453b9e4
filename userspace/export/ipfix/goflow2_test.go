package ipfix

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/vxtap/vxtap/userspace/flow"
)

// values maps a decoded record's element IDs to their bytes.
func values(t *testing.T, r netflow.DataRecord) map[uint16][]byte {
	t.Helper()
	m := map[uint16][]byte{}
	for _, v := range r.Values {
		b, ok := v.Value.([]byte)
		if !ok {
			t.Fatalf("element %d: value %T", v.Type, v.Value)
		}
		if v.PenProvided {
			t.Fatalf("element %d carries an enterprise number", v.Type)
		}
		m[v.Type] = b
	}
	return m
}

func u(b []byte) uint64 {
	var x uint64
	for _, c := range b {
		x = x<<8 | uint64(c)
	}
	return x
}

// checkRecord compares every element goflow2 decoded with the record
// it came from.
func checkRecord(t *testing.T, i int, got map[uint16][]byte, tpl uint16, r flow.Record) {
	t.Helper()
	l, _ := layoutOf(&r)
	if tpl != l.templateID() {
		t.Errorf("record %d: template %d, want %d", i, tpl, l.templateID())
	}
	want := map[uint16]uint64{
		ieOctetDeltaCount: r.Bytes, iePacketDeltaCount: r.Packets,
		ieFlowStartMilliseconds: uint64(r.First.UnixMilli()), ieFlowEndMilliseconds: uint64(r.Last.UnixMilli()),
		ieProtocolIdentifier: uint64(r.Proto), ieTCPControlBits: uint64(r.TCPFlags),
		ieSourceTransportPort: uint64(r.SPort), ieDestinationTransportPort: uint64(r.DPort),
		ieIngressInterface: uint64(r.VNI), ieFlowEndReason: uint64(endReason(r.EndReason)),
		ieLayer2SegmentID: 0x01<<56 | uint64(r.VNI),
	}
	for id, w := range want {
		if g, ok := got[id]; !ok || u(g) != w {
			t.Errorf("record %d: element %d = %x, want %d", i, id, g, w)
		}
	}
	seg := got[ieLayer2SegmentID]
	if len(seg) != 8 || seg[0] != 0x01 || u(seg[5:]) != uint64(r.VNI) {
		t.Errorf("record %d: layer2SegmentId %x: want 01 00 00 00 00 then VNI %d in three octets", i, seg, r.VNI)
	}
	addr := func(id uint16) netip.Addr {
		a, _ := netip.AddrFromSlice(got[id])
		return a
	}
	if r.Src.Is4() {
		if addr(ieSourceIPv4Address) != r.Src || addr(ieDestinationIPv4Address) != r.Dst {
			t.Errorf("record %d: IPv4 %v -> %v, want %v -> %v", i, addr(ieSourceIPv4Address), addr(ieDestinationIPv4Address), r.Src, r.Dst)
		}
	} else if addr(ieSourceIPv6Address) != r.Src || addr(ieDestinationIPv6Address) != r.Dst {
		t.Errorf("record %d: IPv6 %v -> %v, want %v -> %v", i, addr(ieSourceIPv6Address), addr(ieDestinationIPv6Address), r.Src, r.Dst)
	}
	origin := ieOriginalExporterIPv4
	if r.MirrorSource.Is6() {
		origin = ieOriginalExporterIPv6
	}
	if addr(uint16(origin)) != r.MirrorSource {
		t.Errorf("record %d: mirror source %v, want %v", i, addr(uint16(origin)), r.MirrorSource)
	}
	d, hasDir := got[ieFlowDirection]
	switch {
	case r.Direction == flow.DirUnknown && hasDir:
		t.Errorf("record %d: unknown direction exported as %x", i, d)
	case r.Direction == flow.DirIngress && (!hasDir || d[0] != 0):
		t.Errorf("record %d: ingress exported as %x", i, d)
	case r.Direction == flow.DirEgress && (!hasDir || d[0] != 1):
		t.Errorf("record %d: egress exported as %x", i, d)
	}
	if string(got[ieInterfaceName]) != r.Session || string(got[ieInterfaceDescription]) != r.ENI {
		t.Errorf("record %d: session %q ENI %q, want %q %q", i, got[ieInterfaceName], got[ieInterfaceDescription], r.Session, r.ENI)
	}
}

// TestGoflow2DecodesEveryTemplateAndRecord: goflow2's IPFIX decoder reads
// every template (IPv4 and IPv6 inner flows, IPv4 and IPv6 mirror
// sources, with and without a direction), the sampling options record,
// and every data record with the values sent; messages stay under the
// MTU; the sequence number counts the data records before each message.
func TestGoflow2DecodesEveryTemplateAndRecord(t *testing.T) {
	for _, remote := range []net.Addr{
		&net.UDPAddr{IP: net.IPv4(198, 18, 0, 1), Port: 4739},
		&net.UDPAddr{IP: net.ParseIP("2001:db8::1"), Port: 4739},
	} {
		conn := &datagramConn{remote: remote}
		clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
		e := udpExporter(t, conn, clock, 1500)
		rs := testRecords(500)
		for i := 0; i < len(rs); i += 100 {
			if err := e.WriteBatch(context.Background(), batch(uint64(i), rs[i:i+100])); err != nil {
				t.Fatal(err)
			}
		}
		msgs := conn.messages()
		limit := 1500 - 28
		if remote.(*net.UDPAddr).IP.To4() == nil {
			limit = 1500 - 48
		}
		for i, m := range msgs {
			if len(m) > limit {
				t.Errorf("message %d: %d octets, over %d", i, len(m), limit)
			}
		}
		d := decodeAll(t, msgs)

		if len(d.templates) != numLayouts {
			t.Errorf("%d templates, want %d", len(d.templates), numLayouts)
		}
		for _, l := range layouts() {
			var want []netflow.Field
			for _, f := range l.fields() {
				want = append(want, netflow.Field{Type: f.id, Length: f.length})
			}
			if !slices.Equal(d.templates[l.templateID()], want) {
				t.Errorf("template %d: %v, want %v", l.templateID(), d.templates[l.templateID()], want)
			}
		}
		if len(d.options) != 1 || d.options[0].TemplateId != samplingTemplateID || len(d.options[0].Scopes) != 1 ||
			d.options[0].Scopes[0].Type != ieObservationDomainID {
			t.Errorf("options templates %+v", d.options)
		}
		if len(d.sampling) != 1 {
			t.Fatalf("%d sampling records, want 1", len(d.sampling))
		}
		s := d.sampling[0]
		if u(s.ScopesValues[0].Value.([]byte)) != 42 || s.OptionsValues[0].Type != ieSamplingPacketInterval ||
			u(s.OptionsValues[0].Value.([]byte)) != 1 || s.OptionsValues[1].Type != ieSamplingPacketSpace ||
			u(s.OptionsValues[1].Value.([]byte)) != 0 {
			t.Errorf("sampling record %+v: want domain 42, samplingPacketInterval 1, samplingPacketSpace 0", s)
		}

		if len(d.records) != len(rs) {
			t.Fatalf("%d records decoded, want %d", len(d.records), len(rs))
		}
		seen := map[uint16]bool{}
		for i, r := range d.records {
			checkRecord(t, i, values(t, r), d.recordTpl[i], rs[i])
			seen[d.recordTpl[i]] = true
		}
		if len(seen) != numLayouts {
			t.Errorf("records used %d templates, want all %d", len(seen), numLayouts)
		}

		// Sequence: data records (flows and the one options record)
		// before each message; all messages from domain 42 at the clock.
		var before uint32
		for i, h := range d.headers {
			if h.SequenceNumber != before {
				t.Errorf("message %d: sequence %d, want %d", i, h.SequenceNumber, before)
			}
			if h.ObservationDomainId != 42 || h.ExportTime != 1_800_000_000 || h.Version != 10 {
				t.Errorf("message %d: header %+v", i, h)
			}
			n := countDataRecords(t, msgs[i])
			before += n
		}
		if st := e.Stats(); st.Records != uint64(len(rs)) || st.Messages != uint64(len(msgs)) || st.Templates != 1 || st.SendErrors != 0 {
			t.Errorf("stats %+v", st)
		}
	}
}

// countDataRecords counts the data records of a message by walking its
// sets with the templates' sizes (independently of the encoder's count).
func countDataRecords(t *testing.T, m []byte) uint32 {
	t.Helper()
	var n uint32
	for b := m[headerLen:]; len(b) > 0; {
		id, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		body := b[setHeaderLen:l]
		b = b[l:]
		switch {
		case id == samplingTemplateID:
			n += uint32(len(body) / 12)
		case id >= 256:
			for len(body) > 0 {
				var lay layout
				for _, x := range layouts() {
					if x.templateID() == id {
						lay = x
					}
				}
				for _, f := range lay.fields() {
					if f.length == varLen {
						body = body[1+int(body[0]):]
					} else {
						body = body[f.length:]
					}
				}
				n++
			}
		}
	}
	return n
}

// TestEndReasonMapping: every end reason maps to the flowEndReason the
// docs give.
func TestEndReasonMapping(t *testing.T) {
	want := map[string]uint8{
		flow.EndIdle: 1, flow.EndActive: 2, flow.EndTCP: 3, flow.EndShutdown: 4,
		flow.EndEvicted: 5, flow.EndOverflow: 5, "": 4, "something-new": 4,
	}
	for reason, w := range want {
		if g := endReason(reason); g != w {
			t.Errorf("%q -> %d, want %d", reason, g, w)
		}
	}
}

// TestLongStringsAndSmallMTU: session names and ENI ids longer than
// maxString are cut at a character boundary; at the smallest MTU every
// message still fits and goflow2 still decodes every record.
func TestLongStringsAndSmallMTU(t *testing.T) {
	conn := &datagramConn{}
	e := udpExporter(t, conn, &fakeClock{t: time.Unix(1_800_000_000, 0)}, MinMTU)
	rs := testRecords(40)
	long := string(bytes.Repeat([]byte("é"), 200)) // 400 octets, 2 per character
	for i := range rs {
		rs[i].Session, rs[i].ENI = long, "x"+long
	}
	if err := e.WriteBatch(context.Background(), batch(1, rs)); err != nil {
		t.Fatal(err)
	}
	for i, m := range conn.messages() {
		if len(m) > MinMTU-28 {
			t.Errorf("message %d: %d octets over %d", i, len(m), MinMTU-28)
		}
	}
	d := decodeAll(t, conn.messages())
	if len(d.records) != len(rs) {
		t.Fatalf("%d records, want %d", len(d.records), len(rs))
	}
	for i, r := range d.records {
		v := values(t, r)
		if s := string(v[ieInterfaceName]); s != long[:maxString] {
			t.Errorf("record %d: session %d octets %q", i, len(s), s)
		}
		if s := string(v[ieInterfaceDescription]); s != "x"+long[:maxString-2] {
			t.Errorf("record %d: ENI cut to %d octets, want %d (a whole character)", i, len(s), maxString-1)
		}
	}
}

// TestInvalidRecordCounted: a record whose addresses are of two families
// is skipped and counted; the rest of the batch goes out.
func TestInvalidRecordCounted(t *testing.T) {
	conn := &datagramConn{}
	e := udpExporter(t, conn, &fakeClock{t: time.Unix(1_800_000_000, 0)}, 1500)
	rs := testRecords(3)
	rs[1].Dst = netip.MustParseAddr("198.19.0.1")
	if err := e.WriteBatch(context.Background(), batch(1, rs)); err != nil {
		t.Fatal(err)
	}
	d := decodeAll(t, conn.messages())
	if len(d.records) != 2 || e.Stats().Invalid != 1 || e.Stats().Records != 2 {
		t.Errorf("%d records decoded, stats %+v: want 2 sent, 1 invalid", len(d.records), e.Stats())
	}
}
