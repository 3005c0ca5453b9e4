package flow

import (
	"net/netip"
	"time"
)

// End reasons of a flow record.
const (
	EndIdle     = "idle"     // no packet for the idle timeout
	EndActive   = "active"   // still running at the active timeout: more records follow
	EndTCP      = "tcp_end"  // TCP FIN or RST seen, then quiet
	EndShutdown = "shutdown" // vxtap stopped (or the capture ended)
	EndEvicted  = "evicted"  // removed early, idlest first, to keep room in a nearly full table
	EndOverflow = "overflow" // packets of flows that found no slot in a full table, folded into a coarser aggregate
)

// Record is one exported flow record. Packets and bytes count what came
// since the flow's previous record (deltas, as IPFIX does), so summing the
// records of a flow never double-counts.
type Record struct {
	VNI          uint32     `json:"vni"`
	MirrorSource netip.Addr `json:"mirror_source"`
	Direction    Direction  `json:"direction,omitempty"` // seen from the source ENI; left out while unknown
	Src          netip.Addr `json:"src"`
	Dst          netip.Addr `json:"dst"`
	Proto        uint8      `json:"proto"`
	SPort        uint16     `json:"sport"`
	DPort        uint16     `json:"dport"`
	Packets      uint64     `json:"packets"`
	Bytes        uint64     `json:"bytes"`
	First        time.Time  `json:"first"`
	Last         time.Time  `json:"last"`
	TCPFlags     uint8      `json:"tcp_flags"`
	EndReason    string     `json:"end_reason"`
	// Enrichment from the configured mirror sessions (empty when unknown).
	Session   string `json:"session,omitempty"`   // mirror session name; "-" = a VNI with no configured session (enrich.NoSession), "" = not enriched (vxtap analyze)
	ENI       string `json:"eni,omitempty"`       // source ENI id (NetworkInterfaceId)
	Rule      uint32 `json:"rule,omitempty"`      // RuleNumber of the filter rule that accepted the flow, 0 = none decided
	Truncated bool   `json:"truncated,omitempty"` // some copies were cut short by the session's PacketLength
	// The flow's totals up to and including this record: what the restart
	// ledger holds once the record is stored. A restart after a crash
	// reconciles the ledger from them (0 when unknown).
	TotalPackets uint64 `json:"total_packets,omitempty"`
	TotalBytes   uint64 `json:"total_bytes,omitempty"`
}

// Key is the record's flow key.
func (r Record) Key() Key {
	return Key{VNI: r.VNI, Src: r.Src, Dst: r.Dst, Proto: r.Proto, SPort: r.SPort, DPort: r.DPort}
}
