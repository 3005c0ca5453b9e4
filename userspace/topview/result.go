package topview

import (
	"net/netip"
	"time"
)

// Result is one refresh of the view: what `vxtap top --json` prints and
// what GET /v1/top returns.
type Result struct {
	At     time.Time `json:"at"`               // when the sweep walked the flow table
	Iface  string    `json:"iface,omitempty"`  // mirror target interface
	Source string    `json:"source,omitempty"` // "daemon", or "pinned" when read from pinned maps
	Note   string    `json:"note,omitempty"`   // for people, e.g. that no daemon runs
	Sort   Sort      `json:"sort"`
	Group  Group     `json:"group"`
	Filter string    `json:"filter,omitempty"`
	N      int       `json:"n"` // rows kept at most (n capped at MaxRows)
	Header Header    `json:"header"`
	Rows   []Row     `json:"rows"`
}

// Header sums the whole table, whatever the filter, plus what matched.
type Header struct {
	IntervalSeconds     float64 `json:"interval_seconds"` // between the last two sweeps; 0 = rates not known yet
	Flows               int     `json:"flows"`            // in the table
	Packets             uint64  `json:"packets"`          // totals the table holds
	Bytes               uint64  `json:"bytes"`
	PacketsPerSecond    float64 `json:"packets_per_second"`
	BitsPerSecond       float64 `json:"bits_per_second"`
	AvgPacketsPerSecond float64 `json:"avg_packets_per_second"` // smoothed
	AvgBitsPerSecond    float64 `json:"avg_bits_per_second"`

	Matched                 int     `json:"matched"` // flows passing the filter
	MatchedPacketsPerSecond float64 `json:"matched_packets_per_second"`
	MatchedBitsPerSecond    float64 `json:"matched_bits_per_second"`
	Groups                  int     `json:"groups"` // rows before the cut to N

	Datapath *Datapath `json:"datapath,omitempty"` // absent when the counters could not be read
}

// Datapath is what the XDP program counted, beyond the flows.
type Datapath struct {
	MirrorPackets          uint64  `json:"mirror_packets"` // mirror copies seen
	MirrorPacketsPerSecond float64 `json:"mirror_packets_per_second"`
	Drops                  uint64  `json:"drops"` // copies that could not be accounted (malformed, cut short, table full)
	DropsPerSecond         float64 `json:"drops_per_second"`
	RingLost               uint64  `json:"ring_lost"` // ring buffer records lost
}

// Row is a flow or a group of flows. A key field is left out (and shown
// as "*") when the group's flows differ in it.
type Row struct {
	VNI          *uint32    `json:"vni,omitempty"`
	Session      string     `json:"session,omitempty"` // the VNI's mirror session, when configured
	MirrorSource netip.Addr `json:"mirror_source,omitzero"`
	Src          netip.Addr `json:"src,omitzero"`
	Dst          netip.Addr `json:"dst,omitzero"`
	Proto        *uint8     `json:"proto,omitempty"`
	SPort        *uint16    `json:"sport,omitempty"`
	DPort        *uint16    `json:"dport,omitempty"`
	Direction    string     `json:"direction"` // "-" while unknown
	Flows        int        `json:"flows"`
	// Appliances that saw the row's flows: set by the fleet view (`vxtap
	// top --clickhouse`), empty for one appliance's own view.
	Appliances []string `json:"appliances,omitempty"`

	PacketsPerSecond    float64 `json:"packets_per_second"`
	BitsPerSecond       float64 `json:"bits_per_second"`
	AvgPacketsPerSecond float64 `json:"avg_packets_per_second"`
	AvgBitsPerSecond    float64 `json:"avg_bits_per_second"`
	Packets             uint64  `json:"packets"`
	Bytes               uint64  `json:"bytes"`
}
