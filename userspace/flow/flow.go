// Package flow holds vxtap's view of the data path in plain Go types: the
// one-way inner flow key, its counters, the ring buffer records, and the
// narrow interfaces the aggregator reads them through. Nothing here knows
// about BPF, so the aggregator can be tested with in-memory fakes.
package flow

import (
	"fmt"
	"net/netip"
	"time"
)

// Key identifies a one-way inner flow of one mirror session.
type Key struct {
	VNI   uint32
	Src   netip.Addr
	Dst   netip.Addr
	Proto uint8
	SPort uint16 // 0 for non-TCP/UDP and for later fragments
	DPort uint16
}

func (k Key) String() string {
	return fmt.Sprintf("vni %d %s:%d -> %s:%d proto %d", k.VNI, k.Src, k.SPort, k.Dst, k.DPort, k.Proto)
}

// Direction is a flow seen from its mirror source ENI, as the data path
// found it when the flow was created: the session's ENI addresses, else
// the outer source of the copy (the ENI's primary address).
type Direction uint8

// Directions; the values are enum flow_dir's.
const (
	DirUnknown Direction = 0 // neither inner address is the ENI's
	DirIngress Direction = 1 // the inner destination is the ENI
	DirEgress  Direction = 2 // the inner source is the ENI
)

// String is "ingress", "egress" or "" while unknown.
func (d Direction) String() string {
	switch d {
	case DirIngress:
		return "ingress"
	case DirEgress:
		return "egress"
	}
	return ""
}

// MarshalText writes the name, so JSON carries "ingress" or "egress".
func (d Direction) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (d *Direction) UnmarshalText(b []byte) error {
	switch string(b) {
	case "ingress":
		*d = DirIngress
	case "egress":
		*d = DirEgress
	case "", "unknown", "-":
		*d = DirUnknown
	default:
		return fmt.Errorf("direction %q: want ingress, egress or unknown", b)
	}
	return nil
}

// Counters are a flow's totals as the data path holds them, CPUs merged.
type Counters struct {
	Packets      uint64
	Bytes        uint64 // sum of inner IP lengths as the inner headers state them
	First        time.Time
	Last         time.Time
	TCPFlags     uint8
	EndSeen      bool       // a TCP FIN or RST was seen
	MirrorSource netip.Addr // outer source of the copies: the source ENI
	Direction    Direction  // seen from the source ENI
	Rule         uint32     // RuleNumber of the filter rule that accepted the flow's first packet, 0 = none decided
	Truncated    bool       // a copy of the flow was cut short by the session's PacketLength
}

// EventType tells flow-start from flow-end records.
type EventType uint8

const (
	FlowStart EventType = 1 // first packet of a flow
	FlowEnd   EventType = 2 // TCP FIN or RST seen
	ThreatHit EventType = 5 // a flow's first packet to or from a threat-listed address (Threat says which side)
)

// Event is a flow-start, flow-end or threat-hit record from the ring buffer.
type Event struct {
	Type         EventType
	Threat       ThreatMatch // ThreatHit only
	Time         time.Time
	Key          Key
	TCPFlags     uint8
	MirrorSource netip.Addr
}

// ThreatMatch is which inner addresses of a ThreatHit are listed: the id
// of the list each one's longest listed prefix is on, 0 = not listed.
type ThreatMatch struct {
	SrcList uint16
	DstList uint16
	First   bool // the packet that hit started the flow (its flags are the flow's first)
}

// ThreatEntry is one listed prefix and the list it is on (ids from 1).
type ThreatEntry struct {
	Prefix netip.Prefix
	List   uint16
}

// ThreatTable is the data path's threat trie: every accounted copy is
// checked against it, and a flow's first hit comes back as a ThreatHit.
type ThreatTable interface {
	// SetThreats makes entries the listed prefixes; a prefix in both the
	// old and the new set is never missing meanwhile.
	SetThreats(entries []ThreatEntry) error
	// ThreatCapacity is how many prefixes the table holds.
	ThreatCapacity() int
}

// Sample is a sampled inner frame from the ring buffer.
type Sample struct {
	VNI     uint32
	Time    time.Time
	OrigLen uint32 // inner frame length as the mirror delivered it
	Rule    uint32 // filter rule that asked for it, 0 = rate sampling
	Data    []byte // up to the snap length of the inner frame
	// Live captures (vxtap capture): bit i set when capture slot i asked
	// for this copy, with slot i's generation when it was sent; 0 for the
	// rate and rule samples of the sample sinks.
	Captures     uint8
	CaptureGens  [8]uint8
	MirrorSource netip.Addr // the mirror source, when the record carries it
}

// Counter is one named data path counter, CPUs merged.
type Counter struct {
	Name    string
	Class   CounterClass // what it says about its packets: decide by this, never by Name
	Packets uint64
	Bytes   uint64
}

// CounterClass is what a data path counter says about its packets. The
// loader takes it from the class boundaries of the C enums.
type CounterClass uint8

// Counter classes; 0 is unknown.
const (
	ClassAccounted CounterClass = iota + 1 // reason: a mirror copy read on purpose (flow, overflow aggregate, non-IP, rejected by a rule)
	ClassPassed                            // reason: not mirror traffic, passed to the kernel
	ClassRefused                           // reason: a copy from an untrusted outer source or VNI, dropped unread
	ClassMalformed                         // reason: cut short or invalid
	ClassLost                              // reason: a copy that could not be accounted; flag: a ring buffer record lost
	ClassShape                             // flag: what a copy looked like (truncated, VLAN, GENEVE, ...)
	ClassEvent                             // flag: what the data path sent (flow start and end, samples, wakeups)
	ClassDecap                             // flag: an accounted copy the decapsulated feed (--decap-to) did not deliver (not selected, no interface, jumbo, refused)
)

// Mirror says whether the packets of a reason were mirror copies (or
// frames too broken to tell): every class but passed.
func (c CounterClass) Mirror() bool { return c != ClassPassed }

// FlowSource is the flow table.
type FlowSource interface {
	// Walk calls fn for every flow in the table.
	Walk(fn func(Key, Counters)) error
	// Remove deletes the flows and returns the counters each held when it
	// went (a flow already gone is left out of the result).
	Remove(keys []Key) (map[Key]Counters, error)
}

// ClockBaser is a flow table whose times are the data path's clock plus a
// base it reads anew (loader: wall minus monotonic, following a stepped
// wall clock).
type ClockBaser interface {
	// ClockBase is what the table adds to the data path's clock now, in ns.
	ClockBase() int64
}

// Detacher is a flow table that removes flows in steps, so the packets a
// flow gained after the walk its last record came from are never only in
// the daemon's memory, and its ledger entry never outlives it: Detach
// takes the flows out (no packet adds to them, no walk shows them, a new
// flow with the same key gets a new entry) and returns their final
// counters, but keeps them where the next start's recovery finds them
// (loader RecoverSlots puts them back); once the records of those last
// packets are stored, Settle marks them wholly recorded (a restart then
// forgets their ledger entries and frees them), the ledger entries are
// forgotten, and Release frees them.
type Detacher interface {
	Detach(keys []Key) (map[Key]Counters, error)
	// Settle marks detached flows wholly recorded (keys not held are ignored).
	Settle(keys []Key) error
	// Release frees detached flows (keys not held are ignored).
	Release(keys []Key) error
}

// EventSource is the ring buffer.
type EventSource interface {
	// Read waits until records are queued or the deadline passes, then
	// hands every queued record to onEvent or onSample. It returns how many
	// records it read; a passed deadline is not an error.
	Read(deadline time.Time, onEvent func(Event), onSample func(Sample)) (int, error)
}

// CounterSource is the named counter table.
type CounterSource interface {
	// Counters returns the terminal reasons first, then the flags, in the
	// data path's own order.
	Counters() (reasons, flags []Counter, err error)
}

// Offender is an outer source whose mirror-shaped copies the data path
// refused: from outside allowed_sources (reason unknown_source), or with a
// VNI no session names (unknown_vni).
type Offender struct {
	Source  netip.Addr
	Reason  string
	Packets uint64
	Bytes   uint64 // frame bytes
}

// OffenderSource lists the busiest refused outer sources.
type OffenderSource interface {
	// Offenders returns the n busiest by packets (every one kept when n <= 0).
	Offenders(n int) ([]Offender, error)
}

// OverflowLevel says how coarse an overflow aggregate is.
type OverflowLevel uint8

const (
	OverflowByDest OverflowLevel = iota // by VNI, inner destination, protocol and destination port
	OverflowByVNI                       // by VNI alone (the finer table was full)
	OverflowAll                         // one catch-all (both tables were full)
)

// Overflow is one coarse aggregate: copies of flows that found no slot
// in a full flow table. Key carries what the level keeps (VNI, Dst, Proto,
// DPort for OverflowByDest; VNI for OverflowByVNI; nothing for
// OverflowAll); Src is the unspecified address of the family, ports not
// kept are 0. Counters are its totals since it was created.
type Overflow struct {
	OverflowID
	Counters Counters
}

// OverflowID names an aggregate: the data path adds to one of two halves
// at a time, so the same level and key may exist once in each.
type OverflowID struct {
	Half  uint8
	Level OverflowLevel
	Key   Key
}

// OverflowSource is a flow table that folds copies it had no slot for
// into coarser aggregates, in two halves: the data path adds to one while
// the other is settled (no packet adds to it any more). The aggregator
// emits the settled aggregates as records with end reason EndOverflow and
// removes them only once their records are stored, so a fault at any step
// neither loses nor repeats a packet.
type OverflowSource interface {
	// SettledOverflow returns the half no packet adds to any more and its
	// aggregates, whose totals are final.
	SettledOverflow() (half uint8, aggs []Overflow, err error)
	// TurnOverflow makes the data path add to the settled half and settles
	// the other, when the settled half is empty and the other has counts;
	// false when it did not turn.
	TurnOverflow() (bool, error)
	// RemoveOverflow deletes settled aggregates (their records are stored).
	RemoveOverflow(ids []OverflowID) error
}
