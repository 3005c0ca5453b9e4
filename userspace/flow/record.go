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
}

// Key is the record's flow key.
func (r Record) Key() Key {
	return Key{VNI: r.VNI, Src: r.Src, Dst: r.Dst, Proto: r.Proto, SPort: r.SPort, DPort: r.DPort}
}
