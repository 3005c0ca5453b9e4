package ipfix

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// datagramConn is a fake UDP socket: each Write is one datagram, kept;
// fail, when set, decides which writes are refused.
type datagramConn struct {
	mu     sync.Mutex
	msgs   [][]byte
	writes int
	fail   func(n int) error // n counts writes from 1
	remote net.Addr
	closed bool
}

func (c *datagramConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	if c.fail != nil {
		if err := c.fail(c.writes); err != nil {
			return 0, err
		}
	}
	c.msgs = append(c.msgs, bytes.Clone(b))
	return len(b), nil
}

func (c *datagramConn) messages() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.msgs...)
}

func (c *datagramConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *datagramConn) Close() error                     { c.closed = true; return nil }
func (c *datagramConn) LocalAddr() net.Addr              { return &net.UDPAddr{} }
func (c *datagramConn) RemoteAddr() net.Addr             { return c.remote }
func (c *datagramConn) SetDeadline(time.Time) error      { return nil }
func (c *datagramConn) SetReadDeadline(time.Time) error  { return nil }
func (c *datagramConn) SetWriteDeadline(time.Time) error { return nil }

var errRefused = errors.New("connection refused (fake)")

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// udpExporter is an exporter whose every dial returns conn.
func udpExporter(t *testing.T, conn *datagramConn, clock *fakeClock, mtu int) *Exporter {
	t.Helper()
	if conn.remote == nil {
		conn.remote = &net.UDPAddr{IP: net.IPv4(198, 18, 0, 1), Port: 4739}
	}
	e, err := New(Config{
		Network: "udp", Addr: "198.18.0.1:4739", Domain: 42, MTU: mtu,
		TemplateRefresh: time.Hour, Now: clock.Now,
		Dial: func(context.Context, string, string) (net.Conn, error) { return conn, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// testRecords is n records over every layout: inner IPv4 and IPv6,
// mirror sources of both families, known and unknown directions, every
// end reason, sessions with and without names.
func testRecords(n int) []flow.Record {
	ends := []string{flow.EndIdle, flow.EndActive, flow.EndTCP, flow.EndShutdown, flow.EndEvicted, flow.EndOverflow}
	dirs := []flow.Direction{flow.DirIngress, flow.DirEgress, flow.DirUnknown}
	base := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	rs := make([]flow.Record, n)
	for i := range rs {
		r := flow.Record{
			VNI:       uint32(100 + i%7*1000003%(1<<24)),
			Direction: dirs[i%3],
			Proto:     []uint8{6, 17, 1, 58}[i%4],
			SPort:     uint16(1024 + i),
			DPort:     uint16(443 + i%5),
			Packets:   uint64(1 + i*3),
			Bytes:     uint64(60+i*1500) + 1<<33*uint64(i%2), // above 32 bits too
			First:     base.Add(time.Duration(i) * time.Millisecond * 1001),
			Last:      base.Add(time.Duration(i)*time.Millisecond*1001 + 5*time.Second + 7*time.Millisecond),
			TCPFlags:  uint8(i),
			EndReason: ends[i%len(ends)],
		}
		if r.Proto != 6 && r.Proto != 17 {
			r.SPort, r.DPort, r.TCPFlags = 0, 0, 0 // as the data path keys ICMP
		}
		if i%2 == 0 {
			r.Src = netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
			r.Dst = netip.AddrFrom4([4]byte{198, 19, 200, byte(i)})
		} else {
			r.Src = netip.MustParseAddr(fmt.Sprintf("2001:db8:1::%x", i))
			r.Dst = netip.MustParseAddr(fmt.Sprintf("2001:db8:2::%x", i))
		}
		if i/2%2 == 0 {
			r.MirrorSource = netip.AddrFrom4([4]byte{198, 18, 1, byte(i)})
		} else {
			r.MirrorSource = netip.MustParseAddr(fmt.Sprintf("2001:db8:ff::%x", i))
		}
		if i%5 != 0 {
			r.Session = fmt.Sprintf("session-%d", i%5)
			r.ENI = fmt.Sprintf("eni-%017x", i)
		}
		rs[i] = r
	}
	return rs
}

// decoded is what goflow2's decoder made of a stream of messages.
type decoded struct {
	headers   []netflow.IPFIXPacket // FlowSets left out
	templates map[uint16][]netflow.Field
	options   []netflow.IPFIXOptionsTemplateRecord
	sampling  []netflow.OptionsDataRecord
	records   []netflow.DataRecord
	recordTpl []uint16 // template ID of each record
}

// decodeAll runs every message through goflow2's IPFIX decoder, with one
// template cache for the whole stream as a collector keeps it; a set it
// cannot decode (a data set before its template) fails the test.
func decodeAll(t *testing.T, msgs [][]byte) decoded {
	t.Helper()
	ts := netflow.CreateTemplateSystem()
	d := decoded{templates: map[uint16][]netflow.Field{}}
	for i, m := range msgs {
		var v9 netflow.NFv9Packet
		var p netflow.IPFIXPacket
		if err := netflow.DecodeMessageVersion(bytes.NewBuffer(m), ts, &v9, &p); err != nil {
			t.Fatalf("message %d: goflow2: %v", i, err)
		}
		if int(p.Length) != len(m) {
			t.Fatalf("message %d: header length %d, message %d octets", i, p.Length, len(m))
		}
		for _, fs := range p.FlowSets {
			switch s := fs.(type) {
			case netflow.TemplateFlowSet:
				for _, r := range s.Records {
					d.templates[r.TemplateId] = r.Fields
				}
			case netflow.IPFIXOptionsTemplateFlowSet:
				d.options = append(d.options, s.Records...)
			case netflow.OptionsDataFlowSet:
				d.sampling = append(d.sampling, s.Records...)
			case netflow.DataFlowSet:
				for _, r := range s.Records {
					d.records = append(d.records, r)
					d.recordTpl = append(d.recordTpl, s.Id)
				}
			default:
				t.Fatalf("message %d: set goflow2 could not decode: %#v", i, fs)
			}
		}
		p.FlowSets = nil
		d.headers = append(d.headers, p)
	}
	return d
}

// splitStream cuts a TCP byte stream into messages by their length field.
func splitStream(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var msgs [][]byte
	for len(b) > 0 {
		if len(b) < headerLen {
			t.Fatalf("stream ends in a message header (%d octets left)", len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < headerLen || n > len(b) {
			t.Fatalf("message length %d, %d octets left", n, len(b))
		}
		msgs = append(msgs, b[:n])
		b = b[n:]
	}
	return msgs
}

func batch(seq uint64, rs []flow.Record) pipeline.Batch {
	return pipeline.Batch{Instance: "test", Seq: seq, Time: time.Now(), Records: rs}
}
