package detect

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The first packet to or from a listed address raises
// MaliciousIPCaller.Custom at once, from the flow-start event: ACTOR
// outbound, TARGET inbound, IPv4 and IPv6; records of the same flows
// only update it.
func TestThreatList(t *testing.T) {
	dir := t.TempDir()
	cfg := Default()
	cfg.ThreatLists = []string{writeFile(t, dir, "threats.txt", "# feed\n198.19.9.9\n2001:db8:bad::/48  # a whole network\n")}
	e, sink := newTestEngine(t, cfg)
	// The instance's SYN, and the listed host's answer (one-way flows:
	// the answer is a flow of its own): one finding, ACTOR.
	e.WriteEvents(evs(start(t0, inst, netip.MustParseAddr("198.19.9.9"), 6, 41000, 443, tcpSYN),
		start(t0, netip.MustParseAddr("198.19.9.9"), inst, 6, 443, 41000, tcpRST|tcpACK)))
	f := only(t, e, sink, TypeMaliciousIP)
	basics(t, f, SevMedium, Actor)
	nc := conn(t, f, Outbound, inst, netip.MustParseAddr("198.19.9.9"), "TCP")
	if nc.RemotePortDetails.Port != 443 || nc.LocalPortDetails.Port != 41000 {
		t.Fatalf("ports %+v %+v", nc.LocalPortDetails, nc.RemotePortDetails)
	}
	e.WriteRecords(recs(record(t0, time.Second, inst, netip.MustParseAddr("198.19.9.9"), 6, 41000, 443, 10, 900, tcpSYN|tcpACK, "tcp_end")))
	if all, _ := e.Store().List(Query{}); len(all) != 1 || all[0].Service.Count != 3 {
		t.Fatalf("record of the same flow: %v", types(all))
	}

	bad6 := netip.MustParseAddr("2001:db8:bad::7")
	e.WriteEvents(evs(start(t0, bad6, inst6, 17, 5353, 53, 0)))
	all, _ := e.Store().List(Query{Type: TypeMaliciousIP})
	var in *Finding
	for i := range all {
		if all[i].Service.ResourceRole == Target {
			in = &all[i]
		}
	}
	if in == nil {
		t.Fatalf("no TARGET finding for the inbound IPv6 hit: %v", types(all))
	}
	conn(t, *in, Inbound, inst6, bad6, "UDP")
}

// Editing the list file takes effect without a restart; a broken edit
// keeps the list in force.
func TestThreatListReload(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "threats.txt", "198.19.9.9\n")
	cfg := Default()
	cfg.ThreatLists, cfg.ListInterval = []string{path}, 20*time.Millisecond
	e, _ := newTestEngine(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.WatchLists(ctx)
	newbie := netip.MustParseAddr("198.19.7.7")
	waitFor(t, func() bool { return e.hasThreat(newbie) == false })
	writeFile(t, dir, "threats.txt", "198.19.9.9\n198.19.7.0/24\n")
	waitFor(t, func() bool { return e.hasThreat(newbie) })
	writeFile(t, dir, "threats.txt", "198.19.9.9\nnot-an-address\n")
	time.Sleep(100 * time.Millisecond)
	if !e.hasThreat(newbie) {
		t.Fatal("a broken list replaced the good one")
	}
	if _, err := loadLists(cfg); err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Fatalf("error %v, want it to name %s:2", err, path)
	}
}

func (e *Engine) hasThreat(a netip.Addr) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _, ok := e.lists.threats.lookup(a)
	return ok
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 300; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met within 3s")
}

// A Stratum port or a listed pool: CryptoCurrency:EC2/BitcoinTool.B,
// ACTOR, High; the pool answering the instance is not a new finding.
func TestMiningConnection(t *testing.T) {
	cfg := Default()
	cfg.Mining.Pools = []netip.Prefix{netip.MustParsePrefix("198.19.50.0/24")}
	e, sink := newTestEngine(t, cfg)
	e.WriteEvents(evs(start(t0, inst, remote1, 6, 42000, 3333, tcpSYN), start(t0, remote1, inst, 6, 3333, 42000, tcpSYN|tcpACK)))
	f := only(t, e, sink, TypeBitcoinTool)
	basics(t, f, SevHigh, Actor)
	conn(t, f, Outbound, inst, remote1, "TCP")
	e.WriteEvents(evs(start(t0, inst, netip.MustParseAddr("198.19.50.9"), 6, 42001, 443, tcpSYN)))
	if all, _ := e.Store().List(Query{Type: TypeBitcoinTool}); len(all) != 2 {
		t.Fatalf("pool address: %v", types(all))
	}
}
