package filter

import (
	"fmt"
	"net/netip"
	"sort"
)

// Build checks what only the whole configuration shows (references,
// duplicates, sizes), sorts the rules and returns the Config, or every
// error found in every document.
func (b *Builder) Build() (*Config, error) {
	c := &Config{Filters: b.filters}
	errs := append(ErrorList(nil), b.errs...)
	add := func(pos Pos, ctx, format string, args ...any) {
		errs = append(errs, &Error{Pos: pos, Context: ctx, Msg: fmt.Sprintf(format, args...)})
	}

	for _, f := range b.filters {
		for dir := range f.Rules {
			rules := f.Rules[dir]
			sort.SliceStable(rules, func(i, j int) bool { return rules[i].Number < rules[j].Number })
			for i := 1; i < len(rules); i++ {
				if rules[i].Number == rules[i-1].Number {
					add(rules[i].Pos, ruleContext(f.ID, Direction(dir), rules[i].Number),
						"duplicate rule number (also at %s)", rules[i-1].Pos)
				}
			}
			if len(rules) > MaxRules {
				add(f.Pos, fmt.Sprintf("filter %q %s", f.ID, Direction(dir)), "%d rules: at most %d per direction", len(rules), MaxRules)
			}
		}
	}

	byVNI := map[uint32]*Session{}
	used := map[string]bool{}
	check := func(s *Session, ctx string) {
		if s.Mode != ModeFilter {
			return
		}
		if _, ok := b.filters[s.Filter]; !ok && !b.broken[s.Filter] {
			add(s.Pos, ctx, "filter %q is not defined", s.Filter)
		}
		used[s.Filter] = true
	}
	for _, s := range b.sessions {
		ctx := fmt.Sprintf("session %d", s.VNI)
		if old, dup := byVNI[s.VNI]; dup {
			add(s.Pos, ctx, "VNI %d already belongs to the session at %s", s.VNI, old.Pos)
			continue
		}
		byVNI[s.VNI] = s
		check(s, ctx)
		c.Sessions = append(c.Sessions, s)
	}
	sort.Slice(c.Sessions, func(i, j int) bool { return c.Sessions[i].VNI < c.Sessions[j].VNI })
	c.Default = Session{Mode: ModeAnalyze, Name: "default"}
	switch {
	case b.def != nil:
		c.Default = *b.def
		c.Default.Name = "default"
		check(&c.Default, "default session")
	case len(c.Sessions) > 0:
		// Sessions name the VNIs that are ours: any other is refused.
		c.Default.Mode = ModeUnknownVNI
	}
	c.AllowedSources = b.sources

	c.Resolvers = resolvers(b)

	if len(errs) > 0 {
		sortErrors(errs)
		return nil, errs
	}
	warns := append([]*Error(nil), b.warns...)
	ids := make([]string, 0, len(b.filters))
	for id := range b.filters {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		f := b.filters[id]
		if !used[id] {
			warns = append(warns, &Error{Pos: f.Pos, Context: fmt.Sprintf("filter %q", id), Msg: "no session uses it"})
			continue
		}
		for dir := range f.Rules {
			if len(f.Rules[dir]) == 0 {
				warns = append(warns, &Error{Pos: f.Pos, Context: fmt.Sprintf("filter %q", id),
					Msg: fmt.Sprintf("no %s rules: all %s traffic is rejected", Direction(dir), Direction(dir))})
			}
			warns = append(warns, shadowed(f, Direction(dir))...)
		}
	}
	sortErrors(warns)
	c.Warnings = warns
	c.Ignored = b.ignored
	return c, nil
}

// resolvers are the Amazon DNS addresses: amazon_dns when given, else
// the defaults, plus the base + 2 of each VPC CIDR.
func resolvers(b *Builder) []netip.Addr {
	out := DefaultResolvers
	if b.resolved {
		out = b.resolvers
	}
	out = append([]netip.Addr(nil), out...)
	for _, p := range b.vpcs {
		a := p.Masked().Addr().Next().Next()
		if p.Contains(a) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	dedup := out[:0]
	for i, a := range out {
		if i == 0 || a != out[i-1] {
			dedup = append(dedup, a)
		}
	}
	return dedup
}
