package filter

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// vxtap's own YAML format:
//
//	sessions:                 # VNI -> session
//	  42:
//	    name: web-1
//	    eni: eni-0123456789abcdef0
//	    addresses: [10.0.1.10, "2001:db8:1::10"]   # absent: the copy's outer source
//	    filter: web-tier      # or action: analyze | reject
//	    unknown_direction: analyze                 # analyze | reject | ingress | egress
//	    sample_rate: 100
//	    snap_len: 256
//	default:                  # VNIs without a session (default: action: analyze)
//	  action: analyze
//	filters:
//	  web-tier:
//	    network_services: [amazon-dns]
//	    ingress:
//	      - {rule: 100, action: reject, protocol: tcp, source: 10.20.0.0/16, destination_ports: 22}
//	      - {rule: 200, action: accept, protocol: 6, capture: true}
//	      - {rule: 300, action: accept, protocol: 17, forward: false}  # not to --decap-to
//	    egress:
//	      - {rule: 100, action: accept, sample_rate: 10}
//	amazon_dns: [169.254.169.253, "fd00:ec2::253"]  # resolver addresses (these are the default)
//	vpc_cidrs: [10.0.0.0/16]  # adds each VPC's base + 2 resolver
//
// Absent keys mean "any", as in the AWS CLI output.

var (
	sessionKeys = []string{"name", "eni", "addresses", "filter", "action", "unknown_direction", "sample_rate", "snap_len", "description"}
	defaultKeys = []string{"filter", "action", "unknown_direction", "sample_rate", "snap_len"}
	filterKeys  = []string{"description", "network_services", "ingress", "egress"}
	ruleKeys    = []string{"rule", "action", "protocol", "source", "destination", "source_ports", "destination_ports", "sample_rate", "capture", "forward", "description"}
)

// protocolNames are the protocol names accepted besides IANA numbers.
var protocolNames = map[string]int{"all": AnyProtocol, "any": AnyProtocol, "icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "sctp": 132}

func (b *Builder) yamlSessions(r *reader, n *yaml.Node) {
	for _, f := range r.fields(n, "sessions", nil) {
		vni, ok := r.integer(f.key, "sessions", "VNI", 0, MaxVNI)
		if !ok {
			continue
		}
		s := &Session{VNI: uint32(vni), Pos: r.pos(f.key)}
		if b.yamlSession(r, f.val, s, fmt.Sprintf("session %d", vni), sessionKeys) {
			b.sessions = append(b.sessions, s)
		}
	}
}

func (b *Builder) yamlDefault(r *reader, k, n *yaml.Node) {
	s := &Session{Pos: r.pos(k), Mode: ModeAnalyze}
	if b.yamlSession(r, n, s, "default session", defaultKeys) {
		b.def = s
	}
}

// yamlSession reads the fields a session and the default session share.
func (b *Builder) yamlSession(r *reader, n *yaml.Node, s *Session, ctx string, keys []string) bool {
	nerr := len(r.errs)
	var action *yaml.Node
	for _, f := range r.fields(n, ctx, keys) {
		switch f.key.Value {
		case "name":
			s.Name, _ = r.str(f.val, ctx, "name")
			if s.Name == "-" { // records of VNIs without a session say "-"
				r.errorf(f.val, ctx, "name %q is reserved for VNIs with no session", s.Name)
			}
		case "eni":
			s.ENI, _ = r.str(f.val, ctx, "eni")
		case "description":
			r.str(f.val, ctx, "description")
		case "addresses":
			for _, a := range r.seq(f.val, ctx) {
				if ip, ok := r.addr(a, ctx, "addresses"); ok {
					s.Addrs = append(s.Addrs, ip)
				}
			}
		case "filter":
			s.Filter, _ = r.str(f.val, ctx, "filter")
			s.Mode = ModeFilter
		case "action":
			action = f.val
		case "unknown_direction":
			u, _ := r.oneOf(f.val, ctx, "unknown_direction", "analyze", "reject", "ingress", "egress")
			s.Unknown = Unknown(u)
		case "sample_rate":
			v, _ := r.integer(f.val, ctx, "sample_rate", 0, 1<<32-1)
			s.SampleRate = uint32(v)
		case "snap_len":
			v, _ := r.integer(f.val, ctx, "snap_len", 1, MaxSnapLen)
			s.SnapLen = uint32(v)
		}
	}
	switch {
	case action != nil && s.Filter != "":
		r.errorf(action, ctx, "give a filter or an action, not both")
	case action != nil:
		if a, ok := r.oneOf(action, ctx, "action", "analyze", "reject"); ok {
			s.Mode = []Mode{ModeAnalyze, ModeReject}[a]
		}
	case s.Filter == "" && s.Mode == ModeFilter:
		r.errorf(n, ctx, "needs a filter or an action (analyze or reject)")
	}
	return len(r.errs) == nerr
}

func (b *Builder) yamlFilters(r *reader, n *yaml.Node) {
	for _, f := range r.fields(n, "filters", nil) {
		id, ok := r.str(f.key, "filters", "filter id")
		if !ok {
			continue
		}
		ctx := fmt.Sprintf("filter %q", id)
		flt := &Filter{ID: id, Pos: r.pos(f.key)}
		for _, g := range r.fields(f.val, ctx, filterKeys) {
			switch g.key.Value {
			case "description":
				r.str(g.val, ctx, "description")
			case "network_services":
				b.networkServices(r, g.val, ctx, flt)
			case "ingress", "egress":
				dir := Ingress
				if g.key.Value == "egress" {
					dir = Egress
				}
				for _, rn := range r.seq(g.val, ctx+" "+dir.String()) {
					if rule, ok := b.yamlRule(r, rn, id, dir); ok {
						flt.Rules[dir] = append(flt.Rules[dir], rule)
					}
				}
			}
		}
		b.addFilter(r, f.key, flt)
	}
}

// networkServices reads a NetworkServices list: only amazon-dns exists.
func (b *Builder) networkServices(r *reader, n *yaml.Node, ctx string, f *Filter) {
	for _, s := range r.seq(n, ctx) {
		if _, ok := r.oneOf(s, ctx, "network service", "amazon-dns"); ok {
			f.AmazonDNS = true
		}
	}
}

// ruleNumberOf finds a rule's number before reading the rest, so every
// message about the rule can name it.
func ruleNumberOf(n *yaml.Node, key string) string {
	if n.Kind != yaml.MappingNode {
		return "?"
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return "?"
}

func (b *Builder) yamlRule(r *reader, n *yaml.Node, filter string, dir Direction) (Rule, bool) {
	ctx := fmt.Sprintf("filter %q %s rule %s", filter, dir, ruleNumberOf(n, "rule"))
	rule := Rule{Protocol: AnyProtocol, Pos: r.pos(n)}
	nerr := len(r.errs)
	var parts ruleParts
	haveNumber, haveAction := false, false
	for _, f := range r.fields(n, ctx, ruleKeys) {
		switch f.key.Value {
		case "rule":
			v, ok := r.integer(f.val, ctx, "rule", 1, MaxRuleNumber)
			rule.Number, haveNumber = int(v), ok
		case "action":
			a, ok := r.oneOf(f.val, ctx, "action", "accept", "reject")
			rule.Action, haveAction = Action(a), ok
		case "protocol":
			rule.Protocol, _ = protocol(r, f.val, ctx)
			parts.proto = f.val
		case "source":
			rule.Src, _ = r.prefix(f.val, ctx, "source", b.warner(r))
			parts.src = f.val
		case "destination":
			rule.Dst, _ = r.prefix(f.val, ctx, "destination", b.warner(r))
			parts.dst = f.val
		case "source_ports":
			rule.SrcPorts = ports(r, f.val, ctx, "source_ports")
			parts.sports = f.val
		case "destination_ports":
			rule.DstPorts = ports(r, f.val, ctx, "destination_ports")
			parts.dports = f.val
		case "sample_rate":
			v, _ := r.integer(f.val, ctx, "sample_rate", 0, 1<<32-1)
			rule.SampleRate = uint32(v)
		case "capture":
			rule.Capture, _ = r.boolean(f.val, ctx, "capture")
		case "forward":
			fwd, ok := r.boolean(f.val, ctx, "forward")
			rule.NoForward = ok && !fwd
		case "description":
			rule.Description, _ = r.str(f.val, ctx, "description")
		}
	}
	if !haveNumber && len(r.errs) == nerr {
		r.errorf(n, ctx, "missing rule (the rule number, 1..%d)", MaxRuleNumber)
	}
	if !haveAction && len(r.errs) == nerr {
		r.errorf(n, ctx, "missing action (accept or reject)")
	}
	b.checkRule(r, &rule, ctx, parts)
	return rule, len(r.errs) == nerr
}

// protocol reads an IANA number or a name.
func protocol(r *reader, n *yaml.Node, ctx string) (int, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		if p, ok := protocolNames[strings.ToLower(n.Value)]; ok {
			return p, true
		}
		r.errorf(n, ctx, "protocol: %q is neither an IANA number nor one of all, icmp, tcp, udp, icmpv6, sctp", n.Value)
		return AnyProtocol, false
	}
	v, ok := r.integer(n, ctx, "protocol", 0, 255)
	if !ok {
		return AnyProtocol, false
	}
	return int(v), true
}

// ports reads 22, "22" or "1024-65535".
func ports(r *reader, n *yaml.Node, ctx, name string) PortRange {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		v, ok := r.integer(n, ctx, name, 0, 65535)
		return PortRange{From: uint16(v), To: uint16(v), Set: ok}
	}
	s, ok := r.str(n, ctx, name)
	if !ok {
		return PortRange{}
	}
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	from, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	to, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil {
		r.errorf(n, ctx, "%s: %q is not a port or a range like 1024-65535 (ports are 0..65535)", name, s)
		return PortRange{}
	}
	return PortRange{From: uint16(from), To: uint16(to), Set: true}
}

// ruleParts are the nodes of a rule's fields, for messages about them.
type ruleParts struct {
	proto, src, dst, sports, dports *yaml.Node
}

// checkRule applies the checks both formats share: ports only for TCP
// and UDP, ranges not inverted, both CIDRs of one family.
func (b *Builder) checkRule(r *reader, rule *Rule, ctx string, p ruleParts) {
	for _, pr := range []struct {
		rng  PortRange
		n    *yaml.Node
		name string
	}{{rule.SrcPorts, p.sports, "source port range"}, {rule.DstPorts, p.dports, "destination port range"}} {
		if !pr.rng.Set {
			continue
		}
		if rule.Protocol != 6 && rule.Protocol != 17 {
			proto := "all protocols"
			if rule.Protocol != AnyProtocol {
				proto = fmt.Sprintf("protocol %d", rule.Protocol)
			}
			r.errorf(pr.n, ctx, "%s on a rule for %s: ports apply to TCP (6) and UDP (17) only", pr.name, proto)
		}
		if pr.rng.From > pr.rng.To {
			r.errorf(pr.n, ctx, "%s %d-%d is inverted", pr.name, pr.rng.From, pr.rng.To)
		}
	}
	if rule.Src.IsValid() && rule.Dst.IsValid() && rule.Src.Addr().Is4() != rule.Dst.Addr().Is4() {
		r.errorf(p.dst, ctx, "source %s and destination %s are of different IP versions: the rule could never match", rule.Src, rule.Dst)
	}
	if rule.Action == Reject && (rule.Capture || rule.SampleRate != 0 || rule.NoForward) {
		b.warns = append(b.warns, &Error{Pos: rule.Pos, Context: ctx, Msg: "capture, sample_rate and forward do nothing on a reject rule"})
	}
}
