package ipfix

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/vxtap/vxtap/userspace/flow"
)

// maxString bounds each string element (session name, ENI id), so any
// record fits a message of the smallest allowed MTU; a longer string is
// cut at a character boundary.
const maxString = 128

// endReason maps a record's end reason to flowEndReason. evicted and
// overflow both end a flow because the table ran short of room: "lack of
// resources". A reason this table does not know (none today; the test
// walks every flow.End* constant) becomes "forced end".
func endReason(s string) uint8 {
	switch s {
	case flow.EndIdle:
		return endIdleTimeout
	case flow.EndActive:
		return endActiveTimeout
	case flow.EndTCP:
		return endOfFlow
	case flow.EndShutdown:
		return endForced
	case flow.EndEvicted, flow.EndOverflow:
		return endLackResources
	}
	return endForced
}

// layoutOf picks the record's template. Inner addresses of two families
// in one record cannot be encoded (no such flow exists; it would be a
// bug upstream): an error, counted by the caller.
func layoutOf(r *flow.Record) (layout, error) {
	src, dst := r.Src.Unmap(), r.Dst.Unmap()
	if src.IsValid() && dst.IsValid() && src.Is4() != dst.Is4() {
		return layout{}, fmt.Errorf("record %s: source and destination of different address families", r.Key())
	}
	return layout{
		inner6: src.Is6() || dst.Is6(),
		outer6: r.MirrorSource.Unmap().Is6(),
		dir:    r.Direction != flow.DirUnknown,
	}, nil
}

// appendRecord writes r as a data record of layout l, field by field in
// the order of l.fields().
func appendRecord(b []byte, l layout, r *flow.Record) []byte {
	b = binary.BigEndian.AppendUint64(b, millis(r.First))
	b = binary.BigEndian.AppendUint64(b, millis(r.Last))
	b = binary.BigEndian.AppendUint64(b, r.Bytes)
	b = binary.BigEndian.AppendUint64(b, r.Packets)
	b = binary.BigEndian.AppendUint64(b, uint64(segmentVXLAN)<<56|uint64(r.VNI&0xFFFFFF))
	b = binary.BigEndian.AppendUint32(b, r.VNI)
	b = appendAddr(b, r.Src, l.inner6)
	b = appendAddr(b, r.Dst, l.inner6)
	b = appendAddr(b, r.MirrorSource, l.outer6)
	b = binary.BigEndian.AppendUint16(b, r.SPort)
	b = binary.BigEndian.AppendUint16(b, r.DPort)
	b = binary.BigEndian.AppendUint16(b, uint16(r.TCPFlags))
	b = append(b, r.Proto, endReason(r.EndReason))
	if l.dir {
		d := uint8(dirIngress)
		if r.Direction == flow.DirEgress {
			d = dirEgress
		}
		b = append(b, d)
	}
	b = appendString(b, r.Session)
	return appendString(b, r.ENI)
}

// millis is a dateTimeMilliseconds; an unset time is 0 (the epoch).
func millis(t time.Time) uint64 {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return 0
	}
	return uint64(t.UnixMilli())
}

// appendAddr writes a 4- or 16-byte address; an unset one is all zeros.
func appendAddr(b []byte, a netip.Addr, v6 bool) []byte {
	a = a.Unmap()
	if v6 {
		var z [16]byte
		if a.Is6() {
			z = a.As16()
		}
		return append(b, z[:]...)
	}
	var z [4]byte
	if a.Is4() {
		z = a.As4()
	}
	return append(b, z[:]...)
}

// appendString writes a variable-length string (RFC 7011 §7): one length
// octet, as maxString < 255.
func appendString(b []byte, s string) []byte {
	if len(s) > maxString {
		cut := maxString
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	b = append(b, byte(len(s)))
	return append(b, s...)
}

// maxRecordLen bounds one encoded data record: the largest layout with
// both strings at maxString.
func maxRecordLen() int {
	n := 0
	for _, f := range (layout{inner6: true, outer6: true, dir: true}).fields() {
		if f.length == varLen {
			n += 1 + maxString
		} else {
			n += int(f.length)
		}
	}
	return n
}
