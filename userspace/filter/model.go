// Package filter is vxtap's model of AWS Traffic Mirror filters and
// sessions: it reads them (vxtap's YAML, or the JSON the AWS CLI prints),
// validates them with errors that name file, line and rule, evaluates them
// with a plain reference evaluator, and compiles each direction's rules into
// the per-field tables the XDP classifier (bpf/include/classify.h) ANDs.
// It has no BPF dependency: the loader writes the compiled tables.
package filter

import (
	"fmt"
	"net/netip"
)

// Limits of the AWS model and of the kernel tables.
const (
	MaxRules      = 4096      // rules per direction per filter (64 bitset words)
	MaxRuleNumber = 32766     // AWS RuleNumber range is 1..32766
	MaxVNI        = 1<<24 - 1 // VXLAN network identifiers are 24 bits
	MaxSnapLen    = 2048      // MAX_SNAP_LEN of bpf/include/vxtap_shared.h (loader TestSharedConstants holds them equal)
)

// Action is what a rule does with the traffic it matches.
type Action uint8

const (
	Accept Action = iota // mirror (here: analyze)
	Reject               // do not mirror (here: count and drop)
)

func (a Action) String() string {
	if a == Reject {
		return "reject"
	}
	return "accept"
}

// MarshalText prints the action's name (JSON, logs).
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads accept or reject.
func (a *Action) UnmarshalText(b []byte) error {
	switch string(b) {
	case "accept":
		*a = Accept
	case "reject":
		*a = Reject
	default:
		return fmt.Errorf("action %q is neither accept nor reject", b)
	}
	return nil
}

// Direction is AWS's traffic direction relative to the source ENI.
type Direction uint8

const (
	Ingress Direction = iota // to the ENI
	Egress                   // from the ENI
)

func (d Direction) String() string {
	if d == Egress {
		return "egress"
	}
	return "ingress"
}

// MarshalText prints the direction's name.
func (d Direction) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads ingress or egress.
func (d *Direction) UnmarshalText(b []byte) error {
	switch string(b) {
	case "ingress":
		*d = Ingress
	case "egress":
		*d = Egress
	default:
		return fmt.Errorf("direction %q is neither ingress nor egress", b)
	}
	return nil
}

// AnyProtocol is Rule.Protocol when the rule has no Protocol: all of them.
const AnyProtocol = -1

// PortRange is an inclusive port range; the zero value (Set false) is every port.
type PortRange struct {
	From, To uint16
	Set      bool
}

// Contains reports whether port is in the range.
func (r PortRange) Contains(port uint16) bool {
	return !r.Set || (port >= r.From && port <= r.To)
}

// Rule is one traffic mirror filter rule.
type Rule struct {
	Number      int          // RuleNumber, 1..32766, unique per direction
	Action      Action       // accept or reject
	Protocol    int          // IANA protocol number, AnyProtocol when absent
	Src, Dst    netip.Prefix // CIDR blocks; the zero Prefix (absent) is any address of either family
	SrcPorts    PortRange    // TCP/UDP only
	DstPorts    PortRange    // TCP/UDP only
	SampleRate  uint32       // vxtap extension: 1-in-N samples of what it accepts, 0 = the session's
	Capture     bool         // vxtap extension: every packet it accepts goes to the sample stream
	NoForward   bool         // vxtap extension (forward: false): what it accepts stays out of the --decap-to feed
	Description string
	Pos         Pos // where the rule starts
}

// Filter is a traffic mirror filter: rules per direction and network services.
type Filter struct {
	ID        string
	Rules     [2][]Rule // by Direction, in file order until Build sorts them by Number
	AmazonDNS bool      // NetworkServices contains amazon-dns
	Pos       Pos
}

// Mode is how a session treats its packets.
type Mode uint8

const (
	ModeFilter  Mode = iota // evaluate the session's filter
	ModeAnalyze             // analyze everything (no filter)
	ModeReject              // drop everything
	// ModeUnknownVNI is the default session when sessions are configured
	// and no default is: a VNI no session names is not ours (dropped and
	// counted as unknown_vni).
	ModeUnknownVNI
)

func (m Mode) String() string {
	switch m {
	case ModeAnalyze:
		return "analyze"
	case ModeReject:
		return "reject"
	case ModeUnknownVNI:
		return "unknown_vni"
	}
	return "filter"
}

// Unknown is what a session does with a packet whose inner addresses are
// both foreign to its source ENI (the direction is unknown).
type Unknown uint8

const (
	UnknownAnalyze Unknown = iota // analyze it without evaluating rules
	UnknownReject                 // drop it
	UnknownIngress                // evaluate it as ingress
	UnknownEgress                 // evaluate it as egress
)

func (u Unknown) String() string {
	return [...]string{"analyze", "reject", "ingress", "egress"}[u]
}

// Session is a traffic mirror session as the appliance sees it: copies
// carrying its VNI.
type Session struct {
	VNI           uint32
	Name          string       // TrafficMirrorSessionId or a chosen name
	ENI           string       // source NetworkInterfaceId (informational)
	Addrs         []netip.Addr // source ENI addresses; none = the outer source of each copy
	Filter        string       // filter id when Mode is ModeFilter
	Mode          Mode
	Unknown       Unknown
	SampleRate    uint32 // 1-in-N samples of accepted packets, 0 = the daemon's
	SnapLen       uint32 // bytes per sample, 0 = the daemon's
	PacketLength  uint32 // AWS PacketLength (truncation at the source), informational
	SessionNumber int    // AWS SessionNumber, informational
	Pos           Pos
}

// Config is a validated set of sessions and filters.
type Config struct {
	Sessions  []*Session         // sorted by VNI
	Default   Session            // for VNIs with no session (VNI unused)
	Filters   map[string]*Filter // by id; rules sorted by Number
	Resolvers []netip.Addr       // Amazon DNS resolver addresses
	// AllowedSources are the trusted outer sources (allowed_sources):
	// mirror copies from anywhere else are dropped as unknown_source. None
	// given: every source is trusted. AWS session documents imply none.
	AllowedSources []netip.Prefix
	Warnings       []*Error // rules that can never match, and the like
	Ignored        []*Error // unknown fields of AWS CLI documents, skipped (for a debug log)
}

// DefaultResolvers are the Amazon DNS addresses every VPC has; the VPC's
// base address + 2 comes from vpc_cidrs.
var DefaultResolvers = []netip.Addr{netip.MustParseAddr("169.254.169.253"), netip.MustParseAddr("fd00:ec2::253")}

// Session returns the session of a VNI, or nil.
func (c *Config) Session(vni uint32) *Session {
	for _, s := range c.Sessions {
		if s.VNI == vni {
			return s
		}
	}
	return nil
}
