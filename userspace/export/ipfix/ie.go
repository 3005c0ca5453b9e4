package ipfix

// Information elements vxtap exports, numbered as in the IANA "IPFIX
// Information Elements" registry. Every one is a standard element: the
// registry has a fitting one for each field, so no enterprise-specific
// element (and no Private Enterprise Number) is needed. docs/IPFIX.md
// says why each was chosen.
const (
	ieOctetDeltaCount          = 1   // unsigned64: inner IP bytes since the flow's previous record
	iePacketDeltaCount         = 2   // unsigned64: packets since the flow's previous record
	ieProtocolIdentifier       = 4   // unsigned8
	ieTCPControlBits           = 6   // unsigned16 (RFC 7125)
	ieSourceTransportPort      = 7   // unsigned16
	ieSourceIPv4Address        = 8   // ipv4Address
	ieIngressInterface         = 10  // unsigned32: the VNI, the mirror session's virtual interface
	ieDestinationTransportPort = 11  // unsigned16
	ieDestinationIPv4Address   = 12  // ipv4Address
	ieSourceIPv6Address        = 27  // ipv6Address
	ieDestinationIPv6Address   = 28  // ipv6Address
	ieFlowDirection            = 61  // unsigned8: 0 ingress, 1 egress, seen from the mirrored ENI
	ieInterfaceName            = 82  // string: the mirror session's name (describes ingressInterface)
	ieInterfaceDescription     = 83  // string: the mirrored ENI's id
	ieFlowEndReason            = 136 // unsigned8
	ieObservationDomainID      = 149 // unsigned32: scope of the sampling options record
	ieFlowStartMilliseconds    = 152 // dateTimeMilliseconds
	ieFlowEndMilliseconds      = 153 // dateTimeMilliseconds
	ieSamplingPacketInterval   = 305 // unsigned32: packets selected in a row; 1 (options record)
	ieSamplingPacketSpace      = 306 // unsigned32: packets skipped between; 0 (options record)
	ieLayer2SegmentID          = 351 // unsigned64: segment type 0x01 (VXLAN) in the top octet, VNI in the low three
	ieOriginalExporterIPv4     = 403 // ipv4Address: the mirror source (outer source: the ENI that copied the packet)
	ieOriginalExporterIPv6     = 404 // ipv6Address: the same over IPv6
)

// varLen is the field length that marks a variable-length element.
const varLen = 0xFFFF

// Set IDs (RFC 7011 §3.3.2).
const (
	setTemplate        = 2
	setOptionsTemplate = 3
)

// segmentVXLAN is the layer2SegmentId segment type of a VXLAN VNI, the
// top octet of the element as pmacct and vmware/go-ipfix read it.
const segmentVXLAN = 0x01

// flowEndReason values (IANA "flowEndReason Values").
const (
	endIdleTimeout   = 0x01
	endActiveTimeout = 0x02
	endOfFlow        = 0x03
	endForced        = 0x04
	endLackResources = 0x05
)

// flowDirection values (IANA "flowDirection Values").
const (
	dirIngress = 0x00
	dirEgress  = 0x01
)
