// Package topview is the logic of `vxtap top` without a terminal: group
// flows (5-tuple, source, destination, pair, destination port, VNI,
// mirror source), filter them, rank them, and render the result as a
// table or JSON. The daemon's API and the CLI share it, so both show the
// same rows for the same query.
package topview

import (
	"fmt"
	"strings"
)

// Sort is what rows are ranked by, heaviest first.
type Sort string

const (
	SortRate    Sort = "rate"    // bits/s over the last interval
	SortBytes   Sort = "bytes"   // total bytes
	SortPackets Sort = "packets" // packets/s over the last interval
)

// Sorts is the order the `s` key cycles through.
var Sorts = []Sort{SortRate, SortBytes, SortPackets}

// Group is what flows are summed by.
type Group string

const (
	GroupFlow   Group = "5tuple" // every one-way flow on its own
	GroupSrc    Group = "src"    // source IP
	GroupDst    Group = "dst"    // destination IP
	GroupPair   Group = "pair"   // the two addresses, both directions together
	GroupDPort  Group = "dport"  // protocol and destination port
	GroupVNI    Group = "vni"    // mirror session
	GroupMirror Group = "mirror" // mirror source (the source ENI)
	// GroupAppliance sums per appliance: the fleet view only (`vxtap top
	// --clickhouse`), so it is not in Groups.
	GroupAppliance Group = "appliance"
)

// Groups is the order the `g` key cycles through.
var Groups = []Group{GroupFlow, GroupSrc, GroupDst, GroupPair, GroupDPort, GroupVNI, GroupMirror}

var groupNames = map[Group]string{GroupFlow: "5-tuple", GroupSrc: "source IP", GroupDst: "destination IP",
	GroupPair: "pair", GroupDPort: "destination port", GroupVNI: "VNI", GroupMirror: "mirror source", GroupAppliance: "appliance"}

// Title is the group's name for people.
func (g Group) Title() string { return groupNames[g] }

var groupAliases = map[string]Group{
	"5tuple": GroupFlow, "5-tuple": GroupFlow, "flow": GroupFlow, "flows": GroupFlow,
	"src": GroupSrc, "source": GroupSrc, "src-ip": GroupSrc, "srcip": GroupSrc,
	"dst": GroupDst, "destination": GroupDst, "dst-ip": GroupDst, "dstip": GroupDst,
	"pair": GroupPair, "conversation": GroupPair,
	"dport": GroupDPort, "port": GroupDPort, "dst-port": GroupDPort, "destination-port": GroupDPort,
	"vni": GroupVNI, "session": GroupVNI,
	"mirror": GroupMirror, "mirror-source": GroupMirror, "eni": GroupMirror,
}

// ParseGroup reads a grouping by its name or a common alias.
func ParseGroup(s string) (Group, error) {
	if g, ok := groupAliases[strings.ToLower(strings.TrimSpace(s))]; ok {
		return g, nil
	}
	return "", fmt.Errorf("unknown grouping %q: want one of %s", s, join(Groups))
}

// ParseSort reads a sort order.
func ParseSort(s string) (Sort, error) {
	for _, o := range Sorts {
		if strings.EqualFold(strings.TrimSpace(s), string(o)) {
			return o, nil
		}
	}
	return "", fmt.Errorf("unknown sort %q: want one of %s", s, join(Sorts))
}

// Next returns the element after cur in list (backwards with back),
// wrapping around: what the s/S and g/G keys do.
func Next[T comparable](list []T, cur T, back bool) T {
	for i, v := range list {
		if v == cur {
			if back {
				return list[(i+len(list)-1)%len(list)]
			}
			return list[(i+1)%len(list)]
		}
	}
	return list[0]
}

func join[T ~string](list []T) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// Query is one view: filter, group, rank, keep the first N rows.
type Query struct {
	Sort   Sort
	Group  Group
	Filter Filter
	N      int // rows to keep; 0 (or past MaxRows) = MaxRows
}

// DefaultQuery is what `vxtap top` starts with.
func DefaultQuery() Query { return Query{Sort: SortRate, Group: GroupFlow, N: 20} }
