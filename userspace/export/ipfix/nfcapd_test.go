package ipfix

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// collectorRecords are records as a collector should see them: times on
// whole milliseconds near now (collectors file flows by time).
func collectorRecords(n int) []flow.Record {
	rs := testRecords(n)
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for i := range rs {
		d := rs[i].Last.Sub(rs[i].First)
		rs[i].First = base.Add(time.Duration(i) * time.Millisecond)
		rs[i].Last = rs[i].First.Add(d)
	}
	return rs
}

// sendAll exports rs to a collector at addr in namespace ns, in batches.
func sendAll(t *testing.T, ns, network, addr string, rs []flow.Record) *Exporter {
	t.Helper()
	e, err := New(Config{Network: network, Addr: addr, Domain: 9, Dial: testutil.DialInNetns(ns)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(rs); i += 100 {
		if err := e.WriteBatch(context.Background(), batch(uint64(i), rs[i:min(i+100, len(rs))])); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // a sweep's pace, not a burst into the socket buffer
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return e
}

// nfKey names a flow in nfdump's output and in ours.
type nfKey struct {
	src, dst     string
	sport, dport uint16
	proto        uint8
	in           uint32 // ingressInterface: the VNI
}

func keyOf(r flow.Record) nfKey {
	return nfKey{r.Src.String(), r.Dst.String(), r.SPort, r.DPort, r.Proto, r.VNI}
}

// TestNfcapdReadsEveryFlow: nfcapd (nfdump) receives the export;
// `nfdump -r` reads back every flow, IPv4 and IPv6, with the packets,
// bytes, times, TCP flags and VNI (as the input interface) sent, and
// counts no sequence failure and no sampling.
func TestNfcapdReadsEveryFlow(t *testing.T) {
	testutil.RequirePrivileged(t)
	nfcapd := testutil.RequireTool(t, "nfcapd", "nfdump")
	nfdump := testutil.RequireTool(t, "nfdump", "nfdump")
	ns := testutil.Netns(t, "vxipnfc")
	dir := t.TempDir()
	srv := testutil.StartInNetns(t, ns, nfcapd, "-v", "-w", dir, "-b", "127.0.0.1", "-p", "4739", "-t", "3600")
	testutil.WaitListening(t, ns, "udp", 4739, 10*time.Second)

	rs := collectorRecords(600)
	e := sendAll(t, ns, "udp", "127.0.0.1:4739", rs)
	time.Sleep(200 * time.Millisecond) // the last datagrams through nfcapd's socket
	srv.Stop(t, syscall.SIGTERM, 20*time.Second)
	file := testutil.NfcapdFile(t, dir)

	want := map[nfKey]flow.Record{}
	for _, r := range rs {
		want[keyOf(r)] = r
	}
	got := 0
	for _, f := range testutil.NfdumpRead(t, nfdump, file) {
		proto := uint8(f.Num(t, "proto"))
		k := nfKey{src: f["src addr"], dst: f["dst addr"], proto: proto, in: uint32(f.Num(t, "input"))}
		if proto == 6 || proto == 17 {
			k.sport, k.dport = uint16(f.Num(t, "src port")), uint16(f.Num(t, "dst port"))
		}
		r, ok := want[k]
		if !ok {
			t.Errorf("nfdump shows a flow not sent: %v", f)
			continue
		}
		delete(want, k)
		got++
		if f.Num(t, "in packets") != r.Packets || f.Num(t, "in bytes") != r.Bytes {
			t.Errorf("%v: nfdump %s packets %s bytes, sent %d %d", k, f["in packets"], f["in bytes"], r.Packets, r.Bytes)
		}
		if f.Num(t, "first") != uint64(r.First.UnixMilli()) || f.Num(t, "last") != uint64(r.Last.UnixMilli()) {
			t.Errorf("%v: nfdump times %s %s, sent %d %d", k, f["first"], f["last"], r.First.UnixMilli(), r.Last.UnixMilli())
		}
		if proto == 6 && f.Num(t, "tcp flags") != uint64(r.TCPFlags) {
			t.Errorf("%v: nfdump flags %s, sent %#x", k, f["tcp flags"], r.TCPFlags)
		}
		if f.Num(t, "end reason") != uint64(endReason(r.EndReason)) {
			t.Errorf("%v: nfdump end reason %s, sent %s", k, f["end reason"], r.EndReason)
		}
		if r.Direction != flow.DirUnknown && f.Num(t, "direction") != uint64(r.Direction-1) {
			t.Errorf("%v: nfdump direction %s, sent %s", k, f["direction"], r.Direction)
		}
	}
	for k := range want {
		t.Errorf("nfdump lacks the flow %v", k)
	}
	if got != len(rs) || e.Stats().Records != uint64(len(rs)) {
		t.Errorf("nfdump read %d flows, exporter sent %d, want %d", got, e.Stats().Records, len(rs))
	}

	// nfcapd took the sampling options record: a sampler of interval 1
	// (it logs it with -v).
	if !strings.Contains(srv.Output(), "packet interval: 1, packet space: 0") {
		t.Errorf("nfcapd registered no sampler of interval 1:\n%s", srv.Output())
	}

	// The file's statistics: every flow, no sequence failure.
	stat, err := exec.Command(nfdump, "-r", file, "-I").CombinedOutput()
	if err != nil {
		t.Fatalf("nfdump -I: %v\n%s", err, stat)
	}
	// nfdump counts flow records only in the sequence number, not the
	// options data record RFC 7011 counts too: one failure follows each
	// message that carried it.
	for _, want := range []string{fmt.Sprintf("Flows: %d\n", len(rs)), fmt.Sprintf("Sequence failures: %d\n", e.Stats().Templates)} {
		if !strings.Contains(string(stat), want) {
			t.Errorf("nfdump -I lacks %q:\n%s", want, stat)
		}
	}
}
