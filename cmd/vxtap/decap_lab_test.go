package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// The lab's fixed outer addresses (scripts/lab-env.sh): source 1's
// underlay address and the appliance's.
const (
	labSrc1Outer = "198.18.0.11"
	labAppV4     = "198.18.0.1"
)

// tcpdumpProc is a tcpdump writing a pcap file inside a namespace.
type tcpdumpProc struct {
	cmd  *exec.Cmd
	file string
}

// startTcpdump starts tcpdump on iface in ns (direction "in" or "inout")
// and waits until it listens.
func startTcpdump(t *testing.T, ns, iface, dir, file string) *tcpdumpProc {
	t.Helper()
	bin := testutil.RequireTool(t, "tcpdump", "tcpdump")
	argv := testutil.InNetns(ns, bin, "-i", iface, "-Q", dir, "-U", "-n", "-s", "0", "-w", file)
	p := &tcpdumpProc{cmd: exec.Command(argv[0], argv[1:]...), file: file}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				ready <- nil
				io.Copy(io.Discard, stderr)
				return
			}
		}
		ready <- fmt.Errorf("tcpdump on %s in %s ended before listening", iface, ns)
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("tcpdump on %s in %s did not start listening", iface, ns)
	}
	return p
}

// stop ends tcpdump (SIGINT flushes the file) and reads its frames.
func (p *tcpdumpProc) stop(t *testing.T) [][]byte {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	p.cmd.Wait()
	f, err := os.Open(p.file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", p.file, err)
	}
	var frames [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return frames
		}
		if err != nil {
			t.Fatalf("%s: %v", p.file, err)
		}
		frames = append(frames, append([]byte(nil), data...))
	}
}

// udpDport is the UDP destination port of an Ethernet frame (VLAN tags
// followed), -1 when it is not UDP.
func udpDport(frame []byte) int {
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if u, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && pkt.Layer(layers.LayerTypeICMPv4) == nil && pkt.Layer(layers.LayerTypeICMPv6) == nil {
		return int(u.DstPort)
	}
	return -1
}

// decapSendUDP sends n datagrams from src to dst inside ns.
func decapSendUDP(t *testing.T, ns, src, dst string, n int, payload []byte) {
	t.Helper()
	c, err := testutil.ListenPacketInNetns(ns, src)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to, err := net.ResolveUDPAddr("udp", dst)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := c.WriteTo(payload, to); err != nil {
			t.Fatalf("send %s -> %s: %v", src, dst, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// vxlanPayload is a VXLAN header for vni followed by an inner frame.
func vxlanPayload(vni uint32, inner []byte) []byte {
	h := make([]byte, 8, 8+len(inner))
	h[0] = 0x08
	binary.BigEndian.PutUint32(h[4:], vni<<8)
	return append(h, inner...)
}

// scrapeFlag reads one flag's packet count from /metrics in ns.
func scrapeFlag(t *testing.T, ns, listen, flag string) float64 {
	t.Helper()
	body, err := inAppNS(t, ns, "curl", "-s", "http://"+listen+"/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics: %v\n%.3000s", err, body)
	}
	fam, ok := fams["vxtap_flagged_packets_total"]
	if !ok {
		t.Fatalf("vxtap_flagged_packets_total missing from /metrics: %.2000s", body)
	}
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "flag" && l.GetValue() == flag {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no flag %s in /metrics", flag)
	return 0
}

// TestLabDecap: `vxtap run --decap-to create:NAME` in the lab; tcpdump on
// NAME captures exactly the inner frames of the accepted copies, byte for
// byte against what crossed the mirrored workload interfaces (captured
// there with tcpdump): IPv4 (outer IPv4), IPv6 (outer IPv6), VLAN-tagged
// inner frames, truncated copies as they arrived; never the copies a
// filter rule rejects, from a source outside allowed_sources or of an
// unknown VNI. Then the target refuses frames: each is counted under
// decap_failed. On exit the veth pair is gone. With native XDP (the
// redirect goes through the devmap's XDP transmit) and generic XDP (an
// skb transmitted on the target).
func TestLabDecap(t *testing.T) {
	testutil.RequirePrivileged(t)
	for _, mode := range []string{"native", "generic"} {
		t.Run(mode, func(t *testing.T) { labDecap(t, mode) })
	}
}

func labDecap(t *testing.T, mode string) {
	bin := vxtapBin(t)
	lab := labUpAs(t, "vxdc")
	// lab-down.sh kills every process `ip netns pids` lists in the lab's
	// namespaces; this test's own threads enter them (sends from inside)
	// and one was seen listed just after: wait until none is.
	t.Cleanup(func() { waitOutOfNetns(t, lab.Prefix) })
	s1, s2 := lab.Sources[0], lab.Sources[1]
	dir := t.TempDir()

	// A spoofing sender beside source 1.
	testutil.Sh(t, "ip -n %s addr add 198.18.0.99/24 dev vpc0", s1.NS)

	cfg := filepath.Join(dir, "decap.yaml")
	doc := fmt.Sprintf(`allowed_sources: [%s/32, "2001:db8:ff::12/128"]
sessions:
  %d: {name: src1, addresses: [%s, "%s", 198.19.7.1], filter: f}
  %d: {name: src2, addresses: [%s, "%s"], action: analyze}
filters:
  f:
    ingress: [{rule: 100, action: reject, protocol: udp, destination_ports: 9}, {rule: 200, action: accept}]
    egress: [{rule: 100, action: reject, protocol: udp, destination_ports: 9}, {rule: 200, action: accept}]
`, labSrc1Outer, s1.VNI, s1.WLv4, s1.WLv6, s2.VNI, s2.WLv4, s2.WLv6)
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	const feed = "vxdcfeed"
	d := startDaemon(t, bin, lab.AppNS, lab.AppIf, filepath.Join(dir, "flows.json"), "--config", cfg, "--decap-to", "create:"+feed, "--xdp-mode", mode)

	// Listeners on the peers: no port-unreachable replies for port 5000.
	for _, l := range []struct{ ns, addr string }{{s1.PeerNS, s1.PeerV4.String() + ":5000"}, {s2.PeerNS, "[" + s2.PeerV6.String() + "]:5000"}} {
		c, err := testutil.ListenPacketInNetns(l.ns, l.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	truth1 := startTcpdump(t, s1.NS, s1.Iface, "inout", filepath.Join(dir, "src1.pcap"))
	truth2 := startTcpdump(t, s2.NS, s2.Iface, "inout", filepath.Join(dir, "src2.pcap"))
	got := startTcpdump(t, lab.AppNS, feed, "in", filepath.Join(dir, "feed.pcap"))

	msg := []byte("decapsulated feed test payload")
	decapSendUDP(t, s1.NS, s1.WLv4.String()+":40001", s1.PeerV4.String()+":5000", 10, msg)           // IPv4, outer IPv4
	decapSendUDP(t, s1.NS, s1.WLv4.String()+":40002", s1.PeerV4.String()+":9", 5, msg)               // rejected by rule 100
	decapSendUDP(t, s2.NS, "["+s2.WLv6.String()+"]:40003", "["+s2.PeerV6.String()+"]:5000", 10, msg) // IPv6, outer IPv6
	// VLAN-tagged frames (VLAN 7, and 802.1ad 100 over 7) out of the
	// workload interface: mirrored tagged.
	eth := func(t layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0x0a, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0x0b, 1}, EthernetType: t}
	}
	udp7 := func(sport layers.UDPPort) []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 19, 7, 1}, DstIP: net.IP{198, 19, 7, 2}},
			&layers.UDP{SrcPort: sport, DstPort: 5000}, gopacket.Payload(msg)}
	}
	var tagged [][]byte
	for i := 0; i < 3; i++ {
		tagged = append(tagged, mustBuild(t, append([]gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}}, udp7(40004)...)...))
	}
	for i := 0; i < 2; i++ {
		tagged = append(tagged, mustBuild(t, append([]gopacket.SerializableLayer{eth(layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}}, udp7(40010)...)...))
	}
	if err := testutil.SendRawInNetns(s1.NS, s1.Iface, tagged); err != nil {
		t.Fatal(err)
	}
	// Copies a session truncated (PacketLength): the inner IPv4 header
	// states 1028 bytes, the copy holds 60 bytes of frame.
	full := mustBuild(t, &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0x0a, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0x0b, 1}, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: s1.WLv4.AsSlice(), DstIP: s1.PeerV4.AsSlice()},
		&layers.UDP{SrcPort: 40005, DstPort: 5000}, gopacket.Payload(make([]byte, 1000)))
	truncated := full[:60]
	decapSendUDP(t, s1.NS, labSrc1Outer+":40006", labAppV4+":4789", 3, vxlanPayload(s1.VNI, truncated))
	// Spoofed copies (a source outside allowed_sources) and copies of a
	// VNI with no session: never forwarded.
	decapSendUDP(t, s1.NS, "198.18.0.99:40007", labAppV4+":4789", 5, vxlanPayload(s1.VNI, full))
	decapSendUDP(t, s1.NS, labSrc1Outer+":40008", labAppV4+":4789", 3, vxlanPayload(999, full))
	time.Sleep(time.Second)

	var want [][]byte
	rejected := 0
	for _, f := range append(truth1.stop(t), truth2.stop(t)...) {
		if udpDport(f) == 9 && isSrc1(f, s1.WLv4.AsSlice()) {
			rejected++
			continue
		}
		want = append(want, f)
	}
	for i := 0; i < 3; i++ {
		want = append(want, truncated)
	}
	have := got.stop(t)
	if rejected != 5 {
		t.Errorf("%d frames to port 9 crossed source 1's workload interface, want 5", rejected)
	}
	sortFrames := func(fs [][]byte) {
		slices.SortFunc(fs, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
	}
	sortFrames(want)
	sortFrames(have)
	if len(want) < 33 {
		t.Fatalf("only %d frames of ground truth", len(want))
	}
	if !slices.EqualFunc(want, have, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Errorf("the feed captured %d frames, the mirror sources sent %d accepted ones", len(have), len(want))
		diffFrames(t, want, have)
	}
	var vlans, v6 int
	for _, f := range have {
		et := binary.BigEndian.Uint16(f[12:])
		vlans += b2i(et == 0x8100 || et == 0x88a8)
		v6 += b2i(et == 0x86dd)
	}
	if vlans != 5 || v6 < 10 {
		t.Errorf("feed: %d VLAN-tagged frames (want 5), %d IPv6 frames (want >= 10)", vlans, v6)
	}

	// The target refuses frames (its sending end is down): each copy the
	// program handed to the redirect (decap_forwarded) is counted again
	// under decap_failed when the kernel refuses it.
	listen := "127.0.0.1:9781"
	failed0, fwd0 := scrapeFlag(t, lab.AppNS, listen, "decap_failed"), scrapeFlag(t, lab.AppNS, listen, "decap_forwarded")
	testutil.Sh(t, "ip -n %s link set %s-peer down", lab.AppNS, feed)
	decapSendUDP(t, s1.NS, s1.WLv4.String()+":40009", s1.PeerV4.String()+":5000", 20, msg)
	time.Sleep(500 * time.Millisecond)
	failed, fwd := scrapeFlag(t, lab.AppNS, listen, "decap_failed")-failed0, scrapeFlag(t, lab.AppNS, listen, "decap_forwarded")-fwd0
	if failed != 20 || fwd != 20 {
		t.Errorf("with the target down: decap_failed +%v, decap_forwarded +%v (want 20 each)", failed, fwd)
	}

	d.stop(t, syscall.SIGTERM)
	if out, _ := exec.Command("ip", "-n", lab.AppNS, "-br", "link").Output(); strings.Contains(string(out), feed) {
		t.Errorf("the veth pair outlived the daemon:\n%s", out)
	}
	t.Logf("%d accepted frames forwarded byte for byte (%d VLAN-tagged (2 QinQ), %d IPv6, 3 truncated); %d rejected, 5 spoofed, 3 unknown-VNI not forwarded", len(have), vlans, v6, rejected)
}

// waitOutOfNetns waits (2 s at most) until no namespace of the lab lists
// this process.
func waitOutOfNetns(t *testing.T, prefix string) {
	me := fmt.Sprint(os.Getpid())
	for i := 0; i < 100; i++ {
		listed := false
		for _, ns := range []string{"app", "vpc", "src1", "src2", "peer1", "peer2"} {
			out, _ := exec.Command("ip", "netns", "pids", prefix+"-"+ns).Output()
			listed = listed || slices.Contains(strings.Fields(string(out)), me)
		}
		if !listed {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("this process is still listed in a namespace of lab %s", prefix)
}

// isSrc1 tells a frame sent by source 1's workload (IPv4 source src).
func isSrc1(f, src []byte) bool {
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	return ok && ip.SrcIP.Equal(net.IP(src))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// diffFrames logs the frames one side has and the other lacks.
func diffFrames(t *testing.T, want, have [][]byte) {
	t.Helper()
	count := map[string]int{}
	for _, f := range want {
		count[string(f)]++
	}
	for _, f := range have {
		count[string(f)]--
	}
	for f, n := range count {
		if n != 0 {
			t.Logf("frame %+d (missing if >0, extra if <0): %s", n, gopacket.NewPacket([]byte(f), layers.LayerTypeEthernet, gopacket.Default))
		}
	}
}

// mustBuild serializes layers with lengths fixed.
func mustBuild(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
