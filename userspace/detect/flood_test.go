package detect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// hping3 -S: a new source port per SYN, so a flow start per packet.
func synFlood(from, to netip.Addr, n int, spoof bool) []flow.Event {
	var out []flow.Event
	for i := 0; i < n; i++ {
		src := from
		if spoof {
			src = netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
		}
		out = append(out, start(t0.Add(time.Duration(i)*time.Millisecond), src, to, 6, uint16(1024+i), 80, tcpSYN))
	}
	return out
}

// The instance SYN-flooding a host: Backdoor:EC2/DenialOfService.Tcp,
// ACTOR, High, the host and port as remote.
func TestSYNFloodActor(t *testing.T) {
	e, sink := newTestEngine(t, nil)
	e.WriteEvents(synFlood(inst, remote1, 3000, false))
	f := only(t, e, sink, TypeDoSTCP)
	basics(t, f, SevHigh, Actor)
	nc := conn(t, f, Outbound, inst, remote1, "TCP")
	if nc.RemotePortDetails.Port != 80 || f.Vxtap.Evidence.Counts["syn"] != 2000 {
		t.Fatalf("remote port %+v evidence %+v", nc.RemotePortDetails, f.Vxtap.Evidence)
	}
}

// The instance flooded from spoofed sources: the same type, TARGET, no
// single remote, the instance's port as local.
func TestSYNFloodTarget(t *testing.T) {
	e, sink := newTestEngine(t, nil)
	e.WriteEvents(synFlood(netip.Addr{}, inst, 2500, true))
	f := only(t, e, sink, TypeDoSTCP)
	basics(t, f, SevHigh, Target)
	nc := f.Service.Action.NetworkConnectionAction
	if nc.ConnectionDirection != Inbound || nc.LocalIPDetails.Addr() != inst || nc.RemoteIPDetails != nil || nc.LocalPortDetails.Port != 80 {
		t.Fatalf("connection %+v", nc)
	}
}

// A busy server: as many SYNs, but the clients complete their handshakes
// (their records carry ACK), so it is not a flood.
func TestSYNBusyServerNotFlood(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	syns := synFlood(netip.Addr{}, inst, 2500, true)
	for i := 0; i < len(syns); i += 500 {
		e.WriteEvents(syns[i : i+500])
		var rs []flow.Record
		for _, s := range syns[i : i+500] {
			rs = append(rs, record(s.Time, 200*time.Millisecond, s.Key.Src, inst, 6, s.Key.SPort, 80, 6, 700, tcpSYN|tcpACK|tcpFIN, flow.EndTCP))
		}
		e.WriteRecords(rs)
	}
	none(t, e)
}

// A UDP flood at the instance: Backdoor:EC2/DenialOfService.Udp, TARGET;
// a long steady stream of the same size over minutes is not one.
func TestUDPFlood(t *testing.T) {
	e, sink := newTestEngine(t, nil)
	e.WriteRecords(recs(record(t0, 5*time.Second, remote1, inst, 17, 7000, 9999, 300000, 300000*60, 0, flow.EndIdle)))
	f := only(t, e, sink, TypeDoSUDP)
	basics(t, f, SevHigh, Target)
	conn(t, f, Inbound, inst, remote1, "UDP")

	e2, _ := newTestEngine(t, nil)
	e2.WriteRecords(recs(record(t0, 10*time.Minute, remote1, inst, 17, 7000, 9999, 300000, 300000*60, 0, flow.EndActive)))
	none(t, e2)
}

// Short connections to 22 from one host: SSHBruteForce, TARGET, Low; the
// instance doing it to 3389: RDPBruteForce, ACTOR, High.
func TestBruteForce(t *testing.T) {
	e, sink := newTestEngine(t, nil)
	var rs []flow.Record
	for i := 0; i < 25; i++ {
		rs = append(rs, record(t0.Add(time.Duration(i)*2*time.Second), 1500*time.Millisecond, remote2, inst, 6, uint16(50000+i), 22, 18, 3000, tcpSYN|tcpACK|tcpFIN, flow.EndTCP))
	}
	e.WriteRecords(rs)
	f := only(t, e, sink, TypeSSHBrute)
	basics(t, f, SevLow, Target)
	nc := conn(t, f, Inbound, inst, remote2, "TCP")
	if nc.LocalPortDetails.Port != 22 || nc.LocalPortDetails.PortName != "SSH" {
		t.Fatalf("local port %+v", nc.LocalPortDetails)
	}

	e2, sink2 := newTestEngine(t, nil)
	rs = rs[:0]
	for i := 0; i < 25; i++ {
		rs = append(rs, record(t0.Add(time.Duration(i)*time.Second), time.Second, inst, remote1, 6, uint16(50000+i), 3389, 12, 2000, tcpSYN|tcpACK|tcpRST, flow.EndTCP))
	}
	e2.WriteRecords(rs)
	f = only(t, e2, sink2, TypeRDPBrute)
	basics(t, f, SevHigh, Actor)
	conn(t, f, Outbound, inst, remote1, "TCP")
}

// One long SSH session and a handful of logins are not brute force.
func TestSSHSessionsNotBrute(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	rs := recs(record(t0, time.Hour, remote2, inst, 6, 50000, 22, 90000, 9e6, tcpSYN|tcpACK, flow.EndActive))
	for i := 0; i < 5; i++ {
		rs = append(rs, record(t0.Add(time.Duration(i)*time.Minute), 3*time.Second, remote2, inst, 6, uint16(50001+i), 22, 30, 5000, tcpSYN|tcpACK|tcpFIN, flow.EndTCP))
	}
	e.WriteRecords(rs)
	none(t, e)
}

// A source far above its own baseline: Behavior:EC2/TrafficVolumeUnusual.
func TestTrafficVolumeUnusual(t *testing.T) {
	cfg := Default()
	cfg.Volume.MinBytes = 10 << 20
	e, sink := newTestEngine(t, cfg)
	for b := 0; b < 10; b++ {
		e.WriteRecords(recs(record(t0.Add(time.Duration(b)*time.Minute), 30*time.Second, inst, remote1, 6, 40000, 443, 1000, 1<<20, tcpACK, flow.EndActive)))
	}
	none(t, e)
	e.WriteRecords(recs(record(t0.Add(10*time.Minute), 50*time.Second, inst, remote2, 6, 40001, 443, 100000, 50<<20, tcpACK, flow.EndActive)))
	f := only(t, e, sink, TypeVolume)
	basics(t, f, SevHigh, Actor)
	conn(t, f, Outbound, inst, remote2, "TCP")
	if f.Vxtap.Evidence.Counts["factor"] < 40 {
		t.Fatalf("evidence %+v", f.Vxtap.Evidence)
	}
}
