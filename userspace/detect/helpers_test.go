package detect

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// The lab's addresses: the mirrored instance and remote hosts.
var (
	inst    = netip.MustParseAddr("198.18.1.10")
	inst6   = netip.MustParseAddr("2001:db8:1::10")
	remote1 = netip.MustParseAddr("198.19.0.5")
	remote2 = netip.MustParseAddr("198.19.0.66")
	mirror  = netip.MustParseAddr("198.18.1.10")
	t0      = time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
)

const vni = 101

var testSessions = Sessions{vni: {Name: "sess-web", ENI: "eni-0a1b2c3d4e5f60789", Addrs: []netip.Addr{inst, inst6}}}

// memSink keeps what it is sent.
type memSink struct {
	mu sync.Mutex
	fs []Finding
}

func (m *memSink) Name() string { return "mem" }
func (m *memSink) Send(f Finding) {
	m.mu.Lock()
	m.fs = append(m.fs, f)
	m.mu.Unlock()
}
func (m *memSink) Close() error { return nil }
func (m *memSink) got() []Finding {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Finding(nil), m.fs...)
}

func newTestEngine(t testing.TB, cfg *Config) (*Engine, *memSink) {
	t.Helper()
	if cfg == nil {
		cfg = Default()
	}
	sink := &memSink{}
	e, err := New(cfg, testSessions, sink)
	if err != nil {
		t.Fatal(err)
	}
	e.Now = func() time.Time { return t0.Add(time.Hour) }
	return e, sink
}

func start(at time.Time, src, dst netip.Addr, proto uint8, sport, dport uint16, flags uint8) flow.Event {
	return flow.Event{Type: flow.FlowStart, Time: at, TCPFlags: flags, MirrorSource: mirror,
		Key: flow.Key{VNI: vni, Src: src, Dst: dst, Proto: proto, SPort: sport, DPort: dport}}
}

func record(first time.Time, dur time.Duration, src, dst netip.Addr, proto uint8, sport, dport uint16, pkts, bytes uint64, flags uint8, end string) flow.Record {
	r := flow.Record{VNI: vni, MirrorSource: mirror, Src: src, Dst: dst, Proto: proto, SPort: sport, DPort: dport,
		Packets: pkts, Bytes: bytes, First: first, Last: first.Add(dur), TCPFlags: flags, EndReason: end, Session: "sess-web"}
	r.Direction = direction(testSessions[vni], mirror, src, dst)
	return r
}

// only asserts exactly one finding was raised, of this type, and
// returns it (the store and the sink agree).
func only(t *testing.T, e *Engine, sink *memSink, typ string) Finding {
	t.Helper()
	all, _ := e.Store().List(Query{})
	if len(all) != 1 || all[0].Type != typ {
		t.Fatalf("store holds %d findings %v, want exactly one %s", len(all), types(all), typ)
	}
	sent := sink.got()
	if len(sent) != 1 || sent[0].ID != all[0].ID {
		t.Fatalf("sink got %d findings %v, want the one %s once", len(sent), types(sent), typ)
	}
	return all[0]
}

func types(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Type+"/"+string(f.Service.ResourceRole))
	}
	return out
}

func none(t *testing.T, e *Engine) {
	t.Helper()
	if all, _ := e.Store().List(Query{}); len(all) != 0 {
		t.Fatalf("want no finding, got %v", types(all))
	}
}

// conn asserts the finding's connection action.
func conn(t *testing.T, f Finding, dir string, local, remote netip.Addr, proto string) *NetworkConnectionAction {
	t.Helper()
	nc := f.Service.Action.NetworkConnectionAction
	if f.Service.Action.ActionType != ActionNetworkConnection || nc == nil {
		t.Fatalf("action %+v, want a network connection", f.Service.Action)
	}
	if nc.ConnectionDirection != dir || nc.LocalIPDetails.Addr() != local || nc.RemoteIPDetails.Addr() != remote || nc.Protocol != proto {
		t.Fatalf("connection %s local %v remote %v %s, want %s %v %v %s", nc.ConnectionDirection,
			nc.LocalIPDetails.Addr(), nc.RemoteIPDetails.Addr(), nc.Protocol, dir, local, remote, proto)
	}
	return nc
}

func basics(t *testing.T, f Finding, sev float64, role Role) {
	t.Helper()
	if f.Severity != sev || f.Service.ResourceRole != role {
		t.Fatalf("%s: severity %v role %s, want %v %s", f.Type, f.Severity, f.Service.ResourceRole, sev, role)
	}
	if f.Resource.ResourceType != "Instance" || len(f.Resource.InstanceDetails.NetworkInterfaces) != 1 ||
		f.Resource.InstanceDetails.NetworkInterfaces[0].NetworkInterfaceID != "eni-0a1b2c3d4e5f60789" {
		t.Fatalf("resource %+v", f.Resource)
	}
	if f.Vxtap.VNI != vni || f.Vxtap.Session != "sess-web" || len(f.ID) != 32 || f.Service.Count < 1 {
		t.Fatalf("vni %d session %q id %q count %d", f.Vxtap.VNI, f.Vxtap.Session, f.ID, f.Service.Count)
	}
}

func evs(e ...flow.Event) []flow.Event    { return e }
func recs(r ...flow.Record) []flow.Record { return r }

func flowSample(data []byte) flow.Sample { return flow.Sample{VNI: vni, Time: t0, Data: data} }
