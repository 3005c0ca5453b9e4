package detect

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// DNSQuery is one question of a DNS query the mirrored traffic carried:
// the detectors' DNS input. Today the daemon makes them from sampled
// inner frames (ParseSample: a filter rule `protocol: udp,
// destination_ports: 53, capture: true` sends every query to the sample
// stream). The in-kernel source to come must deliver, per UDP packet to
// port 53: VNI, outer source (mirror source), inner source and
// destination address and ports, the time, and the UDP payload (the DNS
// message, at least its first 512 bytes); queries over TCP are not
// looked at.
type DNSQuery struct {
	VNI          uint32
	Time         time.Time
	MirrorSource netip.Addr // zero when the source does not carry it
	Src, Dst     netip.Addr
	SPort, DPort uint16
	ID           uint16
	Name         string // lower case, no trailing dot
	QType        uint16
}

// DNS parse outcomes, counted by name: every sample handed to the DNS
// parser ends under exactly one.
const (
	DNSOK            = "ok"
	DNSNotDNS        = "not_udp53"       // another protocol or port: not for this parser
	DNSShortEthernet = "short_ethernet"  // frame shorter than its Ethernet (and VLAN) header
	DNSShortIP       = "short_ip"        // IP header cut short or inconsistent
	DNSFragment      = "ip_fragment"     // a fragment: the DNS header may not be in it
	DNSShortUDP      = "short_udp"       // UDP header cut short
	DNSShortHeader   = "dns_short"       // DNS header cut short (or the snap length cut it)
	DNSResponse      = "dns_response"    // QR set: responses are not queries
	DNSNoQuestion    = "dns_no_question" // QDCOUNT 0
	DNSBadName       = "dns_bad_name"    // label runs past the data, bad length, pointer loop, over-long name
)

// DNSReasons lists the parse outcomes, for metrics.
var DNSReasons = []string{DNSOK, DNSNotDNS, DNSShortEthernet, DNSShortIP, DNSFragment, DNSShortUDP, DNSShortHeader, DNSResponse, DNSNoQuestion, DNSBadName}

// maxQuestions bounds the questions read from one message: real queries
// carry one; a hostile QDCOUNT must not make us loop.
const maxQuestions = 4

// ParseSample reads the DNS queries in a sampled inner frame (Ethernet,
// optional VLAN tags, IPv4 or IPv6, UDP to port 53). It returns the
// queries and the outcome's name (DNSOK or why there are none).
func ParseSample(s flow.Sample) ([]DNSQuery, string) {
	b := s.Data
	if len(b) < 14 {
		return nil, DNSShortEthernet
	}
	et := binary.BigEndian.Uint16(b[12:])
	off := 14
	for i := 0; i < 2 && (et == 0x8100 || et == 0x88a8); i++ { // at most two VLAN tags (QinQ)
		if len(b) < off+4 {
			return nil, DNSShortEthernet
		}
		et = binary.BigEndian.Uint16(b[off+2:])
		off += 4
	}
	q := DNSQuery{VNI: s.VNI, Time: s.Time}
	var udp []byte
	var why string
	switch et {
	case 0x0800:
		udp, why = parseIPv4(b[off:], &q)
	case 0x86dd:
		udp, why = parseIPv6(b[off:], &q)
	default:
		return nil, DNSNotDNS
	}
	if why != "" {
		return nil, why
	}
	return ParseDNS(udp, q)
}

func parseIPv4(b []byte, q *DNSQuery) ([]byte, string) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return nil, DNSShortIP
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || len(b) < ihl || total < ihl {
		return nil, DNSShortIP
	}
	if b[9] != 17 {
		return nil, DNSNotDNS
	}
	if binary.BigEndian.Uint16(b[6:])&0x3fff != 0 { // MF or an offset
		return nil, DNSFragment
	}
	q.Src = netip.AddrFrom4([4]byte(b[12:16]))
	q.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	end := min(total, len(b)) // the snap length may have cut the packet
	return b[ihl:end], ""
}

func parseIPv6(b []byte, q *DNSQuery) ([]byte, string) {
	if len(b) < 40 || b[0]>>4 != 6 {
		return nil, DNSShortIP
	}
	q.Src = netip.AddrFrom16([16]byte(b[8:24]))
	q.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	next, off := b[6], 40
	for i := 0; i < 8; i++ { // at most 8 extension headers, as the data path allows
		switch next {
		case 17:
			end := min(40+int(binary.BigEndian.Uint16(b[4:])), len(b))
			if end < off {
				return nil, DNSShortIP
			}
			return b[off:end], ""
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < off+8 {
				return nil, DNSShortIP
			}
			next, off = b[off], off+8+int(b[off+1])*8
		case 44:
			return nil, DNSFragment
		default:
			return nil, DNSNotDNS
		}
	}
	return nil, DNSShortIP
}

// ParseDNS reads the questions of a DNS query from a UDP datagram (its
// 8-byte header first); q carries the addresses to copy into each.
func ParseDNS(udp []byte, q DNSQuery) ([]DNSQuery, string) {
	if len(udp) < 8 {
		return nil, DNSShortUDP
	}
	q.SPort, q.DPort = binary.BigEndian.Uint16(udp), binary.BigEndian.Uint16(udp[2:])
	if q.DPort != 53 {
		return nil, DNSNotDNS
	}
	m := udp[8:]
	if len(m) < 12 {
		return nil, DNSShortHeader
	}
	if m[2]&0x80 != 0 {
		return nil, DNSResponse
	}
	q.ID = binary.BigEndian.Uint16(m)
	qd := int(binary.BigEndian.Uint16(m[4:]))
	if qd == 0 {
		return nil, DNSNoQuestion
	}
	var out []DNSQuery
	off := 12
	for i := 0; i < min(qd, maxQuestions); i++ {
		name, next, ok := readName(m, off)
		if !ok {
			if len(out) > 0 {
				break // keep what was whole; the snap length may cut later questions
			}
			return nil, DNSBadName
		}
		if len(m) < next+4 {
			if len(out) > 0 {
				break
			}
			return nil, DNSShortHeader
		}
		q.Name, q.QType = name, binary.BigEndian.Uint16(m[next:])
		out = append(out, q)
		off = next + 4
	}
	return out, DNSOK
}

// readName reads a (possibly compressed) name at off; next is where the
// question continues. Names are lower-cased; labels with dots or bytes
// outside printable ASCII are escaped as \DDD so they cannot forge names.
func readName(m []byte, off int) (name string, next int, ok bool) {
	var sb strings.Builder
	next = -1
	jumps := 0
	for steps := 0; steps < 128; steps++ { // at most 127 labels plus the root
		if off >= len(m) {
			return "", 0, false
		}
		l := int(m[off])
		switch {
		case l == 0:
			if next < 0 {
				next = off + 1
			}
			if sb.Len() == 0 {
				return ".", next, true // the root
			}
			return sb.String(), next, true
		case l&0xc0 == 0xc0:
			if off+1 >= len(m) || jumps >= 16 { // 16 pointers: no real name needs more; a loop is refused
				return "", 0, false
			}
			if next < 0 {
				next = off + 2
			}
			ptr := int(binary.BigEndian.Uint16(m[off:]) & 0x3fff)
			if ptr >= off { // pointers must go backwards
				return "", 0, false
			}
			off, jumps = ptr, jumps+1
		case l > 63:
			return "", 0, false
		default:
			if off+1+l > len(m) {
				return "", 0, false
			}
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			for _, c := range m[off+1 : off+1+l] {
				switch {
				case c >= 'A' && c <= 'Z':
					sb.WriteByte(c + 32)
				case c > 0x20 && c < 0x7f && c != '.' && c != '\\':
					sb.WriteByte(c)
				default:
					sb.WriteByte('\\')
					sb.WriteByte('0' + c/100)
					sb.WriteByte('0' + c/10%10)
					sb.WriteByte('0' + c%10)
				}
			}
			if sb.Len() > 1024 {
				return "", 0, false
			}
			off += 1 + l
		}
	}
	return "", 0, false
}
