package loader

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// pktCase is one row of the packet table: a frame, and everything it must
// do to the data path.
type pktCase struct {
	name    string
	frame   func(t testing.TB) []byte
	verdict uint32   // XDPDrop for mirror traffic, XDPPass otherwise
	reason  string   // the one terminal reason that moves
	flags   []string // flags that move besides flow_start / flow_end
	flow    *flow.Key
	bytes   uint64     // bytes the flow gains (the stated inner IP length)
	source  netip.Addr // expected mirror source of the flow, when set
	fin     bool       // a TCP FIN/RST: a flow-end event follows the start
	tcp     *uint8     // the flow's TCP flags, when set
}

func tcpFlags(f uint8) *uint8 { return &f }

func k4(vni uint32, proto uint8, sp, dp uint16) *flow.Key {
	k := flowKey(vni, in4a, in4b, proto, sp, dp)
	return &k
}

func k6(vni uint32, proto uint8, sp, dp uint16) *flow.Key {
	k := flowKey(vni, in6a, in6b, proto, sp, dp)
	return &k
}

// cut returns a frame builder that keeps only the first n bytes.
func cut(n int, f func(t testing.TB) []byte) func(t testing.TB) []byte {
	return func(t testing.TB) []byte { return f(t)[:n] }
}

// Offsets in a plain outer-IPv4 mirror copy.
const (
	offOuterIP = 14
	offUDP     = 34
	offVXLAN   = 42
	offInner   = 50
	offInnerIP = 64
	offL4      = 84
)

func packetCases() []pktCase {
	m := func(inner ...gopacket.SerializableLayer) func(t testing.TB) []byte {
		return func(t testing.TB) []byte { return mirrored(t, 42, inner...) }
	}
	e4, e6 := layers.EthernetTypeIPv4, layers.EthernetTypeIPv6
	tcp4 := m(innerTCP4(1001, 443, 100)...)
	return []pktCase{
		{name: "vxlan ipv4 tcp", frame: tcp4, verdict: XDPDrop, reason: "flow", flow: k4(42, 6, 1001, 443), bytes: 140},
		{name: "vxlan ipv4 udp", frame: m(innerUDP4(1002, 53, 30)...), verdict: XDPDrop, reason: "flow", flow: k4(42, 17, 1002, 53), bytes: 58},
		{name: "vxlan ipv4 icmp has no ports", frame: m(ethL(e4), ip4L(layers.IPProtocolICMPv4, in4a, in4b), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload(56)),
			verdict: XDPDrop, reason: "flow", flow: k4(42, 1, 0, 0), bytes: 84},
		{name: "vxlan ipv4 igmp", frame: m(ethL(e4), ip4L(layers.IPProtocolIGMP, in4a, in4b), payload(8)), verdict: XDPDrop, reason: "flow", flow: k4(42, 2, 0, 0), bytes: 28},
		{name: "inner ipv4 options", frame: func(t testing.TB) []byte {
			ip := ip4L(layers.IPProtocolUDP, in4a, in4b)
			ip.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
			return mirrored(t, 42, ethL(e4), ip, udpL(1003, 53), payload(10))
		}, verdict: XDPDrop, reason: "flow", flow: k4(42, 17, 1003, 53), bytes: 42},
		{name: "outer ipv4 options", frame: func(t testing.TB) []byte {
			ip := ip4L(layers.IPProtocolUDP, outerSrc4, outerDst4)
			ip.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
			return build(t, append([]gopacket.SerializableLayer{ethL(e4), ip, udpL(65000, 4789), vxL(42)}, innerUDP4(1004, 53, 10)...)...)
		}, verdict: XDPDrop, reason: "flow", flow: k4(42, 17, 1004, 53), bytes: 38, source: outerSrc4},
		{name: "outer ipv6", frame: func(t testing.TB) []byte {
			return build(t, append([]gopacket.SerializableLayer{ethL(e6), ip6L(layers.IPProtocolUDP, outerSrc6, outerDst6), udpL(65000, 4789), vxL(42)}, innerUDP4(1005, 53, 10)...)...)
		}, verdict: XDPDrop, reason: "flow", flow: k4(42, 17, 1005, 53), bytes: 38, source: outerSrc6},
		{name: "inner ipv6 tcp", frame: m(ethL(e6), ip6L(layers.IPProtocolTCP, in6a, in6b), tcpL(1006, 443), payload(20)), verdict: XDPDrop, reason: "flow", flow: k6(42, 6, 1006, 443), bytes: 80},
		{name: "inner ipv6 udp", frame: m(ethL(e6), ip6L(layers.IPProtocolUDP, in6a, in6b), udpL(1007, 53), payload(12)), verdict: XDPDrop, reason: "flow", flow: k6(42, 17, 1007, 53), bytes: 60},
		{name: "inner icmpv6", frame: m(ethL(e6), ip6L(layers.IPProtocolICMPv6, in6a, in6b), payload(16)), verdict: XDPDrop, reason: "flow", flow: k6(42, 58, 0, 0), bytes: 56},
		{name: "inner ipv6 hop-by-hop + destination options", frame: m(ethL(e6), ip6L(layers.IPProtocolIPv6HopByHop, in6a, in6b),
			ext6(layers.IPProtocolIPv6Destination), ext6(layers.IPProtocolUDP), udpL(1008, 53), payload(4)),
			verdict: XDPDrop, reason: "flow", flow: k6(42, 17, 1008, 53), bytes: 68},
		{name: "inner ipv6 routing header", frame: m(ethL(e6), ip6L(layers.IPProtocolIPv6Routing, in6a, in6b), ext6(layers.IPProtocolTCP), tcpL(1009, 80), payload(0)),
			verdict: XDPDrop, reason: "flow", flow: k6(42, 6, 1009, 80), bytes: 68},
		{name: "inner ipv6 chain too long", frame: func(t testing.TB) []byte {
			ls := []gopacket.SerializableLayer{ethL(e6), ip6L(layers.IPProtocolIPv6Destination, in6a, in6b)}
			for i := 0; i < 6; i++ {
				ls = append(ls, ext6(layers.IPProtocolIPv6Destination))
			}
			ls = append(ls, ext6(layers.IPProtocolUDP), udpL(1, 2))
			return mirrored(t, 42, ls...)
		}, verdict: XDPDrop, reason: "ipv6_chain_too_long"},
		{name: "inner ipv6 extension header cut short", frame: cut(offInnerIP+40+4, m(ethL(e6), ip6L(layers.IPProtocolIPv6HopByHop, in6a, in6b), ext6(layers.IPProtocolUDP), udpL(1, 2))),
			verdict: XDPDrop, reason: "short_ipv6_ext"},
		{name: "inner ipv4 first fragment keeps ports", frame: func(t testing.TB) []byte {
			ip := ip4L(layers.IPProtocolUDP, in4a, in4b)
			ip.Flags = layers.IPv4MoreFragments
			return mirrored(t, 42, ethL(e4), ip, udpL(1010, 53), payload(100))
		}, verdict: XDPDrop, reason: "flow", flags: []string{"inner_fragment"}, flow: k4(42, 17, 1010, 53), bytes: 128},
		{name: "inner ipv4 later fragment has no ports", frame: func(t testing.TB) []byte {
			ip := ip4L(layers.IPProtocolUDP, in4a, in4b)
			ip.FragOffset = 16
			return mirrored(t, 42, ethL(e4), ip, payload(60))
		}, verdict: XDPDrop, reason: "flow", flags: []string{"inner_fragment"}, flow: k4(42, 17, 0, 0), bytes: 80},
		{name: "inner ipv6 fragment header", frame: m(ethL(e6), ip6L(layers.IPProtocolIPv6Fragment, in6a, in6b), frag6(layers.IPProtocolUDP, 0, true), udpL(1011, 53), payload(8)),
			verdict: XDPDrop, reason: "flow", flags: []string{"inner_fragment"}, flow: k6(42, 17, 1011, 53), bytes: 64},
		{name: "outer fragment is passed", frame: func(t testing.TB) []byte {
			ip := ip4L(layers.IPProtocolUDP, outerSrc4, outerDst4)
			ip.Flags = layers.IPv4MoreFragments
			return build(t, append([]gopacket.SerializableLayer{ethL(e4), ip, udpL(65000, 4789), vxL(42)}, innerUDP4(1, 2, 10)...)...)
		}, verdict: XDPPass, reason: "outer_fragment"},
		{name: "outer vlan", frame: func(t testing.TB) []byte {
			return build(t, append([]gopacket.SerializableLayer{ethL(layers.EthernetTypeDot1Q), dot1q(5, e4), ip4L(layers.IPProtocolUDP, outerSrc4, outerDst4), udpL(65000, 4789), vxL(42)}, innerUDP4(1012, 53, 10)...)...)
		}, verdict: XDPDrop, reason: "flow", flags: []string{"outer_vlan"}, flow: k4(42, 17, 1012, 53), bytes: 38},
		{name: "outer qinq", frame: func(t testing.TB) []byte {
			return build(t, append([]gopacket.SerializableLayer{ethL(layers.EthernetTypeQinQ), dot1q(100, layers.EthernetTypeDot1Q), dot1q(5, e4), ip4L(layers.IPProtocolUDP, outerSrc4, outerDst4), udpL(65000, 4789), vxL(42)}, innerUDP4(1013, 53, 10)...)...)
		}, verdict: XDPDrop, reason: "flow", flags: []string{"outer_vlan"}, flow: k4(42, 17, 1013, 53), bytes: 38},
		{name: "outer three vlan tags", frame: func(t testing.TB) []byte {
			return build(t, append([]gopacket.SerializableLayer{ethL(layers.EthernetTypeQinQ), dot1q(100, layers.EthernetTypeDot1Q), dot1q(5, layers.EthernetTypeDot1Q), dot1q(6, e4), ip4L(layers.IPProtocolUDP, outerSrc4, outerDst4), udpL(65000, 4789), vxL(42)}, innerUDP4(1, 2, 10)...)...)
		}, verdict: XDPPass, reason: "short_outer_vlan"},
		{name: "inner vlan", frame: m(ethL(layers.EthernetTypeDot1Q), dot1q(7, e4), ip4L(layers.IPProtocolUDP, in4a, in4b), udpL(1014, 53), payload(10)),
			verdict: XDPDrop, reason: "flow", flags: []string{"inner_vlan"}, flow: k4(42, 17, 1014, 53), bytes: 38},
		{name: "inner qinq", frame: m(ethL(layers.EthernetTypeQinQ), dot1q(8, layers.EthernetTypeDot1Q), dot1q(7, e4), ip4L(layers.IPProtocolUDP, in4a, in4b), udpL(1015, 53), payload(10)),
			verdict: XDPDrop, reason: "flow", flags: []string{"inner_vlan"}, flow: k4(42, 17, 1015, 53), bytes: 38},
		{name: "inner arp is non-ip", frame: m(ethL(layers.EthernetTypeARP), &layers.ARP{AddrType: 1, Protocol: 0x0800, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
			SourceHwAddress: macA, SourceProtAddress: in4a.AsSlice(), DstHwAddress: make([]byte, 6), DstProtAddress: in4b.AsSlice()}),
			verdict: XDPDrop, reason: "non_ip"},
		{name: "ssh is not mirror traffic", frame: func(t testing.TB) []byte {
			return build(t, ethL(e4), ip4L(layers.IPProtocolTCP, outerSrc4, outerDst4), tcpL(50000, 22), payload(40))
		}, verdict: XDPPass, reason: "not_mirror"},
		{name: "plain dns is not mirror traffic", frame: func(t testing.TB) []byte {
			return build(t, ethL(e4), ip4L(layers.IPProtocolUDP, outerSrc4, outerDst4), udpL(50000, 53), payload(40))
		}, verdict: XDPPass, reason: "not_mirror"},
		{name: "outer arp is not mirror traffic", frame: func(t testing.TB) []byte {
			return build(t, ethL(layers.EthernetTypeARP), &layers.ARP{AddrType: 1, Protocol: 0x0800, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
				SourceHwAddress: macA, SourceProtAddress: outerSrc4.AsSlice(), DstHwAddress: make([]byte, 6), DstProtAddress: outerDst4.AsSlice()})
		}, verdict: XDPPass, reason: "not_mirror"},
		{name: "outer icmpv6 is not mirror traffic", frame: func(t testing.TB) []byte {
			return build(t, ethL(e6), ip6L(layers.IPProtocolICMPv6, outerSrc6, outerDst6), payload(24))
		}, verdict: XDPPass, reason: "not_mirror"},
		{name: "vxlan on the linux port 8472 is not ours", frame: func(t testing.TB) []byte {
			return build(t, append([]gopacket.SerializableLayer{ethL(e4), ip4L(layers.IPProtocolUDP, outerSrc4, outerDst4), udpL(65000, 8472), vxL(42)}, innerUDP4(1, 2, 10)...)...)
		}, verdict: XDPPass, reason: "not_mirror"},
		{name: "vxlan without the I flag", frame: func(t testing.TB) []byte {
			b := mirrored(t, 42, innerUDP4(1, 2, 10)...)
			b[offVXLAN] = 0
			return b
		}, verdict: XDPDrop, reason: "bad_vxlan_flags"},
		{name: "vxlan with reserved bits set is tolerated", frame: func(t testing.TB) []byte {
			b := mirrored(t, 42, innerUDP4(1016, 53, 10)...)
			b[offVXLAN], b[offVXLAN+2], b[offVXLAN+7] = 0xff, 0xd1, 1
			return b
		}, verdict: XDPDrop, reason: "flow", flags: []string{"vxlan_nonstd"}, flow: k4(42, 17, 1016, 53), bytes: 38},
		{name: "short outer ip", frame: cut(offOuterIP+10, tcp4), verdict: XDPPass, reason: "short_outer_ip"},
		{name: "short outer udp", frame: cut(offUDP+4, tcp4), verdict: XDPPass, reason: "short_outer_udp"},
		{name: "short vxlan", frame: cut(offVXLAN+4, tcp4), verdict: XDPDrop, reason: "short_vxlan"},
		{name: "short inner ethernet", frame: cut(offInner+6, tcp4), verdict: XDPDrop, reason: "short_inner_eth"},
		{name: "short inner vlan", frame: cut(offInner+16, m(ethL(layers.EthernetTypeDot1Q), dot1q(7, e4), ip4L(layers.IPProtocolUDP, in4a, in4b), udpL(1, 2))),
			verdict: XDPDrop, reason: "short_inner_vlan"},
		{name: "short inner ip", frame: cut(offInnerIP+10, tcp4), verdict: XDPDrop, reason: "short_inner_ip"},
		// AWS PacketLength cuts inside the inner L4 header: still accounted
		// at the stated length, ports and flags as far as the cut left them.
		{name: "truncated in tcp: ports and flags", frame: cut(offL4+14, m(innerTCP4(1030, 443, 100)...)),
			verdict: XDPDrop, reason: "flow", flags: []string{"truncated", "l4_truncated"}, flow: k4(42, 6, 1030, 443), bytes: 140, tcp: tcpFlags(0x10)},
		{name: "truncated in tcp: ports, no flags", frame: cut(offL4+10, m(innerTCP4(1031, 443, 100)...)),
			verdict: XDPDrop, reason: "flow", flags: []string{"truncated", "l4_truncated"}, flow: k4(42, 6, 1031, 443), bytes: 140, tcp: tcpFlags(0)},
		{name: "truncated in tcp: ports only", frame: cut(offL4+4, m(innerTCP4(1032, 443, 100)...)),
			verdict: XDPDrop, reason: "flow", flags: []string{"truncated", "l4_truncated"}, flow: k4(42, 6, 1032, 443), bytes: 140},
		{name: "truncated in tcp: no ports", frame: cut(offL4+3, m(innerTCP4(1033, 443, 100)...)),
			verdict: XDPDrop, reason: "flow", flags: []string{"truncated", "l4_truncated"}, flow: k4(42, 6, 0, 0), bytes: 140},
		{name: "truncated at the end of the inner ip header", frame: cut(offL4, func(t testing.TB) []byte { return mirrored(t, 43, innerUDP4(1034, 53, 10)...) }),
			verdict: XDPDrop, reason: "flow", flags: []string{"truncated", "l4_truncated"}, flow: k4(43, 17, 0, 0), bytes: 38},
		{name: "truncated in udp: ports", frame: cut(offL4+5, m(innerUDP4(1035, 53, 10)...)),
			verdict: XDPDrop, reason: "flow", flags: []string{"truncated", "l4_truncated"}, flow: k4(42, 17, 1035, 53), bytes: 38},
		{name: "whole copy with a short inner tcp header is malformed", frame: func(t testing.TB) []byte {
			b := mirrored(t, 42, innerTCP4(1, 2, 100)...)[:offL4+10]
			binary.BigEndian.PutUint16(b[offInnerIP+2:], 30) // the IP header says 20 + 10 bytes: not truncated
			return b
		}, verdict: XDPDrop, reason: "short_inner_l4"},
		{name: "inner ip version 5", frame: func(t testing.TB) []byte {
			b := mirrored(t, 42, innerUDP4(1, 2, 10)...)
			b[offInnerIP] = 0x55
			return b
		}, verdict: XDPDrop, reason: "bad_inner_ip"},
		{name: "geneve around vxlan", frame: func(t testing.TB) []byte {
			return build(t, append([]gopacket.SerializableLayer{ethL(e4), ip4L(layers.IPProtocolUDP, netip.MustParseAddr("198.18.5.5"), outerDst4), udpL(60000, 6081),
				geneveHdr(0, 0, e4), ip4L(layers.IPProtocolUDP, outerSrc4, netip.MustParseAddr("198.18.5.6")), udpL(65000, 4789), vxL(42)}, innerUDP4(1017, 53, 10)...)...)
		}, verdict: XDPDrop, reason: "flow", flags: []string{"geneve"}, flow: k4(42, 17, 1017, 53), bytes: 38, source: outerSrc4},
		{name: "geneve with options", frame: func(t testing.TB) []byte {
			return build(t, append([]gopacket.SerializableLayer{ethL(e4), ip4L(layers.IPProtocolUDP, netip.MustParseAddr("198.18.5.5"), outerDst4), udpL(60000, 6081),
				geneveHdr(0, 3, e4), ip4L(layers.IPProtocolUDP, outerSrc4, netip.MustParseAddr("198.18.5.6")), udpL(65000, 4789), vxL(42)}, innerUDP4(1018, 53, 10)...)...)
		}, verdict: XDPDrop, reason: "flow", flags: []string{"geneve"}, flow: k4(42, 17, 1018, 53), bytes: 38, source: outerSrc4},
		{name: "geneve carrying ethernet", frame: func(t testing.TB) []byte {
			return build(t, append([]gopacket.SerializableLayer{ethL(e4), ip4L(layers.IPProtocolUDP, netip.MustParseAddr("198.18.5.5"), outerDst4), udpL(60000, 6081),
				geneveHdr(0, 0, layers.EthernetType(0x6558)), ethL(e4), ip4L(layers.IPProtocolUDP, outerSrc4, netip.MustParseAddr("198.18.5.6")), udpL(65000, 4789), vxL(42)}, innerUDP4(1019, 53, 10)...)...)
		}, verdict: XDPDrop, reason: "flow", flags: []string{"geneve"}, flow: k4(42, 17, 1019, 53), bytes: 38, source: outerSrc4},
		{name: "geneve not carrying vxlan", frame: func(t testing.TB) []byte {
			return build(t, ethL(e4), ip4L(layers.IPProtocolUDP, netip.MustParseAddr("198.18.5.5"), outerDst4), udpL(60000, 6081),
				geneveHdr(0, 0, e4), ip4L(layers.IPProtocolUDP, outerSrc4, netip.MustParseAddr("198.18.5.6")), udpL(65000, 53), payload(20))
		}, verdict: XDPPass, reason: "geneve_not_vxlan"},
		{name: "geneve version 1", frame: func(t testing.TB) []byte {
			return build(t, append([]gopacket.SerializableLayer{ethL(e4), ip4L(layers.IPProtocolUDP, netip.MustParseAddr("198.18.5.5"), outerDst4), udpL(60000, 6081),
				geneveHdr(1, 0, e4), ip4L(layers.IPProtocolUDP, outerSrc4, netip.MustParseAddr("198.18.5.6")), udpL(65000, 4789), vxL(42)}, innerUDP4(1, 2, 10)...)...)
		}, verdict: XDPDrop, reason: "bad_geneve"},
		{name: "truncated copy counts its stated length", frame: cut(offL4+20+10, m(innerTCP4(1020, 443, 500)...)),
			verdict: XDPDrop, reason: "flow", flags: []string{"truncated"}, flow: k4(42, 6, 1020, 443), bytes: 540},
		{name: "jumbo frame through multi-buffer", frame: m(innerUDP4(1021, 9000, 8972)...), verdict: XDPDrop, reason: "flow", flow: k4(42, 17, 1021, 9000), bytes: 9000},
		{name: "nested vxlan: only the first layer", frame: m(append([]gopacket.SerializableLayer{ethL(e4), ip4L(layers.IPProtocolUDP, in4a, in4b), udpL(4789, 4789), vxL(7)}, innerUDP4(1, 2, 10)...)...),
			// 96: the innermost Ethernet frame is padded to its 60-byte minimum.
			verdict: XDPDrop, reason: "flow", flow: k4(42, 17, 4789, 4789), bytes: 96},
		{name: "tcp fin ends the flow", frame: func(t testing.TB) []byte {
			tcp := tcpL(1022, 443)
			tcp.FIN = true
			return mirrored(t, 42, ethL(e4), ip4L(layers.IPProtocolTCP, in4a, in4b), tcp)
		}, verdict: XDPDrop, reason: "flow", flow: k4(42, 6, 1022, 443), bytes: 40, fin: true},
		{name: "tcp rst ends the flow", frame: func(t testing.TB) []byte {
			tcp := tcpL(1023, 443)
			tcp.RST = true
			return mirrored(t, 42, ethL(e4), ip4L(layers.IPProtocolTCP, in4a, in4b), tcp)
		}, verdict: XDPDrop, reason: "flow", flow: k4(42, 6, 1023, 443), bytes: 40, fin: true},
	}
}

// snapshot is the data path's observable state.
type snapshot struct {
	reasons, flags         map[string]uint64
	reasonBytes, flagBytes map[string]uint64 // wire bytes: whole frames, fragments of multi-buffer frames included
	flows                  map[flow.Key]flow.Counters
}

func takeSnapshot(t *testing.T, o *Objects) snapshot {
	t.Helper()
	rs, fs, err := o.Counters()
	if err != nil {
		t.Fatal(err)
	}
	s := snapshot{reasons: map[string]uint64{}, flags: map[string]uint64{}, reasonBytes: map[string]uint64{}, flagBytes: map[string]uint64{}, flows: map[flow.Key]flow.Counters{}}
	for _, c := range rs {
		s.reasons[c.Name] = c.Packets
		s.reasonBytes[c.Name] = c.Bytes
	}
	for _, c := range fs {
		s.flags[c.Name] = c.Packets
		s.flagBytes[c.Name] = c.Bytes
	}
	if err := o.Walk(func(k flow.Key, c flow.Counters) { s.flows[k] = c }); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPacketTable runs every case through the loaded program with
// BPF_PROG_TEST_RUN and checks the verdict, the exact counter that moved,
// the flags, the flow-map change and the ring buffer records.
func TestPacketTable(t *testing.T) {
	testutil.RequirePrivileged(t)
	cases := packetCases()
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	cfg := DefaultConfig()
	cfg.FlowTableSize = 4096
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ev, err := o.OpenEvents()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runPktCase(t, o, ev, c) })
	}
}

// runPktCase runs one case and checks the verdict, the exact counter that
// moved, the flags, the flow-map change and the ring buffer records.
func runPktCase(t *testing.T, o *Objects, ev *Events, c pktCase) {
	t.Helper()
	frame := c.frame(t)
	before := takeSnapshot(t, o)
	verdict, err := o.RunPacket(frame, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	after := takeSnapshot(t, o)
	var events []flow.Event
	if _, err := ev.Read(time.Unix(1, 0), func(e flow.Event) { events = append(events, e) }, nil); err != nil {
		t.Fatal(err)
	}

	if verdict != c.verdict {
		t.Errorf("verdict %d, want %d", verdict, c.verdict)
	}
	for name, v := range after.reasons {
		want := uint64(0)
		if name == c.reason {
			want = 1
		}
		if d := v - before.reasons[name]; d != want {
			t.Errorf("reason %s moved by %d, want %d", name, d, want)
		}
		// Wire bytes are the whole frame, also when it is a multi-buffer one.
		if d := after.reasonBytes[name] - before.reasonBytes[name]; d != want*uint64(len(frame)) {
			t.Errorf("reason %s bytes moved by %d, want %d", name, d, want*uint64(len(frame)))
		}
	}
	wantFlags := map[string]bool{}
	for _, f := range c.flags {
		wantFlags[f] = true
	}
	if c.flow != nil {
		wantFlags["flow_start"] = true
		if c.fin {
			wantFlags["flow_end"] = true
		}
	}
	for name, v := range after.flags {
		want := uint64(0)
		if wantFlags[name] {
			want = 1
		}
		if d := v - before.flags[name]; d != want {
			t.Errorf("flag %s moved by %d, want %d", name, d, want)
		}
		if d := after.flagBytes[name] - before.flagBytes[name]; d != want*uint64(len(frame)) {
			t.Errorf("flag %s bytes moved by %d, want %d", name, d, want*uint64(len(frame)))
		}
	}
	checkFlows(t, c, before.flows, after.flows)
	var types []flow.EventType
	for _, e := range events {
		types = append(types, e.Type)
		if c.flow != nil && e.Key != *c.flow {
			t.Errorf("event for %s, want %s", e.Key, *c.flow)
		}
	}
	var wantTypes []flow.EventType
	if c.flow != nil {
		wantTypes = append(wantTypes, flow.FlowStart)
		if c.fin {
			wantTypes = append(wantTypes, flow.FlowEnd)
		}
	}
	if len(types) != len(wantTypes) || (len(types) > 0 && types[0] != wantTypes[0]) || (len(types) > 1 && types[1] != wantTypes[1]) {
		t.Errorf("ring buffer events %v, want %v", types, wantTypes)
	}
}

// checkFlows: exactly the expected flow gained one packet and its bytes.
func checkFlows(t *testing.T, c pktCase, before, after map[flow.Key]flow.Counters) {
	t.Helper()
	for k, a := range after {
		b := before[k]
		if c.flow != nil && k == *c.flow {
			if a.Packets-b.Packets != 1 || a.Bytes-b.Bytes != c.bytes {
				t.Errorf("flow %s gained %d packets %d bytes, want 1 and %d", k, a.Packets-b.Packets, a.Bytes-b.Bytes, c.bytes)
			}
			if c.source.IsValid() && a.MirrorSource != c.source {
				t.Errorf("mirror source %s, want %s", a.MirrorSource, c.source)
			}
			if want := slices.Contains(c.flags, "truncated"); a.Truncated != want {
				t.Errorf("flow truncated %v, want %v", a.Truncated, want)
			}
			if c.tcp != nil && a.TCPFlags != *c.tcp {
				t.Errorf("flow TCP flags %#x, want %#x", a.TCPFlags, *c.tcp)
			}
			continue
		}
		if a.Packets != b.Packets || a.Bytes != b.Bytes {
			t.Errorf("flow %s changed (%d -> %d packets), no change expected", k, b.Packets, a.Packets)
		}
	}
	if c.flow != nil {
		if _, ok := after[*c.flow]; !ok {
			t.Errorf("flow %s not in the table", *c.flow)
		}
	}
}

// TestShortestFrame: BPF_PROG_TEST_RUN refuses frames under an Ethernet
// header, so short_outer_eth cannot be reached through the kernel;
// RunPacket counts such frames itself under that reason, once.
func TestShortestFrame(t *testing.T) {
	testutil.RequirePrivileged(t)
	o, err := Load(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: make([]byte, MinFrame-1)}); err == nil {
		t.Fatal("the kernel ran a 13-byte frame; RunPacket's own count of short frames would double count")
	}
	v, err := o.RunPacket(make([]byte, MinFrame-1), time.Now())
	if err != nil || v != XDPPass {
		t.Fatalf("short frame: verdict %d, %v", v, err)
	}
	reasons, _, err := o.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reasons {
		want := uint64(0)
		if r.Name == "short_outer_eth" {
			want = 1
		}
		if r.Packets != want {
			t.Errorf("reason %s: %d packets, want %d", r.Name, r.Packets, want)
		}
	}
}
