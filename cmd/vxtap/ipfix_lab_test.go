package main

import (
	"bytes"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
	"github.com/vxtap/vxtap/userspace/trafficgen"
)

// TestLabIPFIX: in the lab, `vxtap run --ipfix` exports to nfcapd in the
// appliance namespace while known traffic crosses both mirror sources
// (IPv4 over VNI 101, IPv6 over VNI 102); nfcapd repeats every datagram
// to nfacctd and to goflow2's decoder. After SIGTERM each of the three
// shows every flow with exactly the packets and bytes of vxtap's flow
// log, under its VNI, and the flow log equals what the generator sent.
func TestLabIPFIX(t *testing.T) {
	testutil.RequirePrivileged(t)
	nfcapd := testutil.RequireTool(t, "nfcapd", "nfdump")
	nfdump := testutil.RequireTool(t, "nfdump", "nfdump")
	bin := vxtapBin(t)
	lab := labUp(t)

	gf := startGoflow2(t, lab.AppNS, "127.0.0.1:4741")
	pm := testutil.StartNfacctd(t, lab.AppNS, 4740)
	dir := t.TempDir()
	srv := testutil.StartInNetns(t, lab.AppNS, nfcapd, "-w", dir, "-b", "127.0.0.1", "-p", "4739", "-t", "3600",
		"-R", "127.0.0.1/4740", "-R", "127.0.0.1/4741")
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
		if s := sent[k]; s != l {
			t.Errorf("flow %s: flow log %d packets %d bytes, sent %d packets %d bytes", k, l.Packets, l.Bytes, s.Packets, s.Bytes)
		}
	}
	if len(vnis) != 2 {
		t.Errorf("flow log VNIs %v, want the lab's two", vnis)
	}
	for name, got := range map[string]map[flow.Key]trafficgen.Count{
		"nfdump":  nfdumpFlows(t, nfdump, dir),
		"nfacctd": nfacctdFlows(t, pm.Stop(t)),
		"goflow2": gf.stop(t),
	} {
		for k, l := range logged {
			if g := got[k]; g != l {
				t.Errorf("%s: flow %s: %d packets %d bytes, flow log %d packets %d bytes", name, k, g.Packets, g.Bytes, l.Packets, l.Bytes)
			}
		}
		for k := range got {
			if _, ok := logged[k]; !ok {
				t.Errorf("%s: flow %s is not in the flow log", name, k)
			}
		}
		t.Logf("%s: %d flows equal the flow log's", name, len(got))
	}
}

// labKey is a flow's key as the collectors see it: ports only for TCP
// and UDP (nfdump moves ICMP ports about).
func labKey(vni uint32, src, dst string, proto uint8, sport, dport uint64) (flow.Key, bool) {
	s, err1 := netip.ParseAddr(src)
	d, err2 := netip.ParseAddr(dst)
	k := flow.Key{VNI: vni, Src: s.Unmap(), Dst: d.Unmap(), Proto: proto}
	if proto == 6 || proto == 17 {
		k.SPort, k.DPort = uint16(sport), uint16(dport)
	}
	return k, err1 == nil && err2 == nil
}

// nfdumpFlows sums `nfdump -r` per flow; the VNI is the input interface.
func nfdumpFlows(t *testing.T, nfdump, dir string) map[flow.Key]trafficgen.Count {
	t.Helper()
	out := map[flow.Key]trafficgen.Count{}
	for _, f := range testutil.NfdumpRead(t, nfdump, testutil.NfcapdFile(t, dir)) {
		proto := uint8(f.Num(t, "proto"))
		var sport, dport uint64
		if proto == 6 || proto == 17 { // ICMP records carry type.code instead
			sport, dport = f.Num(t, "src port"), f.Num(t, "dst port")
		}
		k, ok := labKey(uint32(f.Num(t, "input")), f["src addr"], f["dst addr"], proto, sport, dport)
		if !ok {
			t.Fatalf("nfdump record addresses: %v", f)
		}
		c := out[k]
		c.Packets += f.Num(t, "in packets")
		c.Bytes += f.Num(t, "in bytes")
		out[k] = c
	}
	return out
}

// nfacctdFlows sums nfacctd's rows per flow; the VNI is taken from
// layer2SegmentId, which must also equal the input interface.
func nfacctdFlows(t *testing.T, rows []map[string]string) map[flow.Key]trafficgen.Count {
	t.Helper()
	out := map[flow.Key]trafficgen.Count{}
	protos := map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58}
	for _, row := range rows {
		num := func(name string, base int) uint64 {
			v, err := strconv.ParseUint(row[name], base, 64)
			if err != nil {
				t.Fatalf("nfacctd %s in %v: %v", name, row, err)
			}
			return v
		}
		seg := num("l2segid", 16)
		if seg>>56 != 1 || seg&0xFFFFFF != num("IN_IFACE", 10) {
			t.Errorf("nfacctd: layer2SegmentId %x, input interface %s: want type 1 (VXLAN) and the same VNI", seg, row["IN_IFACE"])
		}
		proto, ok := protos[strings.ToLower(row["PROTOCOL"])]
		if !ok {
			t.Fatalf("nfacctd protocol %q", row["PROTOCOL"])
		}
		k, ok := labKey(uint32(seg&0xFFFFFF), row["SRC_IP"], row["DST_IP"], proto, num("SRC_PORT", 10), num("DST_PORT", 10))
		if !ok {
			t.Fatalf("nfacctd row addresses: %v", row)
		}
		c := out[k]
		c.Packets += num("PACKETS", 10)
		c.Bytes += num("BYTES", 10)
		out[k] = c
	}
	return out
}

// goflow2Collector decodes every datagram it gets with goflow2's
// NetFlow/IPFIX decoder and sums the flow records per flow; the VNI is
// taken from layer2SegmentId.
type goflow2Collector struct {
	conn net.PacketConn
	mu   sync.Mutex
	sum  map[flow.Key]trafficgen.Count
	errs []string
	done chan struct{}
}

func startGoflow2(t *testing.T, ns, addr string) *goflow2Collector {
	t.Helper()
	conn, err := testutil.ListenPacketInNetns(ns, addr)
	if err != nil {
		t.Fatal(err)
	}
	g := &goflow2Collector{conn: conn, sum: map[flow.Key]trafficgen.Count{}, done: make(chan struct{})}
	t.Cleanup(func() { conn.Close() })
	go g.run()
	return g
}

func (g *goflow2Collector) run() {
	defer close(g.done)
	templates := netflow.CreateTemplateSystem()
	buf := make([]byte, 65536)
	for {
		n, _, err := g.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		var v9 netflow.NFv9Packet
		var p netflow.IPFIXPacket
		err = netflow.DecodeMessageVersion(bytes.NewBuffer(buf[:n]), templates, &v9, &p)
		g.mu.Lock()
		if err != nil {
			g.errs = append(g.errs, err.Error())
		}
		for _, fs := range p.FlowSets {
			switch s := fs.(type) {
			case netflow.DataFlowSet:
				for _, r := range s.Records {
					g.add(r)
				}
			case netflow.RawFlowSet:
				g.errs = append(g.errs, "a data set before its template")
			}
		}
		g.mu.Unlock()
	}
}

// add sums one decoded record (its elements by IANA number).
func (g *goflow2Collector) add(r netflow.DataRecord) {
	v := map[uint16][]byte{}
	for _, f := range r.Values {
		if b, ok := f.Value.([]byte); ok {
			v[f.Type] = b
		}
	}
	u := func(id uint16) uint64 {
		var x uint64
		for _, c := range v[id] {
			x = x<<8 | uint64(c)
		}
		return x
	}
	src, dst := v[8], v[12] // IPv4
	if src == nil {
		src, dst = v[27], v[28] // IPv6
	}
	s, _ := netip.AddrFromSlice(src)
	d, _ := netip.AddrFromSlice(dst)
	seg := u(351)
	if seg>>56 != 1 {
		g.errs = append(g.errs, "layer2SegmentId without the VXLAN type")
	}
	k, _ := labKey(uint32(seg&0xFFFFFF), s.String(), d.String(), uint8(u(4)), u(7), u(11))
	c := g.sum[k]
	c.Packets += u(2)
	c.Bytes += u(1)
	g.sum[k] = c
}

// stop closes the socket and returns the sums; a decoding error fails
// the test.
func (g *goflow2Collector) stop(t *testing.T) map[flow.Key]trafficgen.Count {
	t.Helper()
	g.conn.Close()
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, e := range g.errs {
		t.Errorf("goflow2: %s", e)
	}
	return g.sum
}
