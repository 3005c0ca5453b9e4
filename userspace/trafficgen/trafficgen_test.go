package trafficgen

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vxtap/vxtap/userspace/flow"
)

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFlowOf(t *testing.T) {
	eth4 := &layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeIPv4}
	eth6 := &layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeIPv6}
	ip4 := func(p layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: p, SrcIP: []byte{198, 19, 1, 1}, DstIP: []byte{198, 19, 1, 2}}
	}
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
		SrcIP: netip.MustParseAddr("2001:db8:1::1").AsSlice(), DstIP: netip.MustParseAddr("2001:db8:1::2").AsSlice()}
	cases := []struct {
		name  string
		frame []byte
		key   flow.Key
		ipLen int
		ok    bool
	}{
		{"tcp", serialize(t, eth4, ip4(layers.IPProtocolTCP), &layers.TCP{SrcPort: 1000, DstPort: 8080, DataOffset: 5}, gopacket.Payload(make([]byte, 10))),
			flow.Key{Src: netip.MustParseAddr("198.19.1.1"), Dst: netip.MustParseAddr("198.19.1.2"), Proto: 6, SPort: 1000, DPort: 8080}, 50, true},
		{"icmp", serialize(t, eth4, ip4(layers.IPProtocolICMPv4), &layers.ICMPv4{}),
			flow.Key{Src: netip.MustParseAddr("198.19.1.1"), Dst: netip.MustParseAddr("198.19.1.2"), Proto: 1}, 28, true},
		{"udp6", serialize(t, eth6, ip6, &layers.UDP{SrcPort: 7, DstPort: 5353}, gopacket.Payload(make([]byte, 4))),
			flow.Key{Src: netip.MustParseAddr("2001:db8:1::1"), Dst: netip.MustParseAddr("2001:db8:1::2"), Proto: 17, SPort: 7, DPort: 5353}, 52, true},
		{"arp", serialize(t, &layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: 1, Protocol: 0x0800, HwAddressSize: 6, ProtAddressSize: 4, SourceHwAddress: make([]byte, 6), SourceProtAddress: make([]byte, 4), DstHwAddress: make([]byte, 6), DstProtAddress: make([]byte, 4)}),
			flow.Key{}, 0, false},
		{"short", []byte{1, 2, 3}, flow.Key{}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, n, ok := flowOf(c.frame)
			if ok != c.ok || (ok && (k != c.key || n != c.ipLen)) {
				t.Errorf("flowOf = %v %d %v, want %v %d %v", k, n, ok, c.key, c.ipLen, c.ok)
			}
		})
	}
}

func TestLoadLabErrors(t *testing.T) {
	if _, err := LoadLab("no-such-lab-prefix"); err == nil || !strings.Contains(err.Error(), "lab-up.sh") {
		t.Errorf("missing lab: %v", err)
	}
}

func TestParseEnvNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.env")
	os.WriteFile(path, []byte("LAB_PREFIX=x\nSRC1_VNI=notanumber\n"), 0o644)
	p := &parser{path: path, kv: map[string]string{"SRC1_VNI": "notanumber"}}
	p.u32("SRC1_VNI")
	if p.err == nil || !strings.Contains(p.err.Error(), "SRC1_VNI") {
		t.Errorf("error %v does not name the key", p.err)
	}
}

func TestWriteTSVSorted(t *testing.T) {
	rows := []Row{
		{Key: flow.Key{VNI: 102, Src: netip.MustParseAddr("198.19.2.1"), Dst: netip.MustParseAddr("198.19.2.2"), Proto: 6}, Count: Count{1, 40}},
		{Key: flow.Key{VNI: 101, Src: netip.MustParseAddr("2001:db8:1::1"), Dst: netip.MustParseAddr("2001:db8:1::2"), Proto: 58}, Count: Count{2, 208}},
		{Key: flow.Key{VNI: 101, Src: netip.MustParseAddr("198.19.1.2"), Dst: netip.MustParseAddr("198.19.1.1"), Proto: 17, SPort: 5353, DPort: 9}, Count: Count{3, 300}},
	}
	SortRows(rows)
	var b bytes.Buffer
	WriteTSV(&b, rows)
	want := TSVHeader + "\n101\t198.19.1.2\t198.19.1.1\t17\t5353\t9\t3\t300\n101\t2001:db8:1::1\t2001:db8:1::2\t58\t0\t0\t2\t208\n102\t198.19.2.1\t198.19.2.2\t6\t0\t0\t1\t40\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
