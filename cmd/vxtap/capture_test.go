package main

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/livecap"
)

// innerFrame is an Ethernet/IPv4/UDP frame of n payload bytes.
func innerFrame(t *testing.T, n int) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: netip.MustParseAddr("198.19.1.1").AsSlice(), DstIP: netip.MustParseAddr("198.19.1.2").AsSlice()}
	udp := &layers.UDP{SrcPort: 5000, DstPort: 53}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4},
		ip, udp, gopacket.Payload(make([]byte, n)))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestWriteCaptureTshark: the client turns a stream into pcapng tshark
// reads: an interface per VNI named after its session (vni-N without
// one), the original length of a cut copy, and a comment naming the VNI,
// the mirror source and the rule.
func TestWriteCaptureTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark not installed (scripts/deps.sh)")
	}
	var stream bytes.Buffer
	w := livecap.NewWriter(&stream)
	w.JSON(livecap.FrameHeader, livecap.Header{Iface: "eth1", SnapLen: 64, Sessions: map[uint32]string{101: "web"}})
	whole := innerFrame(t, 20)
	long := innerFrame(t, 400)
	now := time.Unix(1700000000, 0)
	w.Packet(flow.Sample{VNI: 101, Time: now, OrigLen: uint32(len(whole)), Rule: 200, Data: whole, MirrorSource: netip.MustParseAddr("198.18.0.11")})
	w.Packet(flow.Sample{VNI: 101, Time: now, OrigLen: uint32(len(long)), Data: long[:64], MirrorSource: netip.MustParseAddr("2001:db8:ff::12")})
	w.Packet(flow.Sample{VNI: 7, Time: now, OrigLen: uint32(len(whole)), Data: whole})
	w.JSON(livecap.FrameEnd, livecap.End{Reason: "count reached", Counters: livecap.Counters{Matched: 3, Sent: 3}, Delivered: 3})
	w.Flush()

	path := filepath.Join(t.TempDir(), "c.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := writeCapture(livecap.NewReader(&stream), f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Written != 3 || sum.End == nil || !strings.Contains(sum.String(), "3 packets captured (count reached)") {
		t.Errorf("summary %q", sum.String())
	}
	out, err := exec.Command("tshark", "-r", path, "-T", "fields", "-E", "separator=|", "-e", "frame.interface_name",
		"-e", "frame.interface_description", "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.comment", "-e", "udp.dstport").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	want := []string{
		"web|VXLAN VNI 101 (session web)|62|62|vni=101 mirror=198.18.0.11 rule=200|53",
		"web|VXLAN VNI 101 (session web)|442|64|vni=101 mirror=2001:db8:ff::12|53",
		"vni-7|VXLAN VNI 7|62|62|vni=7|53",
	}
	if got := strings.Split(strings.TrimSpace(string(out)), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tshark reads\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestWriteCaptureCut: a stream cut inside a frame is an error, and the
// packets before it are written.
func TestWriteCaptureCut(t *testing.T) {
	var stream bytes.Buffer
	w := livecap.NewWriter(&stream)
	w.JSON(livecap.FrameHeader, livecap.Header{SnapLen: 64})
	w.Packet(flow.Sample{VNI: 1, Time: time.Unix(1, 0), OrigLen: 10, Data: make([]byte, 10)})
	w.Packet(flow.Sample{VNI: 1, Time: time.Unix(1, 0), OrigLen: 10, Data: make([]byte, 10)})
	w.Flush()
	cut := stream.Bytes()[:stream.Len()-4]
	var out bytes.Buffer
	sum, err := writeCapture(livecap.NewReader(bytes.NewReader(cut)), &out)
	if err == nil || !strings.Contains(err.Error(), "cut inside a frame") || sum.Written != 1 {
		t.Errorf("cut stream: %d written, %v", sum.Written, err)
	}
}
