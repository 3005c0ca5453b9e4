package detect

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// dnsMsg builds a DNS query message for name (QTYPE A).
func dnsMsg(id uint16, name string, response bool) []byte {
	m := make([]byte, 12)
	binary.BigEndian.PutUint16(m, id)
	m[2] = 0x01 // RD
	if response {
		m[2] |= 0x80
	}
	binary.BigEndian.PutUint16(m[4:], 1)
	for _, l := range strings.Split(name, ".") {
		m = append(m, byte(len(l)))
		m = append(m, l...)
	}
	return append(m, 0, 0, 1, 0, 1)
}

// udpFrame wraps a payload in UDP, IP (either family) and Ethernet,
// with vlans 802.1Q tags.
func udpFrame(src, dst netip.Addr, sport, dport uint16, payload []byte, vlans int) []byte {
	udp := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(udp, sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	udp = append(udp, payload...)
	eth := make([]byte, 12)
	for range vlans {
		eth = append(eth, 0x81, 0x00, 0x00, 0x05)
	}
	if src.Is4() {
		ip := make([]byte, 20)
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
		s4, d4 := src.As4(), dst.As4()
		copy(ip[12:], s4[:])
		copy(ip[16:], d4[:])
		return append(append(append(eth, 0x08, 0x00), ip...), udp...)
	}
	ip := make([]byte, 40)
	ip[0], ip[6], ip[7] = 0x60, 0, 64      // next header: hop-by-hop options
	hbh := []byte{17, 0, 1, 4, 0, 0, 0, 0} // then UDP; PadN
	binary.BigEndian.PutUint16(ip[4:], uint16(len(hbh)+len(udp)))
	s16, d16 := src.As16(), dst.As16()
	copy(ip[8:], s16[:])
	copy(ip[24:], d16[:])
	return append(append(append(append(eth, 0x86, 0xdd), ip...), hbh...), udp...)
}

var resolver = netip.MustParseAddr("198.18.0.2")

func dnsSample(at time.Time, src netip.Addr, name string) flow.Sample {
	dst := resolver
	if src.Is6() {
		dst = netip.MustParseAddr("2001:db8::53")
	}
	return flow.Sample{VNI: vni, Time: at, Data: udpFrame(src, dst, 33000, 53, dnsMsg(7, name, false), 0)}
}

func TestParseSample(t *testing.T) {
	good := dnsMsg(0x1234, "Pool.MineXMR.com", false)
	cases := []struct {
		name  string
		data  []byte
		want  string
		qname string
	}{
		{"ipv4", udpFrame(inst, resolver, 33000, 53, good, 0), DNSOK, "pool.minexmr.com"},
		{"ipv6 hop-by-hop", udpFrame(inst6, netip.MustParseAddr("2001:db8::53"), 33000, 53, good, 0), DNSOK, "pool.minexmr.com"},
		{"two vlan tags", udpFrame(inst, resolver, 33000, 53, good, 2), DNSOK, "pool.minexmr.com"},
		{"response", udpFrame(inst, resolver, 33000, 53, dnsMsg(1, "a.com", true), 0), DNSResponse, ""},
		{"not port 53", udpFrame(inst, resolver, 33000, 5353, good, 0), DNSNotDNS, ""},
		{"short ethernet", []byte{1, 2, 3}, DNSShortEthernet, ""},
		{"short ip", udpFrame(inst, resolver, 33000, 53, good, 0)[:20], DNSShortIP, ""},
		{"short dns header", udpFrame(inst, resolver, 33000, 53, good[:6], 0), DNSShortHeader, ""},
		{"no question", udpFrame(inst, resolver, 33000, 53, []byte{0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0), DNSNoQuestion, ""},
		{"label past the end", udpFrame(inst, resolver, 33000, 53, append(good[:12:12], 60, 'a'), 0), DNSBadName, ""},
		{"label over 63", udpFrame(inst, resolver, 33000, 53, append(good[:12:12], 64), 0), DNSBadName, ""},
		{"pointer loop", udpFrame(inst, resolver, 33000, 53, append(good[:12:12], 0xc0, 12, 0, 1, 0, 1), 0), DNSBadName, ""},
		{"escaped dot", udpFrame(inst, resolver, 33000, 53, append(good[:12:12], 3, 'a', '.', 'b', 0, 0, 1, 0, 1), 0), DNSOK, `a\046b`},
	}
	frag := udpFrame(inst, resolver, 33000, 53, good, 0)
	frag[14+6] = 0x20 // MF
	cases = append(cases, struct {
		name  string
		data  []byte
		want  string
		qname string
	}{"fragment", frag, DNSFragment, ""})
	for _, tc := range cases {
		qs, why := ParseSample(flow.Sample{VNI: vni, Data: tc.data})
		if why != tc.want {
			t.Errorf("%s: outcome %s, want %s", tc.name, why, tc.want)
			continue
		}
		if tc.qname != "" && (len(qs) != 1 || qs[0].Name != tc.qname || qs[0].DPort != 53) {
			t.Errorf("%s: queries %+v, want %s", tc.name, qs, tc.qname)
		}
	}
	// Every truncation of a good frame ends under a named outcome and
	// never panics.
	full := udpFrame(inst6, netip.MustParseAddr("2001:db8::53"), 1, 53, good, 1)
	for n := range full {
		if _, why := ParseSample(flow.Sample{Data: full[:n]}); why == DNSOK && n < len(full)-4 {
			t.Errorf("cut to %d bytes parsed as whole", n)
		}
	}
}

// A query for a listed mining domain: CryptoCurrency:EC2/BitcoinTool.B!DNS,
// ACTOR, High, the name in dnsRequestAction; asking again updates it.
func TestMiningDNS(t *testing.T) {
	cfg := Default()
	cfg.Mining.Domains = []string{"minexmr.com"}
	e, sink := newTestEngine(t, cfg)
	e.WriteSamples([]flow.Sample{dnsSample(t0, inst, "pool.minexmr.com"), dnsSample(t0, inst, "example.org"),
		dnsSample(t0.Add(time.Second), inst, "pool.minexmr.com")})
	f := only(t, e, sink, TypeBitcoinToolDNS)
	basics(t, f, SevHigh, Actor)
	if f.Service.Action.ActionType != ActionDNSRequest || f.Service.Action.DNSRequestAction.Domain != "pool.minexmr.com" || f.Service.Count != 2 {
		t.Fatalf("action %+v count %d", f.Service.Action, f.Service.Count)
	}
}

func randLabel(r *rand.Rand, n int) string {
	const alpha = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = alpha[r.IntN(len(alpha))]
	}
	return string(b)
}

// Long random labels at a rate: Trojan:EC2/DNSDataExfiltration, once.
func TestDNSExfiltration(t *testing.T) {
	e, sink := newTestEngine(t, nil)
	r := rand.New(rand.NewPCG(1, 2))
	var ss []flow.Sample
	for i := 0; i < 60; i++ {
		ss = append(ss, dnsSample(t0.Add(time.Duration(i)*500*time.Millisecond), inst6, fmt.Sprintf("%s.%d.exfil.example", randLabel(r, 50), i)))
	}
	e.WriteSamples(ss)
	f := only(t, e, sink, TypeDNSExfil)
	basics(t, f, SevHigh, Actor)
	if f.Service.Action.DNSRequestAction.Domain != "exfil.example" || len(f.Vxtap.Evidence.Names) != maxEvidenceNames {
		t.Fatalf("action %+v evidence %+v", f.Service.Action.DNSRequestAction, f.Vxtap.Evidence)
	}
}
