package main

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
	"github.com/vxtap/vxtap/userspace/trafficgen"
)

// TestLabIPFIX: in the lab, `vxtap run --ipfix` exports to nfcapd in the
// appliance namespace while known traffic crosses both mirror sources
// (IPv4 over VNI 101, IPv6 over VNI 102). After SIGTERM, `nfdump -r`
// reads back every flow with exactly the packets and bytes of vxtap's
// flow log, and both equal what the generator sent.
func TestLabIPFIX(t *testing.T) {
	testutil.RequirePrivileged(t)
	nfcapd := testutil.RequireTool(t, "nfcapd", "nfdump")
	nfdump := testutil.RequireTool(t, "nfdump", "nfdump")
	bin := vxtapBin(t)
	lab := labUp(t)
	dir := t.TempDir()
	srv := testutil.StartInNetns(t, lab.AppNS, nfcapd, "-w", dir, "-b", "127.0.0.1", "-p", "4739", "-t", "3600")
	testutil.WaitListening(t, lab.AppNS, "udp", 4739, 10*time.Second)

	flowLog := filepath.Join(t.TempDir(), "flows.json")
	d := startDaemon(t, bin, lab.AppNS, lab.AppIf, flowLog, "--ipfix", "127.0.0.1:4739", "--ipfix-domain", "7")
	opt := trafficgen.DefaultOptions()
	opt.Rounds = 2
	res, err := trafficgen.Run(lab, opt)
	if err != nil {
		t.Fatal(err)
	}
	d.stop(t, syscall.SIGTERM) // the last records go out before it exits
	time.Sleep(200 * time.Millisecond)
	srv.Stop(t, syscall.SIGTERM, 20*time.Second)

	// nfdump's flows, summed per flow: the VNI is the input interface.
	exported := map[flow.Key]trafficgen.Count{}
	records := 0
	for _, f := range testutil.NfdumpRead(t, nfdump, testutil.NfcapdFile(t, dir)) {
		src, err1 := netip.ParseAddr(f["src addr"])
		dst, err2 := netip.ParseAddr(f["dst addr"])
		if err1 != nil || err2 != nil {
			t.Fatalf("nfdump record addresses: %v", f)
		}
		k := flow.Key{VNI: uint32(f.Num(t, "input")), Src: src, Dst: dst, Proto: uint8(f.Num(t, "proto"))}
		if k.Proto == 6 || k.Proto == 17 {
			k.SPort, k.DPort = uint16(f.Num(t, "src port")), uint16(f.Num(t, "dst port"))
		}
		c := exported[k]
		c.Packets += f.Num(t, "in packets")
		c.Bytes += f.Num(t, "in bytes")
		exported[k] = c
		records++
	}
	logged := sumRecords(t, flowLog)
	sent := map[flow.Key]trafficgen.Count{}
	for _, r := range res.Rows {
		sent[r.Key] = r.Count
	}
	if len(sent) < 40 {
		t.Fatalf("the generator produced only %d flows", len(sent))
	}
	vnis := map[uint32]bool{}
	for k, l := range logged {
		vnis[k.VNI] = true
		if e := exported[k]; e != l {
			t.Errorf("flow %s: nfdump %d packets %d bytes, flow log %d packets %d bytes", k, e.Packets, e.Bytes, l.Packets, l.Bytes)
		}
		if s := sent[k]; s != l {
			t.Errorf("flow %s: flow log %d packets %d bytes, sent %d packets %d bytes", k, l.Packets, l.Bytes, s.Packets, s.Bytes)
		}
	}
	for k := range exported {
		if _, ok := logged[k]; !ok {
			t.Errorf("flow %s in nfdump is not in the flow log", k)
		}
	}
	if len(vnis) != 2 || len(exported) != len(logged) {
		t.Errorf("VNIs %v, %d flows exported, %d logged", vnis, len(exported), len(logged))
	}
	t.Log(fmt.Sprintf("%d flows (%d records) read back by nfdump equal the flow log and the generator", len(exported), records))
}
