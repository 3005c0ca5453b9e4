package livebench

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// xdpDrop is the verdict every live receiver returns.
const xdpDrop = 1

// mirrorCopy is a VXLAN mirror copy (outer IPv4, UDP to dport) of an inner
// UDP packet from src to dst with payload bytes of data.
func mirrorCopy(t *testing.T, dport uint16, vni uint32, src, dst netip.Addr, payload int) []byte {
	t.Helper()
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	innerEth := &layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: layers.EthernetTypeIPv4}
	var inner gopacket.NetworkLayer
	if src.Is6() {
		innerEth.EthernetType = layers.EthernetTypeIPv6
		inner = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	} else {
		inner = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 53}
	if err := udp.SetNetworkLayerForChecksum(inner); err != nil {
		t.Fatal(err)
	}
	outerIP := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP{198, 18, 0, 1}, DstIP: net.IP{198, 18, 0, 2}}
	outerUDP := &layers.UDP{SrcPort: 50000, DstPort: layers.UDPPort(dport)}
	if err := outerUDP.SetNetworkLayerForChecksum(outerIP); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts,
		&layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: layers.EthernetTypeIPv4},
		outerIP, outerUDP,
		&layers.VXLAN{ValidIDFlag: true, VNI: vni},
		innerEth, inner.(gopacket.SerializableLayer), udp, gopacket.Payload(make([]byte, payload)),
	); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// keyOf is the flow key the per-flow receivers give an inner UDP packet
// of mirrorCopy (ports 40000 -> 53).
func keyOf(vni uint32, src, dst netip.Addr) LiveFlowMapLiveFlowKey {
	k := LiveFlowMapLiveFlowKey{Family: 4, Proto: 17}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], vni<<8)
	k.Vni = binary.LittleEndian.Uint32(b[:])
	binary.BigEndian.PutUint16(b[:2], 40000)
	k.Sport = binary.LittleEndian.Uint16(b[:2])
	binary.BigEndian.PutUint16(b[:2], 53)
	k.Dport = binary.LittleEndian.Uint16(b[:2])
	words := func(a netip.Addr, out *[4]uint32) {
		s := a.AsSlice()
		for i := 0; i < len(s)/4; i++ {
			out[i] = binary.LittleEndian.Uint32(s[4*i:])
		}
	}
	if src.Is6() {
		k.Family = 6
	}
	words(src, &k.Src)
	words(dst, &k.Dst)
	return k
}

// The per-flow receivers count each flow's copies and bytes exactly, in
// BPF_PROG_TEST_RUN: IPv4 and IPv6 flows, two IPv6 flows that differ only
// in the destination's last four bytes (the key's last word, past the
// five 64-bit words), and a frame that is no VXLAN copy (other). Each
// table row is one frame with its verdict; the flows are checked after.
func TestFlowReceiversCountEachFlow(t *testing.T) {
	skipUnprivileged(t)
	a4, b4 := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.2.2")
	a6, b6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2:0:0:1")
	c6 := netip.MustParseAddr("2001:db8::2:0:0:2")
	frames := []struct {
		name    string
		frame   []byte
		key     LiveFlowMapLiveFlowKey
		ipLen   uint64
		counted bool
	}{
		{"ipv4 flow", mirrorCopy(t, VXLANPort, 7, a4, b4, 10), keyOf(7, a4, b4), 20 + 8 + 10, true},
		{"ipv4 flow again", mirrorCopy(t, VXLANPort, 7, a4, b4, 30), keyOf(7, a4, b4), 20 + 8 + 30, true},
		{"ipv4 flow, other VNI", mirrorCopy(t, VXLANPort, 8, a4, b4, 10), keyOf(8, a4, b4), 20 + 8 + 10, true},
		{"ipv6 flow", mirrorCopy(t, VXLANPort, 7, a6, b6, 0), keyOf(7, a6, b6), 40 + 8, true},
		{"ipv6 flow, last destination word differs", mirrorCopy(t, VXLANPort, 7, a6, c6, 0), keyOf(7, a6, c6), 40 + 8, true},
		{"ipv6 flow again", mirrorCopy(t, VXLANPort, 7, a6, b6, 4), keyOf(7, a6, b6), 40 + 8 + 4, true},
		{"not VXLAN (port 4790)", mirrorCopy(t, 4790, 7, a4, b4, 10), LiveFlowMapLiveFlowKey{}, 0, false},
	}
	for _, name := range []string{"flow-floor", "flow-map"} {
		t.Run(name, func(t *testing.T) {
			r, err := LoadBaseline(name)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			want := make(map[LiveFlowMapLiveFlowKey]FlowCount)
			var wantOther uint64
			for _, f := range frames {
				ret, _, err := r.Prog.Test(f.frame)
				if err != nil || ret != xdpDrop {
					t.Fatalf("%s: verdict %d, %v", f.name, ret, err)
				}
				if !f.counted {
					wantOther++
					continue
				}
				w := want[f.key]
				w.Key, w.Packets, w.Bytes = f.key, w.Packets+1, w.Bytes+f.ipLen
				want[f.key] = w
			}
			flows, apart, other, err := r.Flows()
			if err != nil {
				t.Fatal(err)
			}
			if apart != 0 || other != wantOther {
				t.Errorf("apart %d, other %d; want 0 and %d", apart, other, wantOther)
			}
			if len(flows) != len(want) {
				t.Errorf("%d flows, want %d: %+v", len(flows), len(want), flows)
			}
			for k, w := range want {
				if flows[k] != w {
					t.Errorf("flow %+v: %+v, want %+v", k, flows[k], w)
				}
			}
			parsed, other2, ok, err := r.Accounted()
			if err != nil || !ok || parsed != uint64(len(frames))-wantOther || other2 != wantOther {
				t.Errorf("Accounted: %d parsed, %d other, ok %v, %v", parsed, other2, ok, err)
			}
		})
	}
}
