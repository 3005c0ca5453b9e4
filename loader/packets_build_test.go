package loader

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Builders for the packet tests: gopacket layers where gopacket can
// serialize them, raw bytes (extension headers, GENEVE) where it cannot.

var (
	macA = []byte{2, 0, 0, 0, 0, 1}
	macB = []byte{2, 0, 0, 0, 0, 2}
	// Outer: the mirror source ENI and the appliance.
	outerSrc4, outerDst4 = netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("198.18.0.1")
	outerSrc6, outerDst6 = netip.MustParseAddr("2001:db8:ff::12"), netip.MustParseAddr("2001:db8:ff::1")
	// Inner: the mirrored workload and its peer.
	in4a, in4b = netip.MustParseAddr("198.19.1.1"), netip.MustParseAddr("198.19.1.2")
	in6a, in6b = netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:1::2")
)

func ethL(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}
}

func ip4L(proto layers.IPProtocol, src, dst netip.Addr) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func ip6L(next layers.IPProtocol, src, dst netip.Addr) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func udpL(s, d uint16) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(s), DstPort: layers.UDPPort(d)}
}

func tcpL(s, d uint16) *layers.TCP {
	return &layers.TCP{SrcPort: layers.TCPPort(s), DstPort: layers.TCPPort(d), ACK: true, DataOffset: 5, Window: 1000}
}

func vxL(vni uint32) *layers.VXLAN { return &layers.VXLAN{ValidIDFlag: true, VNI: vni} }

func dot1q(vid uint16, next layers.EthernetType) *layers.Dot1Q {
	return &layers.Dot1Q{VLANIdentifier: vid, Type: next}
}

// payload is n zero bytes.
func payload(n int) gopacket.Payload { return gopacket.Payload(make([]byte, n)) }

// ext6 is an IPv6 extension header of 8 bytes (hop-by-hop, routing or
// destination options: next header, length 0, padding).
func ext6(next layers.IPProtocol) gopacket.Payload {
	return gopacket.Payload([]byte{byte(next), 0, 1, 4, 0, 0, 0, 0})
}

// frag6 is an IPv6 fragment header with an offset in 8-byte units.
func frag6(next layers.IPProtocol, offset uint16, more bool) gopacket.Payload {
	b := []byte{byte(next), 0, 0, 0, 0, 0, 0, 42}
	v := offset << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:], v)
	return gopacket.Payload(b)
}

// geneveHdr is a GENEVE header carrying proto with optWords 4-byte words
// of options.
func geneveHdr(version byte, optWords int, proto layers.EthernetType) gopacket.Payload {
	b := []byte{version<<6 | byte(optWords), 0, 0, 0, 0, 0, 7, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(proto))
	for i := 0; i < optWords; i++ {
		b = append(b, 0, 0x80, 1, 0) // option class/type/length words
	}
	return gopacket.Payload(b)
}

// build serializes layers, fixing lengths.
func build(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// mirrored wraps an inner frame's layers in Ethernet/IPv4/UDP 4789/VXLAN
// from the source ENI, as AWS sends a copy.
func mirrored(t testing.TB, vni uint32, inner ...gopacket.SerializableLayer) []byte {
	t.Helper()
	ls := append([]gopacket.SerializableLayer{ethL(layers.EthernetTypeIPv4),
		ip4L(layers.IPProtocolUDP, outerSrc4, outerDst4), udpL(65000, 4789), vxL(vni)}, inner...)
	return build(t, ls...)
}

// innerTCP4 is inner Ethernet/IPv4/TCP with n bytes of payload.
func innerTCP4(sport, dport uint16, n int) []gopacket.SerializableLayer {
	return []gopacket.SerializableLayer{ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP, in4a, in4b), tcpL(sport, dport), payload(n)}
}

// innerUDP4 is inner Ethernet/IPv4/UDP with n bytes of payload.
func innerUDP4(sport, dport uint16, n int) []gopacket.SerializableLayer {
	return []gopacket.SerializableLayer{ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP, in4a, in4b), udpL(sport, dport), payload(n)}
}
