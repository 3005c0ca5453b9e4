package filter

import (
	"net/netip"
	"sort"
)

// Fields of the per-field tables.
const (
	FieldSrc = 0 // source CIDR / source port
	FieldDst = 1 // destination CIDR / destination port
)

// Compiled is a Config turned into the kernel's tables, still in plain Go
// with indexes local to it (the loader places them in a generation).
type Compiled struct {
	Config    *Config
	Sessions  []CompiledSession // one per VNI with a session, then the default session
	Rulesets  []*Ruleset        // one per direction of every filter a session uses
	Bitsets   []Bitset          // deduplicated; 0 is the empty set
	Blocks    [][256]uint32     // port blocks holding a range boundary, deduplicated
	Nodes4    [][256]uint32     // IPv4 CIDR table nodes, deduplicated (see V4Terminal)
	Resolvers []netip.Addr
}

// IPv4 CIDR table entries (struct filter_v4_node): a bitset index or a
// child node index, shifted left by V4Shift, with flags in the low bits.
const (
	V4Terminal = 1 // the entry is a bitset, not a child node
	V4Resolver = 2 // the address is an Amazon DNS resolver
	V4Shift    = 2
)

// CompiledSession is a session with its rulesets.
type CompiledSession struct {
	*Session
	Default   bool   // the session of VNIs without one
	Ruleset   [2]int // Rulesets index per Direction, -1 when the session has no filter
	AmazonDNS bool   // its filter mirrors Amazon DNS traffic
}

// Ruleset is one direction of one filter, compiled.
type Ruleset struct {
	Filter    string
	Dir       Direction
	AmazonDNS bool
	Rules     []Rule              // RuleNumber order: bit i is Rules[i]
	Prefixes  [2][2][]PrefixEntry // [field][0 IPv4, 1 IPv6], sorted
	Root4     [2]uint32           // [field] IPv4 CIDR table root, a Nodes4 index
	Proto     [256]uint32         // protocol to bitset
	Ports     [2][256]PortTop     // [field][port / 256]
	byPrefix  [2][2]map[netip.Prefix]int
}

// PrefixEntry is one LPM entry: the rules whose CIDR contains Prefix.
type PrefixEntry struct {
	Prefix   netip.Prefix
	Bitset   uint32
	Resolver bool // Prefix is exactly an Amazon DNS resolver address
}

// PortTop is one block of 256 ports of a port table: a single bitset when
// no range boundary falls inside it, else a Blocks index.
type PortTop struct {
	Uniform bool
	Index   uint32
}

// Compile builds the tables of every filter a session uses.
func Compile(c *Config) *Compiled {
	cp := &compiler{out: &Compiled{Config: c, Resolvers: c.Resolvers, Bitsets: []Bitset{{}}},
		bitsets: map[Bitset]uint32{{}: 0}, blocks: map[[256]uint32]uint32{}, nodes: map[[256]uint32]uint32{},
		byFilter: map[string][2]int{}}
	for _, s := range c.Sessions {
		cp.session(s, false)
	}
	def := c.Default
	cp.session(&def, true)
	return cp.out
}

type compiler struct {
	out      *Compiled
	bitsets  map[Bitset]uint32
	blocks   map[[256]uint32]uint32
	nodes    map[[256]uint32]uint32
	byFilter map[string][2]int
}

func (cp *compiler) session(s *Session, def bool) {
	cs := CompiledSession{Session: s, Default: def, Ruleset: [2]int{-1, -1}}
	if s.Mode == ModeFilter {
		f := cp.out.Config.Filters[s.Filter]
		rs, ok := cp.byFilter[f.ID]
		if !ok {
			for dir := range rs {
				rs[dir] = len(cp.out.Rulesets)
				cp.out.Rulesets = append(cp.out.Rulesets, cp.ruleset(f, Direction(dir)))
			}
			cp.byFilter[f.ID] = rs
		}
		cs.Ruleset, cs.AmazonDNS = rs, f.AmazonDNS
	}
	cp.out.Sessions = append(cp.out.Sessions, cs)
}

func (cp *compiler) ruleset(f *Filter, dir Direction) *Ruleset {
	rs := &Ruleset{Filter: f.ID, Dir: dir, AmazonDNS: f.AmazonDNS, Rules: f.Rules[dir]}
	for field := range rs.Prefixes {
		for fam := range rs.Prefixes[field] {
			rs.Prefixes[field][fam] = cp.prefixTable(rs.Rules, field, fam == 1)
		}
		rs.Ports[field] = cp.portTable(rs.Rules, field)
		rs.Root4[field] = cp.v4Table(rs.Prefixes[field][0])
	}
	rs.Proto = cp.protoTable(rs.Rules)
	for field := range rs.byPrefix {
		for fam := range rs.byPrefix[field] {
			m := map[netip.Prefix]int{}
			for i, e := range rs.Prefixes[field][fam] {
				m[e.Prefix] = i
			}
			rs.byPrefix[field][fam] = m
		}
	}
	return rs
}

// intern returns the index of a bitset, adding it when new.
func (cp *compiler) intern(b *Bitset) uint32 {
	if i, ok := cp.bitsets[*b]; ok {
		return i
	}
	i := uint32(len(cp.out.Bitsets))
	cp.bitsets[*b] = i
	cp.out.Bitsets = append(cp.out.Bitsets, *b)
	return i
}

// internBlock returns the index of a port block, adding it when new.
func (cp *compiler) internBlock(b *[256]uint32) uint32 {
	if i, ok := cp.blocks[*b]; ok {
		return i
	}
	i := uint32(len(cp.out.Blocks))
	cp.blocks[*b] = i
	cp.out.Blocks = append(cp.out.Blocks, *b)
	return i
}

// prefixTable builds one LPM table. Every rule's CIDR is an entry, and
// an entry's bitset holds the rules whose CIDR contains it. That is right
// for the longest entry containing an address: the CIDRs containing one
// address are nested, so each of them contains the longest. Absent CIDRs
// are the /0 of both families.
func (cp *compiler) prefixTable(rules []Rule, field int, v6 bool) []PrefixEntry {
	root := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if v6 {
		root = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	own := map[netip.Prefix]*Bitset{root: {}}
	get := func(p netip.Prefix) *Bitset {
		if own[p] == nil {
			own[p] = &Bitset{}
		}
		return own[p]
	}
	for i := range rules {
		p := rules[i].Src
		if field == FieldDst {
			p = rules[i].Dst
		}
		switch {
		case !p.IsValid():
			get(root).Set(i)
		case p.Addr().Is6() == v6:
			get(p).Set(i)
		}
	}
	resolver := map[netip.Prefix]bool{}
	for _, a := range cp.out.Resolvers {
		if a.Is6() == v6 {
			p := netip.PrefixFrom(a, a.BitLen())
			get(p)
			resolver[p] = true
		}
	}
	keys := make([]netip.Prefix, 0, len(own))
	for p := range own {
		keys = append(keys, p)
	}
	// Address order, shorter first: a prefix comes after all that contain it.
	sort.Slice(keys, func(i, j int) bool {
		if c := keys[i].Addr().Compare(keys[j].Addr()); c != 0 {
			return c < 0
		}
		return keys[i].Bits() < keys[j].Bits()
	})
	type open struct {
		p   netip.Prefix
		set Bitset
	}
	var stack []open
	out := make([]PrefixEntry, 0, len(keys))
	for _, p := range keys {
		for len(stack) > 0 {
			top := stack[len(stack)-1].p
			if top.Bits() <= p.Bits() && top.Contains(p.Addr()) {
				break
			}
			stack = stack[:len(stack)-1]
		}
		set := *own[p]
		if len(stack) > 0 {
			set.Or(&stack[len(stack)-1].set)
		}
		stack = append(stack, open{p, set})
		out = append(out, PrefixEntry{Prefix: p, Bitset: cp.intern(&set), Resolver: resolver[p]})
	}
	return out
}

// v4Table lays out one field's IPv4 entries as a trie of 4 levels of 256
// entries (one per address byte) with leaf pushing: an entry holds the
// bitset of the longest CIDR covering it, or the next level where a longer
// CIDR starts. The kernel then needs at most 4 array lookups, however many
// CIDRs there are. Identical nodes are stored once.
func (cp *compiler) v4Table(entries []PrefixEntry) uint32 {
	type node struct {
		e     [256]uint32
		child [256]*node
	}
	byLen := append([]PrefixEntry(nil), entries...)
	sort.SliceStable(byLen, func(i, j int) bool { return byLen[i].Prefix.Bits() < byLen[j].Prefix.Bits() })
	root := &node{}
	for _, pe := range byLen {
		v := pe.Bitset<<V4Shift | V4Terminal
		if pe.Resolver {
			v |= V4Resolver
		}
		a, bits := pe.Prefix.Addr().As4(), pe.Prefix.Bits()
		n, lvl := root, 0
		for bits > 8*(lvl+1) {
			b := a[lvl]
			if n.child[b] == nil {
				c := &node{}
				for i := range c.e {
					c.e[i] = n.e[b] // pushed down: the best match so far
				}
				n.child[b] = c
			}
			n, lvl = n.child[b], lvl+1
		}
		// Shorter CIDRs came first, so no child exists in this range yet.
		free := 8*(lvl+1) - bits
		lo := int(a[lvl]) &^ (1<<free - 1)
		for b := lo; b <= lo|(1<<free-1); b++ {
			n.e[b] = v
		}
	}
	var emit func(n *node) uint32
	emit = func(n *node) uint32 {
		out := n.e
		for b, c := range n.child {
			if c != nil {
				out[b] = emit(c) << V4Shift
			}
		}
		if i, ok := cp.nodes[out]; ok {
			return i
		}
		i := uint32(len(cp.out.Nodes4))
		cp.nodes[out] = i
		cp.out.Nodes4 = append(cp.out.Nodes4, out)
		return i
	}
	return emit(root)
}

// protoTable maps every protocol number to the rules that match it.
func (cp *compiler) protoTable(rules []Rule) [256]uint32 {
	var anyProto Bitset
	byProto := map[int]*Bitset{}
	for i := range rules {
		if rules[i].Protocol == AnyProtocol {
			anyProto.Set(i)
		}
	}
	for i := range rules {
		if p := rules[i].Protocol; p != AnyProtocol {
			if byProto[p] == nil {
				b := anyProto
				byProto[p] = &b
			}
			byProto[p].Set(i)
		}
	}
	var t [256]uint32
	anyIdx := cp.intern(&anyProto)
	for p := range t {
		t[p] = anyIdx
		if b := byProto[p]; b != nil {
			t[p] = cp.intern(b)
		}
	}
	return t
}

// portTable cuts the port space at every range boundary into elementary
// intervals, each with the rules covering it, and lays them out as 256
// blocks of 256 ports.
func (cp *compiler) portTable(rules []Rule, field int) [256]PortTop {
	add, del := map[int][]int{}, map[int][]int{}
	starts := []int{0}
	var cur Bitset
	for i := range rules {
		r := rules[i].SrcPorts
		if field == FieldDst {
			r = rules[i].DstPorts
		}
		if !r.Set {
			cur.Set(i)
			continue
		}
		add[int(r.From)] = append(add[int(r.From)], i)
		starts = append(starts, int(r.From))
		if r.To < 65535 {
			del[int(r.To)+1] = append(del[int(r.To)+1], i)
			starts = append(starts, int(r.To)+1)
		}
	}
	sort.Ints(starts)
	uniq := starts[:1]
	for _, s := range starts[1:] {
		if s != uniq[len(uniq)-1] {
			uniq = append(uniq, s)
		}
	}
	starts = uniq
	sets := make([]uint32, len(starts)) // bitset of the interval beginning at starts[k]
	for k, s := range starts {
		for _, i := range del[s] {
			cur.Clear(i)
		}
		for _, i := range add[s] {
			cur.Set(i)
		}
		sets[k] = cp.intern(&cur)
	}
	var t [256]PortTop
	k := 0 // interval holding the current port
	for blk := range t {
		lo, hi := blk*256, blk*256+255
		for k+1 < len(starts) && starts[k+1] <= lo {
			k++
		}
		if k+1 == len(starts) || starts[k+1] > hi {
			t[blk] = PortTop{Uniform: true, Index: sets[k]}
			continue
		}
		var b [256]uint32
		j := k
		for port := lo; port <= hi; port++ {
			for j+1 < len(starts) && starts[j+1] <= port {
				j++
			}
			b[port-lo] = sets[j]
		}
		t[blk] = PortTop{Index: cp.internBlock(&b)}
	}
	return t
}
