package filter

import (
	"fmt"
	"strings"
)

// String prints a rule in the shape of the AWS console's rule table.
func (r *Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rule %d %s", r.Number, r.Action)
	if r.Protocol == AnyProtocol {
		b.WriteString(", all protocols")
	} else {
		fmt.Fprintf(&b, ", protocol %d", r.Protocol)
	}
	cidr := func(name string, p interface{ IsValid() bool }) {
		if p.IsValid() {
			fmt.Fprintf(&b, ", %s %v", name, p)
		} else {
			fmt.Fprintf(&b, ", %s any", name)
		}
	}
	cidr("source", r.Src)
	cidr("destination", r.Dst)
	for _, pr := range []struct {
		name string
		r    PortRange
	}{{"source ports", r.SrcPorts}, {"destination ports", r.DstPorts}} {
		switch {
		case pr.r.Set && pr.r.From == pr.r.To:
			fmt.Fprintf(&b, ", %s %d", pr.name, pr.r.From)
		case pr.r.Set:
			fmt.Fprintf(&b, ", %s %d-%d", pr.name, pr.r.From, pr.r.To)
		}
	}
	if r.SampleRate != 0 {
		fmt.Fprintf(&b, ", sample 1 in %d", r.SampleRate)
	}
	if r.Capture {
		b.WriteString(", capture")
	}
	if r.NoForward {
		b.WriteString(", not forwarded")
	}
	if r.Description != "" {
		fmt.Fprintf(&b, " (%q)", r.Description)
	}
	return b.String()
}

// Explain tells which rule decides a packet and why, from the compiled
// tables (the kernel's view), and checks it against the reference
// evaluator.
func (c *Compiled) Explain(p Packet) string {
	var b strings.Builder
	t := c.Classify(p)
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	ports := ""
	if p.Proto == 6 || p.Proto == 17 {
		ports = fmt.Sprintf(" ports %d -> %d", p.SrcPort, p.DstPort)
	}
	outer := "none given"
	if p.OuterSrc.IsValid() {
		outer = p.OuterSrc.String()
	}
	line("packet:    VNI %d, %s -> %s, protocol %d%s, outer source %s", p.VNI, p.Src, p.Dst, p.Proto, ports, outer)
	s := t.Session
	switch {
	case t.Default:
		line("session:   none for VNI %d: the default session (%s)", p.VNI, sessionWhat(s))
	default:
		line("session:   VNI %d %q (%s)", s.VNI, s.Name, sessionWhat(s))
	}
	if s.Mode == ModeUnknownVNI {
		line("decision:  reject: no session names VNI %d and there is no default session (unknown_vni)", p.VNI)
		return b.String()
	}
	if s.Mode != ModeFilter {
		line("decision:  %s: the session %ss everything", verdict(t.Accept), s.Mode)
		return b.String()
	}
	eni := "the outer source: no addresses configured"
	if len(s.Addrs) > 0 {
		eni = fmt.Sprint(s.Addrs)
	}
	switch {
	case t.DirUnknown:
		line("direction: unknown: neither %s nor %s is the source ENI's (%s); unknown_direction is %s", p.Src, p.Dst, eni, s.Unknown)
		if t.By == ByUnknownDirection {
			line("decision:  %s by the session's unknown_direction policy", verdict(t.Accept))
			return b.String()
		}
	case t.Direction == Ingress:
		line("direction: ingress: the destination %s is the source ENI's (%s)", p.Dst, eni)
	default:
		line("direction: egress: the source %s is the source ENI's (%s)", p.Src, eni)
	}
	rs := t.Ruleset
	line("rules:     %s rules of filter %q: %d", rs.Dir, rs.Filter, len(rs.Rules))
	if t.By == ByNetworkService {
		line("decision:  %s: Amazon DNS resolver traffic is mirrored only with the amazon-dns network service (the filter %s it)",
			verdict(t.Accept), map[bool]string{true: "has", false: "does not have"}[t.Accept])
		return c.agree(&b, p, t)
	}
	set := func(i uint32) string { return c.ruleNumbers(rs, &c.Bitsets[i]) }
	line("  source      %-24s longest CIDR %-20s -> %s", p.Src, t.Src.Prefix, set(t.Src.Bitset))
	line("  destination %-24s longest CIDR %-20s -> %s", p.Dst, t.Dst.Prefix, set(t.Dst.Bitset))
	line("  protocol    %-58d -> %s", p.Proto, set(t.Proto))
	line("  source port %-58d -> %s", p.SrcPort, set(t.SrcPort))
	line("  dest. port  %-58d -> %s", p.DstPort, set(t.DstPort))
	line("  all five    %-58s -> %s", "", c.ruleNumbers(rs, &t.Common))
	if t.By == ByNoMatch {
		line("decision:  REJECT: no rule matches (AWS: no match, not mirrored)")
	} else {
		line("decision:  %s by %s", verdict(t.Accept), t.Rule)
	}
	return c.agree(&b, p, t)
}

// agree adds the reference evaluator's verdict on the same packet.
func (c *Compiled) agree(b *strings.Builder, p Packet, t Trace) string {
	ref := c.Config.Evaluate(p)
	if ref.Accept == t.Accept && ref.By == t.By && ref.RuleIndex == t.RuleIndex {
		b.WriteString("reference: agrees (first matching rule in RuleNumber order)\n")
	} else {
		fmt.Fprintf(b, "reference: DISAGREES: %s by %s (rule index %d) — please report this\n", verdict(ref.Accept), ref.By, ref.RuleIndex)
	}
	return b.String()
}

// ruleNumbers lists a set's rule numbers, shortened when long.
func (c *Compiled) ruleNumbers(rs *Ruleset, set *Bitset) string {
	idx := set.Indexes()
	if len(idx) == 0 {
		return "no rules"
	}
	var nums []string
	for i, r := range idx {
		if i == 12 {
			nums = append(nums, fmt.Sprintf("... (%d rules)", len(idx)))
			break
		}
		nums = append(nums, fmt.Sprint(rs.Rules[r].Number))
	}
	return "rules " + strings.Join(nums, ", ")
}

func sessionWhat(s *Session) string {
	if s.Mode == ModeFilter {
		return "filter " + s.Filter
	}
	return s.Mode.String() + " all"
}

func verdict(accept bool) string {
	if accept {
		return "ACCEPT (analyzed)"
	}
	return "REJECT (counted and dropped)"
}
