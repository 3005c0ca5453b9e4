package detect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// The instance SYN-scans one host: Recon:EC2/Portscan, ACTOR, the host
// as remote; the host's SYN-ACK and RST answers count for nothing.
func TestPortscanVertical(t *testing.T) {
	e, sink := newTestEngine(t, nil)
	// A stray connection elsewhere first: the scanned host is still named.
	evs := []flow.Event{start(t0, inst, remote2, 6, 39999, 443, tcpSYN)}
	for p := uint16(1); p <= 300; p++ {
		at := t0.Add(time.Duration(p) * 10 * time.Millisecond)
		evs = append(evs, start(at, inst, remote1, 6, 40000, p, tcpSYN))
		evs = append(evs, start(at, remote1, inst, 6, p, 40000, tcpRST|tcpACK))
	}
	e.WriteEvents(evs)
	f := only(t, e, sink, TypePortscan)
	basics(t, f, SevMedium, Actor)
	conn(t, f, Outbound, inst, remote1, "TCP")
	if f.Service.Count != 1 || f.Vxtap.Evidence.Counts["distinct_ports"] < 100 {
		t.Fatalf("count %d evidence %+v", f.Service.Count, f.Vxtap.Evidence)
	}
	// The same scan again in a later window updates the finding.
	evs = evs[:0]
	for p := uint16(1); p <= 300; p++ {
		evs = append(evs, start(t0.Add(5*time.Minute), inst, remote1, 6, 40001, p, tcpSYN))
	}
	e.WriteEvents(evs)
	all, _ := e.Store().List(Query{})
	if len(all) != 1 || all[0].Service.Count != 2 || !all[0].Service.EventLastSeen.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("after a second scan: %d findings, count %d, last %v", len(all), all[0].Service.Count, all[0].Service.EventLastSeen)
	}
	if len(sink.got()) != 1 {
		t.Fatalf("the update within UpdateInterval reached sinks: %d sends", len(sink.got()))
	}
}

// One port of many hosts (IPv6 instance): a horizontal scan, no single
// remote.
func TestPortscanHorizontal(t *testing.T) {
	e, sink := newTestEngine(t, nil)
	var evs []flow.Event
	for h := 1; h <= 200; h++ {
		dst := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 9, 14: byte(h >> 8), 15: byte(h)})
		evs = append(evs, start(t0, inst6, dst, 6, 50000, 445, tcpSYN))
	}
	e.WriteEvents(evs)
	f := only(t, e, sink, TypePortscan)
	basics(t, f, SevMedium, Actor)
	nc := f.Service.Action.NetworkConnectionAction
	if nc.RemoteIPDetails != nil || nc.LocalIPDetails.IPAddressV6 != inst6.String() {
		t.Fatalf("horizontal scan: local %+v remote %+v", nc.LocalIPDetails, nc.RemoteIPDetails)
	}
}

// A remote host probing the instance: Recon:EC2/PortProbeUnprotectedPort,
// TARGET, Low; High once Elasticsearch's port is among those probed.
func TestPortProbe(t *testing.T) {
	for _, tc := range []struct {
		first uint16
		sev   float64
	}{{1000, SevLow}, {9200, SevHigh}} {
		e, sink := newTestEngine(t, nil)
		var evs []flow.Event
		for i := uint16(0); i < 60; i++ {
			evs = append(evs, start(t0.Add(time.Duration(i)*time.Millisecond), remote2, inst, 6, 61000, tc.first+i, tcpSYN))
		}
		e.WriteEvents(evs)
		f := only(t, e, sink, TypePortProbe)
		basics(t, f, tc.sev, Target)
		pa := f.Service.Action.PortProbeAction
		if f.Service.Action.ActionType != ActionPortProbe || pa == nil || len(pa.PortProbeDetails) != maxProbePorts {
			t.Fatalf("action %+v", f.Service.Action)
		}
		d := pa.PortProbeDetails[0]
		if d.LocalPortDetails.Port != int(tc.first) || d.LocalIPDetails.Addr() != inst || d.RemoteIPDetails.Addr() != remote2 {
			t.Fatalf("probe detail %+v %+v %+v", d.LocalPortDetails, d.LocalIPDetails, d.RemoteIPDetails)
		}
	}
}

// Under the thresholds, or spread over windows, nothing is raised.
func TestScanBelowThreshold(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	var evs []flow.Event
	for p := uint16(1); p <= 80; p++ {
		evs = append(evs, start(t0.Add(time.Duration(p)*time.Second), inst, remote1, 6, 40000, p, tcpSYN))
	}
	e.WriteEvents(evs)
	none(t, e)
}
