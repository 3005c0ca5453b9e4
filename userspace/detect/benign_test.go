package detect

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Five minutes of ordinary traffic, both directions of every connection
// as two one-way flows: a web server answering 50 clients, the instance
// fetching from a few APIs, bulk transfers at a steady rate, ordinary DNS,
// long SSH sessions, ICMP pings, NTP, a UDP service; DNS answers to a
// new client port every second. Nothing may be raised.
func TestBenignMixRaisesNothing(t *testing.T) {
	cfg := Default()
	cfg.Mining.Domains = []string{"minexmr.com"}
	e, _ := newTestEngine(t, cfg)
	both := func(at time.Time, dur time.Duration, c, s netip.Addr, proto uint8, cp, sp uint16, pkts, bytes uint64, end string) {
		syn, synack := uint8(0), uint8(0)
		if proto == 6 {
			syn, synack = tcpSYN, tcpSYN|tcpACK
		}
		e.WriteEvents(evs(start(at, c, s, proto, cp, sp, syn), start(at, s, c, proto, sp, cp, synack)))
		fl := uint8(0)
		if proto == 6 {
			fl = tcpSYN | tcpACK | tcpFIN
		}
		e.WriteRecords(recs(record(at, dur, c, s, proto, cp, sp, pkts, bytes, fl, end),
			record(at, dur, s, c, proto, sp, cp, pkts, bytes*3, fl, end)))
	}
	apis := []netip.Addr{netip.MustParseAddr("198.19.10.1"), netip.MustParseAddr("198.19.10.2"), netip.MustParseAddr("2001:db8:10::1")}
	port := uint16(30000)
	next := func() uint16 { port++; return port }
	var dns []flow.Sample
	for sec := 0; sec < 300; sec++ {
		at := t0.Add(time.Duration(sec) * time.Second)
		// 50 web clients, one request each every 10 s, each a short connection.
		c := netip.AddrFrom4([4]byte{198, 19, 20, byte(sec % 50)})
		both(at, 300*time.Millisecond, c, inst, 6, next(), 443, 12, 4000, flow.EndTCP)
		// The instance calling its APIs.
		both(at, 200*time.Millisecond, inst, apis[sec%len(apis)], 6, next(), 443, 10, 3000, flow.EndTCP)
		// Ordinary DNS for them, and the instance's own UDP service (port
		// 5353) answering a different client port every second: replies
		// to 60 ephemeral ports a minute are not a port scan.
		both(at, 10*time.Millisecond, netip.AddrFrom4([4]byte{198, 19, 21, byte(sec)}), inst, 17, next(), 5353, 1, 60, flow.EndIdle)
		{
			dns = append(dns, dnsSample(at, inst, fmt.Sprintf("api%d.service.example.com", sec%7)))
			both(at, 10*time.Millisecond, inst, resolver, 17, next(), 53, 1, 70, flow.EndIdle)
		}
		// Ping and NTP now and then.
		if sec%10 == 0 {
			both(at, time.Second, inst, apis[0], 1, 0, 0, 1, 84, flow.EndIdle)
			both(at, 0, inst, netip.MustParseAddr("198.19.30.1"), 17, 123, 123, 1, 76, flow.EndIdle)
		}
		// Bulk transfer and two SSH sessions: active records every minute, steady.
		if sec%60 == 59 {
			m := t0.Add(time.Duration(sec-59) * time.Second)
			e.WriteRecords(recs(
				record(m, time.Minute, inst, apis[1], 6, 29000, 443, 400000, 600<<20, tcpACK, flow.EndActive),
				record(m, time.Minute, apis[1], inst, 6, 443, 29000, 200000, 10<<20, tcpACK, flow.EndActive),
				record(m, time.Minute, remote2, inst, 6, 28000, 22, 900, 90000, tcpACK, flow.EndActive),
				record(m, time.Minute, inst, remote2, 6, 22, 28000, 1200, 900000, tcpACK, flow.EndActive),
				record(m, time.Minute, inst6, netip.MustParseAddr("2001:db8:20::22"), 6, 28001, 22, 300, 30000, tcpACK, flow.EndActive)))
		}
	}
	e.WriteSamples(dns)
	none(t, e)
}
