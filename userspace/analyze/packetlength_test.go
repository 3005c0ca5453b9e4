package analyze_test

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/aggregate"
	"github.com/vxtap/vxtap/userspace/analyze"
	"github.com/vxtap/vxtap/userspace/capture"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// awsCapture is the real AWS Traffic Mirroring capture of the corpus.
const awsCapture = "../../../shared/corpus/real/suricata-verify_vxlan-decoder-03_aws-traffic-mirror.pcap"

// mirrorCopy is one copy of the capture, decoded by gopacket (not by
// vxtap): where its parts start and the inner flow it carries.
type mirrorCopy struct {
	ci       gopacket.CaptureInfo
	data     []byte
	outerIP  int // offset of the outer IPv4 header
	inner    int // offset of the inner Ethernet header (after VXLAN)
	ipStart  int // offset of the inner IP header
	ipEnd    int // offset past the inner IP header
	l4       bool
	key      flow.Key
	statedIP uint64 // the inner IP header's total length
}

// offsetOf is where a layer starts in data.
func offsetOf(data []byte, l gopacket.Layer) int {
	return len(data) - len(l.LayerContents()) - len(l.LayerPayload())
}

func readCopies(t *testing.T) []mirrorCopy {
	t.Helper()
	f, err := os.Open(awsCapture)
	if err != nil {
		t.Fatalf("the corpus capture: %v", err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []mirrorCopy
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		var ips []*layers.IPv4
		for _, l := range pkt.Layers() {
			if ip, ok := l.(*layers.IPv4); ok {
				ips = append(ips, ip)
			}
		}
		vx, _ := pkt.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
		if len(ips) != 2 || vx == nil {
			t.Fatalf("copy %d: not outer IPv4/VXLAN/inner IPv4 (%v)", len(out)+1, pkt)
		}
		in := ips[1]
		c := mirrorCopy{ci: ci, data: data, outerIP: offsetOf(data, ips[0]), inner: offsetOf(data, vx) + 8,
			ipStart: offsetOf(data, in), ipEnd: offsetOf(data, in) + int(in.IHL)*4, statedIP: uint64(in.Length)}
		c.key = flow.Key{VNI: vx.VNI, Src: netip.AddrFrom4([4]byte(in.SrcIP.To4())), Dst: netip.AddrFrom4([4]byte(in.DstIP.To4())), Proto: uint8(in.Protocol)}
		// The last TCP/UDP layer is the inner one (the first UDP is VXLAN's).
		for _, l := range pkt.Layers() {
			switch l4 := l.(type) {
			case *layers.TCP:
				c.l4, c.key.SPort, c.key.DPort = true, uint16(l4.SrcPort), uint16(l4.DstPort)
			case *layers.UDP:
				if in.Protocol == layers.IPProtocolUDP && offsetOf(data, l4) > c.inner {
					c.l4, c.key.SPort, c.key.DPort = true, uint16(l4.SrcPort), uint16(l4.DstPort)
				}
			}
		}
		out = append(out, c)
	}
	if len(out) != 100 {
		t.Fatalf("%d copies, want the capture's 100", len(out))
	}
	return out
}

// cutAsAWS is the copy as a session with PacketLength n sends it: the
// mirrored packet cut to n bytes after the VXLAN header, the outer IPv4
// and UDP lengths (and the IPv4 checksum) rewritten to match.
func cutAsAWS(c mirrorCopy, n int) []byte {
	if c.inner+n >= len(c.data) {
		return append([]byte(nil), c.data...)
	}
	b := append([]byte(nil), c.data[:c.inner+n]...)
	ip := b[c.outerIP:]
	ihl := int(ip[0]&0x0f) * 4
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	binary.BigEndian.PutUint16(ip[ihl+4:], uint16(len(ip)-ihl)) // UDP length
	binary.BigEndian.PutUint16(ip[ihl+6:], 0)                   // UDP checksum: none (IPv4)
	binary.BigEndian.PutUint16(ip[10:], 0)
	var sum uint32
	for i := 0; i < ihl; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	return b
}

// TestAWSPacketLength cuts the real AWS capture at every PacketLength from
// 1 to 128 as AWS does and runs each through the analyze path: every copy
// whose inner IP header is whole is accounted, at its stated length, under
// the right key (ports when 4 bytes of TCP/UDP are left, else 0), and the
// records of cut copies say truncated. Issue 10 item 4: before, 18 of 100
// copies made flows at PacketLength 42..53 and none at 38.
func TestAWSPacketLength(t *testing.T) {
	testutil.RequirePrivileged(t)
	copies := readCopies(t)
	dir := t.TempDir()
	// One program for every cut: each analysis ends with a shutdown that
	// removes its flows, so the next starts from an empty table.
	cfg := loader.DefaultConfig()
	cfg.OfflineClock = true
	cfg.FlowTableSize = 4096
	o, err := loader.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ev, err := o.OpenEvents()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	for n := 1; n <= 128; n++ {
		path := filepath.Join(dir, "cut.pcap")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := pcapgo.NewWriter(f)
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		want := map[flow.Key]recTotal{}
		accounted := 0
		for _, c := range copies {
			b := cutAsAWS(c, n)
			ci := c.ci
			ci.CaptureLength, ci.Length = len(b), len(b)
			if err := w.WritePacket(ci, b); err != nil {
				t.Fatal(err)
			}
			if c.inner+n < c.ipEnd {
				continue // the inner IP header is cut: nothing to account
			}
			k := c.key
			if c.l4 && c.inner+n < c.ipEnd+4 {
				k.SPort, k.DPort = 0, 0
			}
			tt := want[k]
			tt.packets++
			tt.bytes += c.statedIP
			// Truncated: the cut left less than the inner IP header states.
			tt.truncated = tt.truncated || c.inner+n < c.ipStart+int(c.statedIP)
			want[k] = tt
			accounted++
		}
		f.Close()
		got := runCapture(t, o, ev, path)
		gotPackets := 0
		for k, tt := range want {
			g := got[k]
			if g != tt {
				t.Errorf("PacketLength %d: %s: %+v, want %+v", n, k, g, tt)
			}
		}
		for k, g := range got {
			gotPackets += int(g.packets)
			if _, ok := want[k]; !ok {
				t.Errorf("PacketLength %d: unexpected flow %s (%d packets)", n, k, g.packets)
			}
		}
		if gotPackets != accounted {
			t.Errorf("PacketLength %d: %d packets accounted, want %d", n, gotPackets, accounted)
		}
	}
}

type recTotal struct {
	packets, bytes uint64
	truncated      bool
}

// runCapture analyzes a capture through the XDP program and sums its
// records by key.
func runCapture(t *testing.T, o *loader.Objects, ev *loader.Events, path string) map[flow.Key]recTotal {
	t.Helper()
	rd, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	res, err := analyze.Run(rd, o, ev, aggregate.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	out := map[flow.Key]recTotal{}
	for _, r := range res.Records {
		g := out[r.Key()]
		g.packets += r.Packets
		g.bytes += r.Bytes
		g.truncated = g.truncated || r.Truncated
		out[r.Key()] = g
	}
	return out
}
