package pcapng

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vxtap/vxtap/userspace/flow"
)

// frame builds an inner Ethernet/IPv4/UDP frame.
func frame(t *testing.T, src string, payload int) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: []byte{198, 18, 0, 1}, DstIP: []byte{198, 18, 0, 2}}
	copy(ip.SrcIP, []byte{198, 18, 0, src[0] - '0'})
	udp := &layers.UDP{SrcPort: 5000, DstPort: 53}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(make([]byte, payload))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPcapngReadByTshark writes samples of two VNIs, one cut at the snap
// length, and reads them back with tshark, the real peer.
func TestPcapngReadByTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("VXTAP_REQUIRE_PRIVILEGED") == "1" {
			t.Fatal("tshark not installed (scripts/deps.sh installs it)")
		}
		t.Skip("tshark not installed")
	}
	var out bytes.Buffer
	w, err := NewWriter(&out, 64)
	if err != nil {
		t.Fatal(err)
	}
	w.Names = func(vni uint32) string {
		if vni == 42 {
			return "web-1 eth0"
		}
		return ""
	}
	t0 := time.Date(2026, 11, 23, 4, 0, 0, 123456789, time.UTC)
	long := frame(t, "1", 200)
	samples := []flow.Sample{
		{VNI: 42, Time: t0, OrigLen: uint32(len(long)), Data: long[:64]},
		{VNI: 43, Time: t0.Add(time.Millisecond), OrigLen: 60, Rule: 100, Data: frame(t, "2", 18)},
		{VNI: 42, Time: t0.Add(2 * time.Millisecond), OrigLen: 60, Data: frame(t, "3", 18)},
	}
	for _, s := range samples {
		if err := w.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "samples.pcapng")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := exec.Command(tshark, "-n", "-r", path, "-T", "fields", "-E", "separator=|",
		"-e", "frame.interface_name", "-e", "frame.comment", "-e", "ip.src", "-e", "frame.len", "-e", "frame.cap_len").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	want := []string{
		"vni-42|vni=42|198.18.0.1|" + strconv.Itoa(len(long)) + "|64",
		"vni-43|vni=43 rule=100|198.18.0.2|60|60",
		"vni-42|vni=42|198.18.0.3|60|60",
	}
	got := strings.Split(strings.TrimSpace(string(res)), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("tshark read\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	desc, _ := exec.Command(tshark, "-n", "-r", path, "-T", "fields", "-e", "frame.interface_description", "-c", "1").Output()
	if !strings.Contains(string(desc), "session web-1 eth0") {
		t.Errorf("interface description %q does not name the session", desc)
	}
}
