package livebench

import (
	"encoding/binary"
	"fmt"
)

// Frame layout of bpf/test/live/live.h: Ethernet / IPv4 / UDP 4789 /
// VXLAN / Ethernet / IPv4 / TCP / zero payload.
const (
	offOuterIP  = 14
	offOuterUDP = 34
	offVXLAN    = 42
	offInnerEth = 50
	offInnerIP  = 64
	offInnerL4  = 84
	// MinFrameLen is the template up to the end of the inner TCP header.
	MinFrameLen = 104
	// MaxFrameLen is what one live-frame page holds (4 KiB less the
	// kernel's headroom and skb_shared_info), rounded down; it also covers
	// ENA's native-XDP limit (MTU 3498, a 3512-byte frame).
	MaxFrameLen = 3512
)

// VXLANPort is the outer UDP destination port of the generator's frames
// unless GenConfig.DstPort says otherwise.
const VXLANPort = 4789

// Template is the frame the generator copies for every repetition, n
// bytes long, to UDP port dport. The generator rewrites the flow's fields
// and checksums; lengths are set here once.
func Template(n int, dport uint16) ([]byte, error) {
	if n < MinFrameLen || n > MaxFrameLen {
		return nil, fmt.Errorf("frame length %d out of range %d..%d", n, MinFrameLen, MaxFrameLen)
	}
	f := make([]byte, n)
	// Outer Ethernet: the mirror source's router to the appliance.
	copy(f[0:], []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00})
	ipv4(f[offOuterIP:], n-offOuterIP, 17, [4]byte{198, 18, 0, 11}, [4]byte{198, 18, 0, 1})
	u := f[offOuterUDP:]
	binary.BigEndian.PutUint16(u[0:], 49152)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(n-offOuterUDP)) // checksum 0: allowed over IPv4
	f[offVXLAN] = 0x08                                       // I flag; VNI set per frame
	copy(f[offInnerEth:], []byte{2, 0, 0, 0, 1, 2, 2, 0, 0, 0, 1, 1, 0x08, 0x00})
	ipv4(f[offInnerIP:], n-offInnerIP, 6, [4]byte{198, 19, 0, 0}, innerDst)
	t := f[offInnerL4:]
	binary.BigEndian.PutUint16(t[0:], 1024)
	binary.BigEndian.PutUint16(t[2:], 443)
	t[12] = 5 << 4 // data offset: 20 bytes
	t[13] = 0x10   // ACK
	binary.BigEndian.PutUint16(t[14:], 1000)
	return f, nil
}

// ipv4 writes an IPv4 header without options (checksum left to the
// generator, which rewrites the addresses).
func ipv4(b []byte, totLen int, proto byte, src, dst [4]byte) {
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(totLen))
	b[8] = 64
	b[9] = proto
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
}

// FlowOf is the flow of frame i under cfg, as the generator picks it:
// frame i belongs to flow i % Flows, except one frame in NewEvery, which
// opens flow Flows + i/NewEvery.
func FlowOf(cfg GenConfig, i uint64) uint64 {
	if cfg.NewEvery != 0 && i%uint64(cfg.NewEvery) == 0 {
		return uint64(cfg.Flows) + i/uint64(cfg.NewEvery)
	}
	return i % uint64(cfg.Flows)
}

// Frame is frame i as the generator sends it: the template with flow
// FlowOf(cfg, i)'s fields and both checksums written. Tests hold the
// generator to it; benchmarks use it to build the same traffic.
func Frame(cfg GenConfig, i uint64) ([]byte, error) {
	f, err := Template(cfg.FrameLen, cfg.port())
	if err != nil {
		return nil, err
	}
	flow := FlowOf(cfg, i)
	vniIdx := uint32(flow % uint64(cfg.VNIs))
	vni := cfg.VNIBase + vniIdx
	hash := uint32(flow) * 2654435761
	f[offOuterIP+15] = byte(11 + vniIdx%200)
	binary.BigEndian.PutUint16(f[offOuterIP+10:], 0)
	binary.BigEndian.PutUint16(f[offOuterIP+10:], ipChecksum(f[offOuterIP:offOuterIP+20]))
	binary.BigEndian.PutUint16(f[offOuterUDP:], uint16(49152+hash>>18))
	f[offVXLAN+4], f[offVXLAN+5], f[offVXLAN+6] = byte(vni>>16), byte(vni>>8), byte(vni)
	f[offInnerIP+14], f[offInnerIP+15] = byte(flow>>8), byte(flow)
	binary.BigEndian.PutUint16(f[offInnerIP+10:], 0)
	binary.BigEndian.PutUint16(f[offInnerIP+10:], ipChecksum(f[offInnerIP:offInnerIP+20]))
	binary.BigEndian.PutUint16(f[offInnerL4:], uint16(1024+(flow>>16)%60000))
	return f, nil
}

// ipChecksum is the Internet checksum of an IPv4 header (checksum field 0).
func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
