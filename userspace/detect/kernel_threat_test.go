package detect

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
)

var listedA, listedB = netip.MustParseAddr("198.19.9.9"), netip.MustParseAddr("2001:db8:bad::7")

// hitEv is the kernel's threat-hit event of a flow.
func hitEv(at time.Time, src, dst netip.Addr, proto uint8, sport, dport uint16, flags uint8, m flow.ThreatMatch) flow.Event {
	ev := start(at, src, dst, proto, sport, dport, flags)
	ev.Type, ev.Threat = flow.ThreatHit, m
	return ev
}

func kernelEngine(t *testing.T) (*Engine, *memSink, *flowtest.Threats, []string) {
	t.Helper()
	dir := t.TempDir()
	cfg := Default()
	cfg.ThreatLists = []string{writeFile(t, dir, "a.txt", "198.19.9.9\n198.19.9.0/24\n"), writeFile(t, dir, "b.txt", "2001:db8:bad::/48\n198.19.9.9/32\n")}
	e, sink := newTestEngine(t, cfg)
	k := &flowtest.Threats{Cap: 100}
	if err := e.UseKernelThreats(k); err != nil {
		t.Fatal(err)
	}
	return e, sink, k, cfg.ThreatLists
}

// UseKernelThreats writes every listed prefix with the id of the first
// list naming it.
func TestKernelThreatEntries(t *testing.T) {
	e, _, k, _ := kernelEngine(t)
	got, sets := k.Entries()
	slices.SortFunc(got, func(a, b flow.ThreatEntry) int { return strings.Compare(a.Prefix.String(), b.Prefix.String()) })
	want := []flow.ThreatEntry{
		{Prefix: netip.MustParsePrefix("198.19.9.0/24"), List: 1},
		{Prefix: netip.MustParsePrefix("198.19.9.9/32"), List: 1},
		{Prefix: netip.MustParsePrefix("2001:db8:bad::/48"), List: 2},
	}
	if !slices.Equal(got, want) || sets != 1 {
		t.Fatalf("kernel table %v (%d sets), want %v", got, sets, want)
	}
	if !e.KernelThreats() {
		t.Fatal("KernelThreats false after UseKernelThreats")
	}
}

// With the kernel's trie in use, its hit event raises the finding (ACTOR
// outbound, TARGET inbound) and the flow starts and records of the same
// flows raise nothing more: one finding, count 1.
func TestKernelThreatHit(t *testing.T) {
	e, sink, _, _ := kernelEngine(t)
	e.WriteEvents(evs(start(t0, inst, listedA, 6, 41000, 443, tcpSYN),
		hitEv(t0, inst, listedA, 6, 41000, 443, tcpSYN, flow.ThreatMatch{DstList: 1, First: true})))
	f := only(t, e, sink, TypeMaliciousIP)
	basics(t, f, SevMedium, Actor)
	conn(t, f, Outbound, inst, listedA, "TCP")
	if f.Service.Count != 1 || len(f.Vxtap.Evidence.Names) != 1 || !strings.Contains(f.Vxtap.Evidence.Names[0], "198.19.9.9/32 (") {
		t.Fatalf("count %d evidence %v", f.Service.Count, f.Vxtap.Evidence.Names)
	}
	// The listed host's answer, a flow of its own, starts with SYN-ACK: still ACTOR, same finding.
	e.WriteEvents(evs(start(t0, listedA, inst, 6, 443, 41000, tcpSYN|tcpACK)))
	e.WriteRecords(recs(record(t0, time.Second, inst, listedA, 6, 41000, 443, 10, 900, tcpSYN|tcpACK, "tcp_end")))
	if all, _ := e.Store().List(Query{}); len(all) != 1 || all[0].Service.Count != 1 {
		t.Fatalf("starts and records with the kernel path on: %v count %d", types(all), all[0].Service.Count)
	}
	// Inbound from a listed IPv6 network, seen mid-flow (the list grew):
	// TARGET, told by ports.
	e.WriteEvents(evs(hitEv(t0, listedB, inst6, 6, 50000, 22, tcpACK, flow.ThreatMatch{SrcList: 2})))
	all, _ := e.Store().List(Query{Type: TypeMaliciousIP})
	if len(all) != 2 {
		t.Fatalf("findings %v, want the IPv6 TARGET too", types(all))
	}
	var in *Finding
	for i := range all {
		if all[i].Service.ResourceRole == Target {
			in = &all[i]
		}
	}
	if in == nil {
		t.Fatalf("no TARGET finding: %v", types(all))
	}
	conn(t, *in, Inbound, inst6, listedB, "TCP")
}

// Overflow records (flows that found no slot, so no kernel event) are
// still checked in userspace.
func TestKernelThreatOverflowRecord(t *testing.T) {
	e, sink, _, _ := kernelEngine(t)
	r := record(t0, time.Second, inst, listedA, 6, 0, 443, 10, 900, tcpSYN, flow.EndOverflow)
	e.WriteRecords(recs(r))
	only(t, e, sink, TypeMaliciousIP)
}

// A changed list goes into the kernel's table; one the table cannot hold
// is refused whole: the table and the lists in force stay.
func TestKernelThreatReload(t *testing.T) {
	e, _, k, files := kernelEngine(t)
	writeFile(t, "", files[0], "198.18.77.0/24\n")
	if err := e.reloadLists(); err != nil {
		t.Fatal(err)
	}
	got, _ := k.Entries()
	if len(got) != 3 || !slices.Contains(got, flow.ThreatEntry{Prefix: netip.MustParsePrefix("198.18.77.0/24"), List: 1}) ||
		!slices.Contains(got, flow.ThreatEntry{Prefix: netip.MustParsePrefix("198.19.9.9/32"), List: 2}) {
		t.Fatalf("after the reload the table holds %v", got)
	}
	var big strings.Builder
	for i := 0; i < 200; i++ {
		big.WriteString(netip.AddrFrom4([4]byte{198, 18, 200, byte(i)}).String() + "\n")
	}
	writeFile(t, "", files[0], big.String())
	if err := e.reloadLists(); err == nil || !strings.Contains(err.Error(), "holds 100") {
		t.Fatalf("a list too big for the table: %v", err)
	}
	if after, _ := k.Entries(); !slices.Equal(after, got) {
		t.Fatalf("a refused reload changed the table: %v", after)
	}
	if _, _, ok := e.lists.threats.lookup(netip.MustParseAddr("198.18.77.1")); !ok {
		t.Fatal("a refused reload changed the lists in force")
	}
}

// A table too small for the lists at start: refused, and the userspace
// check stays on (flow starts raise the finding).
func TestKernelThreatTooSmall(t *testing.T) {
	dir := t.TempDir()
	cfg := Default()
	cfg.ThreatLists = []string{writeFile(t, dir, "a.txt", "198.19.9.9\n198.19.9.8\n")}
	e, sink := newTestEngine(t, cfg)
	k := &flowtest.Threats{Cap: 1}
	k.SetThreats([]flow.ThreatEntry{{Prefix: netip.MustParsePrefix("198.18.99.0/24"), List: 1}}) // left by a previous daemon
	if err := e.UseKernelThreats(k); err == nil {
		t.Fatal("two prefixes fit a one-entry table")
	}
	if e.KernelThreats() {
		t.Fatal("kernel path on after a refused table")
	}
	if left, _ := k.Entries(); len(left) != 0 {
		t.Fatalf("a refused table keeps %v: old entries would go on hitting", left)
	}
	// The userspace check raises; a hit event from the table (never
	// handed over) raises nothing more.
	e.WriteEvents(evs(start(t0, inst, listedA, 6, 41000, 443, tcpSYN),
		hitEv(t0, inst, netip.MustParseAddr("198.18.99.1"), 6, 41001, 443, tcpSYN, flow.ThreatMatch{DstList: 1, First: true})))
	if f := only(t, e, sink, TypeMaliciousIP); f.Service.Count != 1 {
		t.Fatalf("count %d, want 1", f.Service.Count)
	}
}
