package ipfix

import "encoding/binary"

// field is one field specifier of a template: an element and its length
// on the wire (varLen for strings).
type field struct {
	id     uint16
	length uint16
}

// layout is the shape of one data record: a record's inner addresses
// and its mirror source may each be IPv4 or IPv6, and a flow whose
// direction is unknown carries no flowDirection (the element has no
// value for "unknown"). Each combination is its own template, so every
// record carries exactly the fields it has.
type layout struct {
	inner6 bool // inner addresses are IPv6
	outer6 bool // the mirror source is IPv6
	dir    bool // the direction is known
}

// numLayouts is how many data templates there are (every layout).
const numLayouts = 8

// templateID is the layout's data template ID: 256..263.
func (l layout) templateID() uint16 {
	id := uint16(256)
	if l.inner6 {
		id |= 1
	}
	if l.outer6 {
		id |= 2
	}
	if l.dir {
		id |= 4
	}
	return id
}

// layouts lists every layout in template ID order.
func layouts() []layout {
	ls := make([]layout, 0, numLayouts)
	for i := 0; i < numLayouts; i++ {
		ls = append(ls, layout{inner6: i&1 != 0, outer6: i&2 != 0, dir: i&4 != 0})
	}
	return ls
}

// fields is the layout's template, in the order appendRecord writes.
func (l layout) fields() []field {
	src, dst, addrLen := uint16(ieSourceIPv4Address), uint16(ieDestinationIPv4Address), uint16(4)
	if l.inner6 {
		src, dst, addrLen = ieSourceIPv6Address, ieDestinationIPv6Address, 16
	}
	origin, originLen := uint16(ieOriginalExporterIPv4), uint16(4)
	if l.outer6 {
		origin, originLen = ieOriginalExporterIPv6, 16
	}
	fs := []field{
		{ieFlowStartMilliseconds, 8},
		{ieFlowEndMilliseconds, 8},
		{ieOctetDeltaCount, 8},
		{iePacketDeltaCount, 8},
		{ieLayer2SegmentID, 8},
		{ieIngressInterface, 4},
		{src, addrLen},
		{dst, addrLen},
		{origin, originLen},
		{ieSourceTransportPort, 2},
		{ieDestinationTransportPort, 2},
		{ieTCPControlBits, 2},
		{ieProtocolIdentifier, 1},
		{ieFlowEndReason, 1},
	}
	if l.dir {
		fs = append(fs, field{ieFlowDirection, 1})
	}
	return append(fs, field{ieInterfaceName, varLen}, field{ieInterfaceDescription, varLen})
}

// appendTemplate writes a template record (RFC 7011 §3.4.1).
func appendTemplate(b []byte, id uint16, fs []field) []byte {
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, uint16(len(fs)))
	return appendFields(b, fs)
}

func appendFields(b []byte, fs []field) []byte {
	for _, f := range fs {
		b = binary.BigEndian.AppendUint16(b, f.id)
		b = binary.BigEndian.AppendUint16(b, f.length)
	}
	return b
}

// The sampling options template declares that every packet is counted,
// for the whole observation domain, as PSAMP systematic count-based
// sampling (RFC 5477): samplingPacketInterval 1, samplingPacketSpace 0.
// Some collectors drop flows from an exporter that declares no
// sampling. These two are what nfdump 1.7 reads (it ignores the older
// samplingInterval/samplingAlgorithm pair; the test shows nfcapd taking
// the sampler), and what pmacct, goflow2 and akvorado read too.
const samplingTemplateID = 264

var (
	samplingScope   = []field{{ieObservationDomainID, 4}}
	samplingOptions = []field{{ieSamplingPacketInterval, 4}, {ieSamplingPacketSpace, 4}}
)

// appendOptionsTemplate writes an options template record (§3.4.2.2).
func appendOptionsTemplate(b []byte, id uint16, scope, opts []field) []byte {
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, uint16(len(scope)+len(opts)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(scope)))
	b = appendFields(b, scope)
	return appendFields(b, opts)
}

// appendSamplingRecord writes the options data record of the sampling
// template: this domain, every packet selected, none skipped.
func appendSamplingRecord(b []byte, domain uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, domain)
	b = binary.BigEndian.AppendUint32(b, 1)
	return binary.BigEndian.AppendUint32(b, 0)
}
