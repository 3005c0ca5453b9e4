package filter

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// The AWS CLI documents are read verbatim: every key the EC2 API documents
// for these shapes is accepted (the ones vxtap has no use for, such as Tags
// or OwnerId, are ignored). Any other key is ignored too, and noted
// (Config.Ignored, logged at debug level): AWS adds fields over time, and a
// document the CLI printed must keep loading.
var (
	awsFilterKeys  = []string{"TrafficMirrorFilterId", "IngressFilterRules", "EgressFilterRules", "NetworkServices", "Description", "Tags"}
	awsRuleKeys    = []string{"TrafficMirrorFilterRuleId", "TrafficMirrorFilterId", "TrafficDirection", "RuleNumber", "RuleAction", "Protocol", "DestinationPortRange", "SourcePortRange", "DestinationCidrBlock", "SourceCidrBlock", "Description", "Tags"}
	awsPortKeys    = []string{"FromPort", "ToPort"}
	awsSessionKeys = []string{"TrafficMirrorSessionId", "TrafficMirrorTargetId", "TrafficMirrorFilterId", "NetworkInterfaceId", "OwnerId", "PacketLength", "SessionNumber", "VirtualNetworkId", "Description", "Tags"}
)

// awsFilter reads one element of TrafficMirrorFilters.
func (b *Builder) awsFilter(r *reader, n *yaml.Node) {
	id := ruleNumberOf(n, "TrafficMirrorFilterId")
	ctx := fmt.Sprintf("filter %q", id)
	f := &Filter{ID: id, Pos: r.pos(n)}
	nerr := len(r.errs)
	var rules [2]*yaml.Node
	for _, g := range r.awsFields(n, ctx, awsFilterKeys) {
		switch g.key.Value {
		case "TrafficMirrorFilterId":
			r.str(g.val, ctx, "TrafficMirrorFilterId")
		case "IngressFilterRules":
			rules[Ingress] = g.val
		case "EgressFilterRules":
			rules[Egress] = g.val
		case "NetworkServices":
			b.networkServices(r, g.val, ctx, f)
		}
	}
	if id == "?" {
		r.errorf(n, "", "filter without TrafficMirrorFilterId")
		return
	}
	for dir, list := range rules {
		if list == nil {
			continue
		}
		for _, rn := range r.seq(list, ctx+" "+Direction(dir).String()) {
			if rule, ok := b.awsRule(r, rn, id, Direction(dir)); ok {
				f.Rules[dir] = append(f.Rules[dir], rule)
			}
		}
	}
	if len(r.errs) == nerr {
		b.addFilter(r, n, f)
	} else {
		b.broken[id] = true // its errors are reported; its sessions need not say it is missing
	}
}

// awsFields is r.fields for an AWS shape: keys outside known are skipped
// and noted instead of refused.
func (r *reader) awsFields(n *yaml.Node, ctx string, known []string) []field {
	all := r.fields(n, ctx, nil)
	out := all[:0]
	for _, f := range all {
		if !contains(known, f.key.Value) {
			r.ignored = append(r.ignored, &Error{Pos: r.pos(f.key), Context: ctx, Msg: fmt.Sprintf("unknown field %q ignored", f.key.Value)})
			continue
		}
		out = append(out, f)
	}
	return out
}

// awsRule reads one TrafficMirrorFilterRule.
func (b *Builder) awsRule(r *reader, n *yaml.Node, filter string, dir Direction) (Rule, bool) {
	ctx := fmt.Sprintf("filter %q %s rule %s", filter, dir, ruleNumberOf(n, "RuleNumber"))
	rule := Rule{Protocol: AnyProtocol, Pos: r.pos(n)}
	nerr := len(r.errs)
	var parts ruleParts
	haveNumber, haveAction := false, false
	for _, f := range r.awsFields(n, ctx, awsRuleKeys) {
		switch f.key.Value {
		case "RuleNumber":
			v, ok := r.integer(f.val, ctx, "RuleNumber", 1, MaxRuleNumber)
			rule.Number, haveNumber = int(v), ok
		case "RuleAction":
			a, ok := r.oneOf(f.val, ctx, "RuleAction", "accept", "reject")
			rule.Action, haveAction = Action(a), ok
		case "Protocol":
			v, ok := r.integer(f.val, ctx, "Protocol", 0, 255)
			if ok {
				rule.Protocol = int(v)
			}
			parts.proto = f.val
		case "SourceCidrBlock":
			rule.Src, _ = r.prefix(f.val, ctx, "SourceCidrBlock", b.warner(r))
			parts.src = f.val
		case "DestinationCidrBlock":
			rule.Dst, _ = r.prefix(f.val, ctx, "DestinationCidrBlock", b.warner(r))
			parts.dst = f.val
		case "SourcePortRange":
			rule.SrcPorts = awsPorts(r, f.val, ctx, "SourcePortRange")
			parts.sports = f.val
		case "DestinationPortRange":
			rule.DstPorts = awsPorts(r, f.val, ctx, "DestinationPortRange")
			parts.dports = f.val
		case "TrafficDirection":
			if d, ok := r.oneOf(f.val, ctx, "TrafficDirection", "ingress", "egress"); ok && Direction(d) != dir {
				r.errorf(f.val, ctx, "TrafficDirection %q in the %s rules", f.val.Value, dir)
			}
		case "Description":
			rule.Description, _ = r.str(f.val, ctx, "Description")
		case "TrafficMirrorFilterId":
			if id, ok := r.str(f.val, ctx, "TrafficMirrorFilterId"); ok && id != filter {
				r.errorf(f.val, ctx, "TrafficMirrorFilterId %q inside filter %q", id, filter)
			}
		}
	}
	if !haveNumber && len(r.errs) == nerr {
		r.errorf(n, ctx, "missing RuleNumber")
	}
	if !haveAction && len(r.errs) == nerr {
		r.errorf(n, ctx, "missing RuleAction (accept or reject)")
	}
	b.checkRule(r, &rule, ctx, parts)
	return rule, len(r.errs) == nerr
}

// awsPorts reads a TrafficMirrorPortRange {FromPort, ToPort}.
func awsPorts(r *reader, n *yaml.Node, ctx, name string) PortRange {
	var pr PortRange
	have := 0
	for _, f := range r.awsFields(n, ctx, awsPortKeys) {
		v, ok := r.integer(f.val, ctx, name+"."+f.key.Value, 0, 65535)
		if !ok {
			return PortRange{}
		}
		if f.key.Value == "FromPort" {
			pr.From = uint16(v)
		} else {
			pr.To = uint16(v)
		}
		have++
	}
	if have != 2 {
		if n.Kind == yaml.MappingNode {
			r.errorf(n, ctx, "%s needs both FromPort and ToPort", name)
		}
		return PortRange{}
	}
	pr.Set = true
	return pr
}

// awsSession reads one element of TrafficMirrorSessions. Its direction is
// told by the copy's outer source, the source ENI's primary address.
func (b *Builder) awsSession(r *reader, n *yaml.Node) {
	id := ruleNumberOf(n, "TrafficMirrorSessionId")
	ctx := fmt.Sprintf("session %q", id)
	s := &Session{Name: id, Pos: r.pos(n)}
	nerr := len(r.errs)
	haveVNI := false
	for _, f := range r.awsFields(n, ctx, awsSessionKeys) {
		switch f.key.Value {
		case "VirtualNetworkId":
			v, ok := r.integer(f.val, ctx, "VirtualNetworkId", 0, MaxVNI)
			s.VNI, haveVNI = uint32(v), ok
		case "TrafficMirrorFilterId":
			s.Filter, _ = r.str(f.val, ctx, "TrafficMirrorFilterId")
		case "NetworkInterfaceId":
			s.ENI, _ = r.str(f.val, ctx, "NetworkInterfaceId")
		case "PacketLength":
			v, _ := r.integer(f.val, ctx, "PacketLength", 1, 65535)
			s.PacketLength = uint32(v)
		case "SessionNumber":
			v, _ := r.integer(f.val, ctx, "SessionNumber", 1, 32766)
			s.SessionNumber = int(v)
		}
	}
	if !haveVNI && len(r.errs) == nerr {
		r.errorf(n, ctx, "missing VirtualNetworkId")
	}
	if s.Filter == "" && len(r.errs) == nerr {
		r.errorf(n, ctx, "missing TrafficMirrorFilterId")
	}
	if len(r.errs) == nerr {
		b.sessions = append(b.sessions, s)
	}
}
