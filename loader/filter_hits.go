package loader

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/filter"
)

// Kinds of hit counters.
const (
	HitRule           = "rule"            // one filter rule
	HitNoMatch        = "no-match"        // a ruleset's packets no rule matched (rejected)
	HitNetworkService = "network-service" // a ruleset's Amazon DNS packets
	HitSession        = "session"         // a session's packets decided without rules
)

// RuleHit is one hit counter of a rule set: packets and inner IP bytes,
// CPUs summed. Counters start at zero when a rule set is applied.
type RuleHit struct {
	Kind    string           `json:"kind"`
	Filter  string           `json:"filter,omitempty"`  // kinds rule, no-match, network-service
	Dir     filter.Direction `json:"direction"`         // kinds rule, no-match, network-service
	Rule    int              `json:"rule,omitempty"`    // RuleNumber, kind rule
	Action  filter.Action    `json:"action"`            // what the counted packets got
	VNI     uint32           `json:"vni,omitempty"`     // kind session
	Default bool             `json:"default,omitempty"` // kind session: the default session
	Slot    uint32           `json:"slot"`              // rule_hits index
	Packets uint64           `json:"packets"`
	Bytes   uint64           `json:"bytes"` // inner IP bytes
}

// HitCounts reads the active rule set's counters.
func (f *FilterMaps) HitCounts() ([]RuleHit, error) {
	gen, err := f.ActiveGen()
	if err != nil {
		return nil, err
	}
	return f.hitsOf(gen)
}

// hitsOf reads one generation's counters, rulesets then sessions.
func (f *FilterMaps) hitsOf(gen uint32) ([]RuleHit, error) {
	var out []RuleHit
	for i := uint32(0); i < f.Rulesets.MaxEntries()/filterGens; i++ {
		var m VxtapFilterRulesetMeta
		if err := f.Rulesets.Lookup(filterTable(i, gen), &m); err != nil {
			return nil, fmt.Errorf("read filter_rulesets: %w", err)
		}
		if m.Valid == 0 {
			continue
		}
		name := make([]byte, 0, len(m.Filter))
		for _, c := range m.Filter {
			name = append(name, byte(c))
		}
		name, _, _ = bytes.Cut(name, []byte{0})
		for slot := m.RuleBase; slot < m.RuleBase+m.Nrules+2; slot++ {
			var r VxtapFilterRule
			if err := f.Rules.Lookup(slot, &r); err != nil {
				return nil, fmt.Errorf("read filter_rules: %w", err)
			}
			h := RuleHit{Filter: string(name), Dir: filter.Direction(m.Dir), Slot: slot, Action: filter.Action(r.Action)}
			switch VxtapFilterSlotKind(r.Kind) {
			case VxtapFilterSlotKindFILTER_SLOT_RULE:
				h.Kind, h.Rule = HitRule, int(r.Number)
			case VxtapFilterSlotKindFILTER_SLOT_NO_MATCH:
				h.Kind = HitNoMatch
			default:
				h.Kind = HitNetworkService
				if m.AmazonDns == 0 {
					h.Action = filter.Reject
				}
			}
			if err := f.count(&h); err != nil {
				return nil, err
			}
			out = append(out, h)
		}
	}
	var k VxtapFilterSessionKey
	var prev any
	for {
		err := f.Sessions.NextKey(prev, &k)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("walk filter_sessions: %w", err)
		}
		prev = k
		if k.Gen != gen {
			continue
		}
		var s VxtapFilterSession
		if err := f.Sessions.Lookup(k, &s); err != nil {
			return nil, fmt.Errorf("read filter_sessions: %w", err)
		}
		h := RuleHit{Kind: HitSession, VNI: k.Vni, Default: k.Vni == uint32(VxtapFilterConstFILTER_DEFAULT_VNI), Slot: s.Slot}
		if s.Mode == uint8(filter.ModeReject) {
			h.Action = filter.Reject
		}
		if err := f.count(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// count reads a slot's counters, CPUs summed.
func (f *FilterMaps) count(h *RuleHit) error {
	var per []VxtapCounter
	if err := f.Hits.Lookup(h.Slot, &per); err != nil {
		return fmt.Errorf("read rule_hits: %w", err)
	}
	for _, c := range per {
		h.Packets += c.Packets
		h.Bytes += c.Bytes
	}
	return nil
}
