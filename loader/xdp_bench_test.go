package loader

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// BenchmarkXDP reports nanoseconds per packet through BPF_PROG_TEST_RUN,
// as the kernel measures them (the syscall and Go are not in the figure).
// `empty` is an empty XDP program: the cost of the test harness itself.
func BenchmarkXDP(b *testing.B) {
	testutil.RequirePrivileged(b)
	tcp4 := mirrored(b, 42, innerTCP4(3001, 443, 100)...)
	ipv6 := mirrored(b, 42, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolTCP, in6a, in6b), tcpL(3002, 443), payload(100))
	geneve := build(b, append([]gopacket.SerializableLayer{ethL(layers.EthernetTypeIPv4),
		ip4L(layers.IPProtocolUDP, netip.MustParseAddr("198.18.5.5"), outerDst4), udpL(60000, 6081),
		geneveHdr(0, 0, layers.EthernetTypeIPv4), ip4L(layers.IPProtocolUDP, outerSrc4, netip.MustParseAddr("198.18.5.6")),
		udpL(65000, 4789), vxL(42)}, innerTCP4(3003, 443, 100)...)...)
	ssh := build(b, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP, outerSrc4, outerDst4), tcpL(50000, 22), payload(100))

	var empty EmptyObjects
	if err := LoadEmptyObjects(&empty, nil); err != nil {
		b.Fatal(err)
	}
	defer empty.Close()
	o, err := Load(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()

	// inKernel runs frame b.N times inside one BPF_PROG_TEST_RUN.
	inKernel := func(run func([]byte, int) (time.Duration, error), frame []byte) func(*testing.B) {
		return func(b *testing.B) {
			run(frame, 1) // the first run creates the flow
			d, err := run(frame, b.N)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(d.Nanoseconds()), "ns/op")
		}
	}
	prog := func(o interface {
		Benchmark([]byte, int, func()) (uint32, time.Duration, error)
	}) func([]byte, int) (time.Duration, error) {
		return func(f []byte, n int) (time.Duration, error) {
			_, d, err := o.Benchmark(f, n, nil)
			return d, err
		}
	}
	b.Run("empty", inKernel(prog(empty.EmptyXdp), tcp4))
	b.Run("not-mirror", inKernel(prog(o.VxtapXdp), ssh))
	b.Run("vxlan-ipv4-tcp-new-flow", func(b *testing.B) { benchNewFlows(b) })
	b.Run("vxlan-ipv4-tcp-existing-flow", inKernel(prog(o.VxtapXdp), tcp4))
	// A session whose PacketLength cuts every copy: one flag per packet
	// (truncated), counted inline.
	b.Run("vxlan-ipv4-tcp-truncated-existing-flow", inKernel(prog(o.VxtapXdp), tcp4[:len(tcp4)-60]))
	b.Run("vxlan-ipv6-existing-flow", inKernel(prog(o.VxtapXdp), ipv6))
	b.Run("geneve-vxlan-existing-flow", inKernel(prog(o.VxtapXdp), geneve))
	// The threat check on (10,000 listed prefixes): a flow on no list,
	// and a listed flow past its first hit (counted, no event).
	th := loadBenchThreats(b)
	defer th.Close()
	b.Run("vxlan-ipv4-tcp-existing-flow-threats", inKernel(prog(th.VxtapXdp), tcp4))
	b.Run("vxlan-ipv4-tcp-existing-flow-threat-hit", inKernel(prog(th.VxtapXdp),
		mirrored(b, 42, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP, in4a, netip.MustParseAddr("198.19.66.6")), tcpL(3004, 443), payload(100))))
}

// loadBenchThreats loads the program with the threat check and 10,000
// prefixes (half /32, half /24) that miss the benchmark's flows, plus
// 198.19.66.6.
func loadBenchThreats(b *testing.B) *Objects {
	cfg := DefaultConfig()
	cfg.ThreatEnabled = true
	o, err := Load(cfg)
	if err != nil {
		b.Fatal(err)
	}
	es := []flow.ThreatEntry{{Prefix: netip.MustParsePrefix("198.19.66.6/32"), List: 1}}
	for i := 0; i < 5000; i++ {
		es = append(es, flow.ThreatEntry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)}), 32), List: 1},
			flow.ThreatEntry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 8), byte(i), 0}), 24), List: 2})
	}
	if err := o.Threats().SetThreats(es); err != nil {
		o.Close()
		b.Fatal(err)
	}
	return o
}

// benchNewFlows times packets that each open a flow: every run has its
// own source address and port. Runs are single (a repeat would meet its
// own flow), so the figure is the sum of the kernel's per-run times. The
// table is renewed, and the ring drained, outside the timed runs so that
// no run meets a full table or ring.
func benchNewFlows(b *testing.B) {
	const perTable = 100000
	cfg := DefaultConfig()
	cfg.FlowTableSize = 2 * perTable
	var total time.Duration
	var o *Objects
	var ev *Events
	defer func() {
		if o != nil {
			ev.Close()
			o.Close()
		}
	}()
	frame := mirrored(b, 42, innerTCP4(1, 443, 100)...)
	for i := 0; i < b.N; i++ {
		if i%perTable == 0 {
			if o != nil {
				ev.Close()
				o.Close()
			}
			var err error
			if o, err = Load(cfg); err != nil {
				b.Fatal(err)
			}
			if ev, err = o.OpenEvents(); err != nil {
				b.Fatal(err)
			}
		}
		if i%20000 == 0 {
			ev.Read(time.Unix(1, 0), nil, nil)
		}
		// A fresh inner source: 198.19.(i>>16).(i>>8) and port i.
		frame[offInnerIP+13], frame[offInnerIP+14] = byte(i>>16), byte(i>>8)
		frame[offL4], frame[offL4+1] = byte(i>>8), byte(i)
		_, d, err := o.VxtapXdp.Benchmark(frame, 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		total += d
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/op")
}
