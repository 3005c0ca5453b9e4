package loader

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// XDPRedirect is XDP_REDIRECT, the verdict of a forwarded copy.
const XDPRedirect = 4

// decapCase is one row of the decap table: a copy, and what the program
// must answer and leave in the frame.
type decapCase struct {
	name    string
	inner   []byte                                  // the inner frame as the mirror source sent it
	wrap    func(t testing.TB, inner []byte) []byte // the copy carrying it
	verdict uint32                                  // XDPRedirect for forwarded copies
	reason  string                                  // the terminal reason that moves
	flags   []string                                // every flag that moves (flow_start included)
	out     func(frame, inner []byte) []byte        // the frame the program leaves: the inner one when forwarded
	cfg     func(*Config)                           // load switches besides Decap
}

var forwarded = func(_, inner []byte) []byte { return inner }
var untouched = func(frame, _ []byte) []byte { return frame }

// vxlanFrom wraps an inner frame in Ethernet/IPv4 from src, UDP 4789,
// VXLAN vni.
func vxlanFrom(src netip.Addr, vni uint32) func(testing.TB, []byte) []byte {
	return func(t testing.TB, inner []byte) []byte {
		return build(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP, src, outerDst4), udpL(65000, 4789), vxL(vni), gopacket.Payload(inner))
	}
}

// inner builds an inner frame.
func inner(t testing.TB, ls ...gopacket.SerializableLayer) []byte { return build(t, ls...) }

func decapCases(t testing.TB) []decapCase {
	e4, e6 := layers.EthernetTypeIPv4, layers.EthernetTypeIPv6
	// Ingress for session 42 (its rules apply): the inner destination is
	// the mirror source.
	v4 := func(proto layers.IPProtocol, l4 ...gopacket.SerializableLayer) []byte {
		return inner(t, append([]gopacket.SerializableLayer{ethL(e4), ip4L(proto, in4a, outerSrc4)}, l4...)...)
	}
	tcp4 := v4(layers.IPProtocolTCP, tcpL(1001, 443), payload(100))
	v42 := vxlanFrom(outerSrc4, 42)
	jumbo := v4(layers.IPProtocolTCP, tcpL(1002, 443), payload(8900))
	return []decapCase{
		{name: "ipv4 tcp forwarded", inner: tcp4, wrap: v42, verdict: XDPRedirect, reason: "flow",
			flags: []string{"flow_start", "decap_forwarded"}, out: forwarded},
		{name: "same flow again forwarded", inner: tcp4, wrap: v42, verdict: XDPRedirect, reason: "flow",
			flags: []string{"decap_forwarded"}, out: forwarded},
		{name: "ipv6 udp forwarded", inner: inner(t, ethL(e6), ip6L(layers.IPProtocolUDP, in6a, in6b), udpL(1003, 53), payload(30)), wrap: vxlanFrom(outerSrc4, 43),
			verdict: XDPRedirect, reason: "flow", flags: []string{"flow_start", "decap_forwarded"}, out: forwarded},
		{name: "vlan-tagged inner frame forwarded with its tag", inner: inner(t, ethL(layers.EthernetTypeDot1Q), dot1q(7, e4), ip4L(layers.IPProtocolUDP, in4a, in4b), udpL(1004, 53), payload(10)),
			wrap: vxlanFrom(outerSrc4, 43), verdict: XDPRedirect, reason: "flow", flags: []string{"flow_start", "inner_vlan", "decap_forwarded"}, out: forwarded},
		{name: "outer vlan and ipv6 stripped", inner: inner(t, ethL(e4), ip4L(layers.IPProtocolUDP, in4a, in4b), udpL(1005, 53), payload(10)),
			wrap: func(t testing.TB, in []byte) []byte {
				return build(t, ethL(layers.EthernetTypeDot1Q), dot1q(5, e6), ip6L(layers.IPProtocolUDP, outerSrc6, outerDst6), udpL(65000, 4789), vxL(43), gopacket.Payload(in))
			}, verdict: XDPRedirect, reason: "flow", flags: []string{"flow_start", "outer_vlan", "decap_forwarded"}, out: forwarded},
		{name: "geneve around vxlan stripped", inner: inner(t, ethL(e4), ip4L(layers.IPProtocolUDP, in4a, in4b), udpL(1006, 53), payload(10)),
			wrap: func(t testing.TB, in []byte) []byte {
				return build(t, ethL(e4), ip4L(layers.IPProtocolUDP, netip.MustParseAddr("198.18.5.5"), outerDst4), udpL(60000, 6081),
					geneveHdr(0, 2, e4), ip4L(layers.IPProtocolUDP, outerSrc4, netip.MustParseAddr("198.18.5.6")), udpL(65000, 4789), vxL(43), gopacket.Payload(in))
			}, verdict: XDPRedirect, reason: "flow", flags: []string{"flow_start", "geneve", "decap_forwarded"}, out: forwarded},
		{name: "truncated copy forwarded cut short", inner: v4(layers.IPProtocolTCP, tcpL(1007, 443), payload(400))[:14+20+10], wrap: v42,
			verdict: XDPRedirect, reason: "flow", flags: []string{"flow_start", "truncated", "l4_truncated", "decap_forwarded"}, out: forwarded},
		{name: "rejected by a rule not forwarded", inner: v4(layers.IPProtocolUDP, udpL(1008, 9), payload(10)), wrap: v42,
			verdict: XDPDrop, reason: "filter_reject", out: untouched},
		{name: "forward false accepted, accounted, not forwarded", inner: v4(layers.IPProtocolUDP, udpL(1009, 5353), payload(10)), wrap: v42,
			verdict: XDPDrop, reason: "flow", flags: []string{"flow_start", "decap_unselected"}, out: untouched},
		{name: "spoofed source not forwarded", inner: v4(layers.IPProtocolTCP, tcpL(1010, 443), payload(10)), wrap: vxlanFrom(netip.MustParseAddr("198.18.9.9"), 42),
			verdict: XDPDrop, reason: "unknown_source", out: untouched},
		{name: "unknown vni not forwarded", inner: tcp4, wrap: vxlanFrom(outerSrc4, 77),
			verdict: XDPDrop, reason: "unknown_vni", out: untouched},
		{name: "inner arp not forwarded", inner: inner(t, ethL(layers.EthernetTypeARP), &layers.ARP{AddrType: 1, Protocol: 0x0800, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
			SourceHwAddress: macA, SourceProtAddress: in4a.AsSlice(), DstHwAddress: make([]byte, 6), DstProtAddress: in4b.AsSlice()}), wrap: v42,
			verdict: XDPDrop, reason: "non_ip", out: untouched},
		{name: "vni without interface and no default", inner: inner(t, ethL(e4), ip4L(layers.IPProtocolUDP, in4a, in4b), udpL(1011, 53), payload(10)), wrap: vxlanFrom(outerSrc4, 44),
			verdict: XDPDrop, reason: "flow", flags: []string{"flow_start", "decap_no_target"}, out: untouched},
		{name: "not mirror traffic passes untouched", inner: nil, wrap: func(t testing.TB, _ []byte) []byte {
			return build(t, ethL(e4), ip4L(layers.IPProtocolTCP, outerSrc4, outerDst4), tcpL(50000, 22), payload(40))
		}, verdict: XDPPass, reason: "not_mirror", out: untouched},
		{name: "jumbo multi-buffer copy, target without multi-buffer", inner: jumbo, wrap: v42,
			verdict: XDPDrop, reason: "flow", flags: []string{"flow_start", "decap_jumbo"}, out: untouched},
		{name: "jumbo multi-buffer copy goes whole", inner: jumbo, wrap: v42, cfg: func(c *Config) { c.DecapFrags = true },
			verdict: XDPRedirect, reason: "flow", flags: []string{"flow_start", "decap_forwarded"}, out: forwarded},
	}
}

// loadDecap loads the program with the feed on, session 42 under rules
// (reject UDP 9, accept UDP 5353 unforwarded, accept the rest), 43
// analyzed, 44 analyzed without an interface, only outerSrc4/outerSrc6
// and the GENEVE balancer trusted. Interfaces: 42 and 43 to lo (ifindex
// 1: BPF_PROG_TEST_RUN arms the redirect, never performs it).
func loadDecap(t *testing.T, tune func(*Config)) *Objects {
	t.Helper()
	cfg := DefaultConfig()
	cfg.FlowTableSize = 4096
	cfg.FilterEnabled, cfg.SourceCheck, cfg.Decap = true, true, true
	if tune != nil {
		tune(&cfg)
	}
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	comp := compileYAML(t, "decap.yaml", `
sessions:
  42: {filter: f}
  43: {action: analyze}
  44: {action: analyze}
filters:
  f:
    ingress:
      - {rule: 100, action: reject, protocol: udp, destination_ports: 9}
      - {rule: 200, action: accept, protocol: udp, destination_ports: 5353, forward: false}
      - {rule: 300, action: accept}
    egress: [{rule: 100, action: accept}]
`)
	if _, err := o.FilterMaps().Apply(comp); err != nil {
		t.Fatal(err)
	}
	if err := o.Sources().Set([]netip.Prefix{netip.PrefixFrom(outerSrc4, 32), netip.PrefixFrom(outerSrc6, 128), netip.MustParsePrefix("198.18.5.5/32")}); err != nil {
		t.Fatal(err)
	}
	for _, vni := range []uint32{42, 43} {
		if err := o.DecapPorts.Put(vni, uint32(1)); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

// TestDecapTable runs each copy through BPF_PROG_TEST_RUN: the verdict,
// the one reason and exactly the flags that move, and the frame the
// program leaves (the inner frame, byte for byte, when forwarded).
func TestDecapTable(t *testing.T) {
	testutil.RequirePrivileged(t)
	plain, frags := loadDecap(t, nil), loadDecap(t, func(c *Config) { c.DecapFrags = true })
	for _, c := range decapCases(t) {
		t.Run(c.name, func(t *testing.T) {
			o := plain
			if c.cfg != nil {
				o = frags
			}
			frame := c.wrap(t, c.inner)
			before := takeSnapshot(t, o)
			opts := &ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+512)}
			verdict, err := o.VxtapXdp.Run(opts)
			if err != nil {
				t.Fatal(err)
			}
			after := takeSnapshot(t, o)
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
			}
			for name, v := range after.flags {
				want := uint64(0)
				if slices.Contains(c.flags, name) {
					want = 1
				}
				if d := v - before.flags[name]; d != want {
					t.Errorf("flag %s moved by %d, want %d", name, d, want)
				}
			}
			if want := c.out(frame, c.inner); !bytes.Equal(opts.DataOut, want) {
				t.Errorf("frame out (%d bytes) differs from the one expected (%d bytes)\n got %x\nwant %x", len(opts.DataOut), len(want), head(opts.DataOut), head(want))
			}
		})
	}
}

// head is the start of a frame, for messages.
func head(b []byte) []byte { return b[:min(len(b), 96)] }

// TestDecapEnabledFromKernel: a program re-opened from its pins has no
// Config; whether it was loaded with the feed is read from its .rodata in
// the kernel, so `vxtap run --decap-to` refuses a carried-over program
// loaded without it instead of forwarding nothing.
func TestDecapEnabledFromKernel(t *testing.T) {
	testutil.RequirePrivileged(t)
	for _, on := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.FlowTableSize = 1024
		cfg.Decap = on
		o, err := Load(cfg)
		if err != nil {
			t.Fatal(err)
		}
		o.Config = Config{} // as OpenPinned leaves it
		if got := o.DecapEnabled(); got != on {
			t.Errorf("loaded with Decap %v: DecapEnabled %v", on, got)
		}
		o.Close()
	}
}
