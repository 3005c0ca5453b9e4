// Package detect raises security findings from mirrored traffic: scans,
// threat-list hits, crypto mining, floods, brute force, DNS exfiltration
// and unusual volume. It reads the pipeline's one-way flow starts, flow
// records and DNS queries (never both directions of a connection, which
// behind an NLB may land on different appliances), keeps every per-host
// state in bounded tables, and shapes each finding like the `detail` of
// an Amazon GuardDuty finding, so rules and Lambdas written for
// GuardDuty's EventBridge events work on vxtap's with `source: "vxtap"`.
//
// Copies from sources the allow-list (allowed_sources) refuses, of
// unknown VNIs, or rejected by the mirror filter never reach it: the data
// path drops them before they make a flow, an event or a sample, so
// spoofed copies cannot raise a finding.
package detect

import (
	"net/netip"
	"time"
)

// Role says whether the mirrored instance did the thing (ACTOR) or
// suffered it (TARGET), as GuardDuty's service.resourceRole does.
type Role string

const (
	Actor  Role = "ACTOR"
	Target Role = "TARGET"
)

// Finding is one finding: GuardDuty's finding detail, plus vxtap's own
// fields (VNI, session, evidence) under "vxtap".
type Finding struct {
	SchemaVersion string    `json:"schemaVersion"`
	AccountID     string    `json:"accountId,omitempty"`
	Region        string    `json:"region,omitempty"`
	Partition     string    `json:"partition"`
	ID            string    `json:"id"`
	Type          string    `json:"type"`
	Severity      float64   `json:"severity"`
	Title         string    `json:"title"`
	Description   string    `json:"description"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
	Resource      Resource  `json:"resource"`
	Service       Service   `json:"service"`
	Vxtap         Vxtap     `json:"vxtap"`
}

// Resource is the mirrored instance, known by its source ENI.
type Resource struct {
	ResourceType    string          `json:"resourceType"` // always "Instance"
	InstanceDetails InstanceDetails `json:"instanceDetails"`
}

// InstanceDetails holds the ENI the mirror session copies.
type InstanceDetails struct {
	InstanceID        string             `json:"instanceId,omitempty"`
	NetworkInterfaces []NetworkInterface `json:"networkInterfaces"`
}

// NetworkInterface is the source ENI of the session.
type NetworkInterface struct {
	NetworkInterfaceID string `json:"networkInterfaceId,omitempty"`
	PrivateIPAddress   string `json:"privateIpAddress,omitempty"`
	VpcID              string `json:"vpcId,omitempty"`
}

// Service is GuardDuty's service block: what happened, how often, when.
type Service struct {
	ServiceName    string    `json:"serviceName"` // "vxtap"
	Action         Action    `json:"action"`
	Count          int       `json:"count"`
	EventFirstSeen time.Time `json:"eventFirstSeen"`
	EventLastSeen  time.Time `json:"eventLastSeen"`
	ResourceRole   Role      `json:"resourceRole"`
	Archived       bool      `json:"archived"`
}

// Action types, as GuardDuty names them.
const (
	ActionNetworkConnection = "NETWORK_CONNECTION"
	ActionPortProbe         = "PORT_PROBE"
	ActionDNSRequest        = "DNS_REQUEST"
)

// Action is one of networkConnectionAction, portProbeAction or
// dnsRequestAction, named by actionType.
type Action struct {
	ActionType              string                   `json:"actionType"`
	NetworkConnectionAction *NetworkConnectionAction `json:"networkConnectionAction,omitempty"`
	PortProbeAction         *PortProbeAction         `json:"portProbeAction,omitempty"`
	DNSRequestAction        *DNSRequestAction        `json:"dnsRequestAction,omitempty"`
}

// Connection directions seen from the instance.
const (
	Inbound  = "INBOUND"
	Outbound = "OUTBOUND"
	Unknown  = "UNKNOWN"
)

// NetworkConnectionAction is a connection between the instance and a
// remote host.
type NetworkConnectionAction struct {
	ConnectionDirection string       `json:"connectionDirection"`
	LocalIPDetails      *IPDetails   `json:"localIpDetails,omitempty"`
	RemoteIPDetails     *IPDetails   `json:"remoteIpDetails,omitempty"`
	LocalPortDetails    *PortDetails `json:"localPortDetails,omitempty"`
	RemotePortDetails   *PortDetails `json:"remotePortDetails,omitempty"`
	Protocol            string       `json:"protocol"`
	Blocked             bool         `json:"blocked"`
}

// PortProbeAction lists the instance's ports that were probed.
type PortProbeAction struct {
	Blocked          bool              `json:"blocked"`
	PortProbeDetails []PortProbeDetail `json:"portProbeDetails"`
}

// PortProbeDetail is one probed local port and who probed it.
type PortProbeDetail struct {
	LocalPortDetails *PortDetails `json:"localPortDetails,omitempty"`
	LocalIPDetails   *IPDetails   `json:"localIpDetails,omitempty"`
	RemoteIPDetails  *IPDetails   `json:"remoteIpDetails,omitempty"`
}

// DNSRequestAction is a DNS query the instance made.
type DNSRequestAction struct {
	Domain   string `json:"domain"`
	Protocol string `json:"protocol"`
	Blocked  bool   `json:"blocked"`
}

// IPDetails is an address, in the family's own field.
type IPDetails struct {
	IPAddressV4 string `json:"ipAddressV4,omitempty"`
	IPAddressV6 string `json:"ipAddressV6,omitempty"`
}

// ipDetails fills the field of a's family; nil for the zero address.
func ipDetails(a netip.Addr) *IPDetails {
	switch {
	case !a.IsValid():
		return nil
	case a.Is4() || a.Is4In6():
		return &IPDetails{IPAddressV4: a.Unmap().String()}
	}
	return &IPDetails{IPAddressV6: a.String()}
}

// Addr reads the address back; the zero Addr when there is none.
func (d *IPDetails) Addr() netip.Addr {
	if d == nil {
		return netip.Addr{}
	}
	s := d.IPAddressV4
	if s == "" {
		s = d.IPAddressV6
	}
	a, _ := netip.ParseAddr(s)
	return a
}

// PortDetails is a port and its usual service name.
type PortDetails struct {
	Port     int    `json:"port"`
	PortName string `json:"portName,omitempty"`
}

func portDetails(p uint16) *PortDetails {
	return &PortDetails{Port: int(p), PortName: portName(p)}
}

// portName names the well-known ports findings mention most.
func portName(p uint16) string {
	switch p {
	case 22:
		return "SSH"
	case 53:
		return "DNS"
	case 80:
		return "HTTP"
	case 443:
		return "HTTPS"
	case 3389:
		return "RDP"
	case 9200, 9300:
		return "Elasticsearch"
	}
	return "Unknown"
}

// Vxtap is what vxtap adds: where the copies came from and why the
// finding was raised.
type Vxtap struct {
	VNI          uint32     `json:"vni"`
	Session      string     `json:"session,omitempty"`
	MirrorSource netip.Addr `json:"mirror_source,omitzero"` // outer source of the copies: the source ENI
	Detector     string     `json:"detector"`
	Evidence     Evidence   `json:"evidence"`
}

// Evidence is what the detector saw: the flows (a few keys) and its
// counts over the window that crossed the threshold.
type Evidence struct {
	Flows  []FlowRef          `json:"flows,omitempty"`
	Counts map[string]float64 `json:"counts,omitempty"`
	Window string             `json:"window,omitempty"`
	Names  []string           `json:"names,omitempty"` // DNS names queried
}

// FlowRef is one flow key the finding rests on.
type FlowRef struct {
	Src   netip.Addr `json:"src"`
	Dst   netip.Addr `json:"dst"`
	Proto uint8      `json:"proto"`
	SPort uint16     `json:"sport"`
	DPort uint16     `json:"dport"`
}

// protoName is GuardDuty's protocol word.
func protoName(p uint8) string {
	switch p {
	case 6:
		return "TCP"
	case 17:
		return "UDP"
	case 1, 58:
		return "ICMP"
	}
	return "Unknown"
}
