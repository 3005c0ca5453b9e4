package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/filter"
)

// Apply installs a compiled rule set atomically: it fills the generation
// the program is not using, switches filter_gen to it with one write, and
// waits until no packet can still be classified by the old one (an RCU
// grace period) before returning. A packet is classified entirely by the
// old or entirely by the new rules. On error the running rules are kept.
// It returns the retired generation's final hit counts.
func (f *FilterMaps) Apply(c *filter.Compiled) ([]RuleHit, error) {
	if err := f.capacity().fits(CapacityFor(c)); err != nil {
		return nil, err
	}
	unlock, err := f.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	var word uint32
	if err := f.Gen.Lookup(uint32(0), &word); err != nil {
		return nil, fmt.Errorf("read filter_gen: %w", err)
	}
	old := word & 1
	gen := old ^ 1
	// The previous Apply waited for a grace period after leaving gen:
	// nothing reads it now.
	if err := f.clearGen(gen); err != nil {
		return nil, err
	}
	if err := f.fill(c, gen); err != nil {
		return nil, fmt.Errorf("write filter tables (the running rules are unchanged): %w", err)
	}
	if err := f.Gen.Put(uint32(0), genWord(gen, len(c.Sessions) > 0)|nextApply(word)); err != nil {
		return nil, fmt.Errorf("switch filter generation (the running rules are unchanged): %w", err)
	}
	if err := syncRCU(); err != nil {
		return nil, fmt.Errorf("wait for packets in flight: %w", err)
	}
	return f.hitsOf(old)
}

// clearGen deletes a generation's entries from the hash and LPM maps (the
// arrays are overwritten in place).
func (f *FilterMaps) clearGen(gen uint32) error {
	var sk VxtapFilterSessionKey
	var ek VxtapFilterEniKey
	var k6 VxtapFilterLpm6Key
	for _, d := range []struct {
		m     *ebpf.Map
		key   any
		genOf func() uint32
		copy  func() any
	}{
		{f.Sessions, &sk, func() uint32 { return sk.Gen }, func() any { return sk }},
		{f.ENI, &ek, func() uint32 { return ek.Gen }, func() any { return ek }},
		{f.LPM6, &k6, func() uint32 { return k6.Scope >> 1 & 1 }, func() any { return k6 }},
	} {
		var del []any
		var prev any // nil: the first key
		for {
			err := d.m.NextKey(prev, d.key)
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				break
			}
			if err != nil {
				return fmt.Errorf("walk %s: %w", d.m, err)
			}
			prev = d.copy()
			if d.genOf() == gen {
				del = append(del, prev)
			}
		}
		for _, k := range del {
			if err := d.m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("delete from %s: %w", d.m, err)
			}
		}
	}
	return nil
}

// layout places a compiled configuration in one generation's halves of
// the array maps.
type layout struct {
	gen                   uint32
	bitsetBase, blockBase uint32
	nodeBase              uint32
	slotBase              uint32
	sessionSlot           []uint32 // by Compiled.Sessions index
	rulesetBase           []uint32 // first slot by Compiled.Rulesets index
}

func (f *FilterMaps) layout(c *filter.Compiled, gen uint32) layout {
	l := layout{gen: gen, bitsetBase: gen * (f.Bitsets.MaxEntries() / filterGens), blockBase: gen * (f.PortBlk.MaxEntries() / filterGens),
		slotBase: gen * (f.Rules.MaxEntries() / filterGens), nodeBase: gen * (f.V4Node.MaxEntries() / filterGens)}
	next := l.slotBase
	for range c.Sessions {
		l.sessionSlot = append(l.sessionSlot, next)
		next++
	}
	for _, rs := range c.Rulesets {
		l.rulesetBase = append(l.rulesetBase, next)
		next += uint32(len(rs.Rules)) + 2
	}
	return l
}

// fill writes every table of generation gen.
func (f *FilterMaps) fill(c *filter.Compiled, gen uint32) error {
	l := f.layout(c, gen)
	steps := []func(*filter.Compiled, layout) error{f.fillBitsets, f.fillSlots, f.fillRulesets, f.fillFields, f.fillPrefixes, f.fillSessions}
	for _, step := range steps {
		if err := step(c, l); err != nil {
			return err
		}
	}
	return nil
}

func (f *FilterMaps) fillBitsets(c *filter.Compiled, l layout) error {
	keys := make([]uint32, len(c.Bitsets))
	vals := make([]VxtapFilterBitset, len(c.Bitsets))
	for i, b := range c.Bitsets {
		keys[i] = l.bitsetBase + uint32(i)
		vals[i] = VxtapFilterBitset{Summary: b.Summary, W: b.W}
	}
	if err := putBatch(f.Bitsets, keys, vals); err != nil {
		return err
	}
	keys = make([]uint32, len(c.Blocks))
	blks := make([]VxtapFilterPortBlock, len(c.Blocks))
	for i, b := range c.Blocks {
		keys[i] = l.blockBase + uint32(i)
		for j, v := range b {
			blks[i].Bitset[j] = l.bitsetBase + v
		}
	}
	return putBatch(f.PortBlk, keys, blks)
}

// fillSlots writes what each hit-counter slot stands for and zeroes its
// counters.
func (f *FilterMaps) fillSlots(c *filter.Compiled, l layout) error {
	var keys []uint32
	var vals []VxtapFilterRule
	for i := range c.Sessions {
		keys = append(keys, l.sessionSlot[i])
		vals = append(vals, VxtapFilterRule{Kind: uint8(VxtapFilterSlotKindFILTER_SLOT_SESSION)})
	}
	for i, rs := range c.Rulesets {
		for j, r := range rs.Rules {
			keys = append(keys, l.rulesetBase[i]+uint32(j))
			vals = append(vals, VxtapFilterRule{Number: uint32(r.Number), SampleRate: r.SampleRate,
				Action: uint8(r.Action), Capture: boolU8(r.Capture), NoForward: boolU8(r.NoForward), Kind: uint8(VxtapFilterSlotKindFILTER_SLOT_RULE)})
		}
		n := l.rulesetBase[i] + uint32(len(rs.Rules))
		keys = append(keys, n, n+1)
		vals = append(vals, VxtapFilterRule{Action: uint8(filter.Reject), Kind: uint8(VxtapFilterSlotKindFILTER_SLOT_NO_MATCH)},
			VxtapFilterRule{Kind: uint8(VxtapFilterSlotKindFILTER_SLOT_SERVICE)})
	}
	if err := putBatch(f.Rules, keys, vals); err != nil {
		return err
	}
	zero := make([]VxtapCounter, len(keys)*f.ncpu)
	return putBatch(f.Hits, keys, zero)
}

// fillRulesets names the rulesets for readers of rule_hits; entries past
// the configuration's are marked unused.
func (f *FilterMaps) fillRulesets(c *filter.Compiled, l layout) error {
	n := f.Rulesets.MaxEntries() / filterGens
	keys := make([]uint32, n)
	vals := make([]VxtapFilterRulesetMeta, n)
	for i := range keys {
		keys[i] = filterTable(uint32(i), l.gen)
		if i >= len(c.Rulesets) {
			continue
		}
		rs := c.Rulesets[i]
		m := &vals[i]
		for j := 0; j < len(rs.Filter) && j < len(m.Filter)-1; j++ {
			m.Filter[j] = int8(rs.Filter[j])
		}
		m.RuleBase, m.Nrules, m.Dir, m.Valid, m.AmazonDns = l.rulesetBase[i], uint32(len(rs.Rules)), uint8(rs.Dir), 1, boolU8(rs.AmazonDNS)
	}
	return putBatch(f.Rulesets, keys, vals)
}

// fillFields writes the protocol and port tables.
func (f *FilterMaps) fillFields(c *filter.Compiled, l layout) error {
	var pk, pv, tk, tv []uint32
	for i, rs := range c.Rulesets {
		table := filterTable(uint32(i), l.gen)
		for proto, b := range rs.Proto {
			pk = append(pk, protoIndex(table, uint32(proto)))
			pv = append(pv, l.bitsetBase+b)
		}
		for field := range rs.Ports {
			for blk, top := range rs.Ports[field] {
				tk = append(tk, portTopIndex(table, uint32(field), uint32(blk)))
				if top.Uniform {
					tv = append(tv, portUniform|(l.bitsetBase+top.Index))
				} else {
					tv = append(tv, l.blockBase+top.Index)
				}
			}
		}
	}
	if err := putBatch(f.Proto, pk, pv); err != nil {
		return err
	}
	return putBatch(f.PortTop, tk, tv)
}

// fillPrefixes writes the IPv4 CIDR tables and the IPv6 tries; both are
// keyed by the field table (the IPv6 trie's scope).
func (f *FilterMaps) fillPrefixes(c *filter.Compiled, l layout) error {
	nk := make([]uint32, len(c.Nodes4))
	nv := make([]VxtapFilterV4Node, len(c.Nodes4))
	for i, n := range c.Nodes4 {
		nk[i] = l.nodeBase + uint32(i)
		for b, e := range n {
			if e&filter.V4Terminal != 0 {
				nv[i].E[b] = (l.bitsetBase+e>>filter.V4Shift)<<filter.V4Shift | e&(1<<filter.V4Shift-1)
			} else {
				nv[i].E[b] = (l.nodeBase + e>>filter.V4Shift) << filter.V4Shift
			}
		}
	}
	if err := putBatch(f.V4Node, nk, nv); err != nil {
		return err
	}
	var rk, rv []uint32
	var k6 []VxtapFilterLpm6Key
	var v6 []VxtapFilterLpmVal
	for i, rs := range c.Rulesets {
		for field := range rs.Prefixes {
			scope := fieldTable(filterTable(uint32(i), l.gen), uint32(field))
			rk = append(rk, scope)
			rv = append(rv, l.nodeBase+rs.Root4[field])
			for _, e := range rs.Prefixes[field][1] {
				v := VxtapFilterLpmVal{Bitset: l.bitsetBase + e.Bitset}
				if e.Resolver {
					v.Flags = uint32(VxtapFilterConstFILTER_LPM_RESOLVER)
				}
				k6 = append(k6, VxtapFilterLpm6Key{Prefixlen: uint32(32 + e.Prefix.Bits()), Scope: scope, Addr: e.Prefix.Addr().As16()})
				v6 = append(v6, v)
			}
		}
	}
	if err := putBatch(f.V4Root, rk, rv); err != nil {
		return err
	}
	return putBatch(f.LPM6, k6, v6)
}

// fillSessions writes the ENI addresses, then the sessions.
func (f *FilterMaps) fillSessions(c *filter.Compiled, l layout) error {
	var ek []VxtapFilterEniKey
	var ev []uint8
	var sk []VxtapFilterSessionKey
	var sv []VxtapFilterSession
	for i, cs := range c.Sessions {
		vni := cs.VNI
		if cs.Default {
			vni = uint32(VxtapFilterConstFILTER_DEFAULT_VNI)
		}
		s := VxtapFilterSession{Slot: l.sessionSlot[i], SampleRate: cs.SampleRate, SnapLen: cs.SnapLen,
			Mode: filterMode(cs.Mode), Unknown: uint8(cs.Unknown)}
		if cs.AmazonDNS {
			s.Flags |= uint8(VxtapFilterConstFILTER_SESSION_AMAZON_DNS)
		}
		for dir, rs := range cs.Ruleset {
			if rs >= 0 {
				s.Ruleset[dir], s.RuleBase[dir], s.Nrules[dir] = uint32(rs), l.rulesetBase[rs], uint32(len(c.Rulesets[rs].Rules))
			}
		}
		if len(cs.Addrs) > 0 && !cs.Default {
			s.Flags |= uint8(VxtapFilterConstFILTER_SESSION_ADDRS)
			for _, a := range cs.Addrs {
				ek = append(ek, eniKey(l.gen, vni, a))
				ev = append(ev, 1)
			}
		}
		sk = append(sk, VxtapFilterSessionKey{Vni: vni, Gen: l.gen})
		sv = append(sv, s)
	}
	if err := putBatch(f.ENI, ek, ev); err != nil {
		return err
	}
	if err := putBatch(f.Sessions, sk, sv); err != nil {
		return err
	}
	return f.fillVNI(c, sk, sv, l.gen)
}

// fillVNI writes every filter_vni entry of generation gen from the
// sessions written to filter_sessions: a slot one session's VNI picks
// holds it, a slot several pick sends the packet to the hash, the rest say
// no session (the default decides). Entries of the other generation are
// left alone.
//
// An entry holding a session also holds its source-ENI addresses when
// they fit (FILTER_VNI_ADDRS4, FILTER_VNI_ADDRS6), so the direction needs
// no filter_eni lookup either.
func (f *FilterMaps) fillVNI(c *filter.Compiled, keys []VxtapFilterSessionKey, vals []VxtapFilterSession, gen uint32) error {
	ents := make([]VxtapFilterVniSlot, vniStride)
	for i := range ents {
		ents[i].Kind = uint8(VxtapFilterVniKindFILTER_VNI_NONE)
	}
	for i, k := range keys {
		e := &ents[vniSlots]
		if k.Vni != uint32(VxtapFilterConstFILTER_DEFAULT_VNI) {
			e = &ents[k.Vni&(vniSlots-1)]
			if e.Kind == uint8(VxtapFilterVniKindFILTER_VNI_ONE) {
				*e = VxtapFilterVniSlot{Kind: uint8(VxtapFilterVniKindFILTER_VNI_LOOKUP)}
				continue
			}
			if e.Kind == uint8(VxtapFilterVniKindFILTER_VNI_LOOKUP) {
				continue
			}
		}
		*e = VxtapFilterVniSlot{Vni: k.Vni, Kind: uint8(VxtapFilterVniKindFILTER_VNI_ONE), Sess: vals[i]}
		vniAddrs(e, c.Sessions[i].Addrs)
	}
	idx := make([]uint32, vniStride)
	for i := range idx {
		idx[i] = gen*vniStride + uint32(i)
	}
	return putBatch(f.VNI, idx, ents)
}

// vniAddrs puts a session's source-ENI addresses in its filter_vni entry
// when they fit; else the entry says to look them up in filter_eni.
func vniAddrs(e *VxtapFilterVniSlot, addrs []netip.Addr) {
	for _, a := range addrs {
		if a.Is4() {
			if int(e.Naddr4) == len(e.Addr4) {
				e.Addrs, e.Naddr4, e.Naddr6 = 0, 0, 0
				return
			}
			b := a.As4()
			e.Addr4[e.Naddr4] = binary.NativeEndian.Uint32(b[:])
			e.Naddr4++
		} else {
			if int(e.Naddr6) == len(e.Addr6) {
				e.Addrs, e.Naddr4, e.Naddr6 = 0, 0, 0
				return
			}
			e.Addr6[e.Naddr6] = a.As16()
			e.Naddr6++
		}
	}
	e.Addrs = 1
}

func eniKey(gen, vni uint32, a netip.Addr) VxtapFilterEniKey {
	k := VxtapFilterEniKey{Gen: gen, Vni: vni, Family: 6}
	if a.Is4() {
		k.Family = 4
		b := a.As4()
		copy(k.Addr[:], b[:])
	} else {
		k.Addr = a.As16()
	}
	return k
}

// putBatch writes keys and values with batch updates, element by element
// where the map type has none (LPM tries on older kernels).
func putBatch[K, V any](m *ebpf.Map, keys []K, vals []V) error {
	const chunk = 4096
	perCPU := len(vals) != len(keys)
	for lo := 0; lo < len(keys); lo += chunk {
		hi := min(lo+chunk, len(keys))
		vlo, vhi := lo, hi
		if perCPU {
			n := len(vals) / len(keys)
			vlo, vhi = lo*n, hi*n
		}
		_, err := m.BatchUpdate(keys[lo:hi], vals[vlo:vhi], nil)
		if errors.Is(err, ebpf.ErrNotSupported) {
			err = putEach(m, keys[lo:hi], vals[vlo:vhi], perCPU)
		}
		if err != nil {
			return fmt.Errorf("update %s: %w", m, err)
		}
	}
	return nil
}

func putEach[K, V any](m *ebpf.Map, keys []K, vals []V, perCPU bool) error {
	n := 1
	if perCPU {
		n = len(vals) / len(keys)
	}
	for i := range keys {
		var v any = vals[i]
		if perCPU {
			v = vals[i*n : (i+1)*n]
		}
		if err := m.Update(keys[i], v, ebpf.UpdateAny); err != nil {
			return err
		}
	}
	return nil
}

// syncRCU returns after an RCU grace period, when every XDP program run
// that started before has finished. Updating a map-in-map from userspace
// makes the kernel call synchronize_rcu() (maybe_wait_bpf_programs), the
// one way userspace has to wait for one.
func syncRCU() error {
	inner := &ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1}
	outer, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 1, InnerMap: inner})
	if err != nil {
		return err
	}
	defer outer.Close()
	m, err := ebpf.NewMap(inner)
	if err != nil {
		return err
	}
	defer m.Close()
	return outer.Put(uint32(0), m)
}

// filterMode is enum filter_mode of a session mode.
func filterMode(m filter.Mode) uint8 {
	switch m {
	case filter.ModeAnalyze:
		return uint8(VxtapFilterModeFILTER_MODE_ACCEPT)
	case filter.ModeReject:
		return uint8(VxtapFilterModeFILTER_MODE_REJECT)
	case filter.ModeUnknownVNI:
		return uint8(VxtapFilterModeFILTER_MODE_UNKNOWN_VNI)
	}
	return uint8(VxtapFilterModeFILTER_MODE_RULES)
}

// genWord is the filter_gen value for a generation: FILTER_GEN_SESSIONS
// set when it holds sessions, so with no rule set applied no packet looks
// a session up.
func genWord(gen uint32, sessions bool) uint32 {
	// filter_vni is written with every generation (fillVNI).
	gen |= uint32(VxtapFilterConstFILTER_GEN_VNI)
	if sessions {
		gen |= uint32(VxtapFilterConstFILTER_GEN_SESSIONS)
	}
	return gen
}

// nextApply is the apply count of the filter_gen value after word's, in
// the bits from FILTER_GEN_APPLY_SHIFT (wrapping). A flow's slot keeps the
// classifier's decision with the whole value it was made under
// (flow_slot.verdict), so each apply makes every kept decision stale; one
// is taken for current again only if its flow sends no packet through a
// multiple of 2^24 applies.
func nextApply(word uint32) uint32 {
	shift := uint32(VxtapFilterConstFILTER_GEN_APPLY_SHIFT)
	return (word>>shift + 1) << shift
}

// markSessions sets FILTER_GEN_SESSIONS when the active generation holds
// sessions but the bit is clear: tables applied by a vxtap that predates
// the bit and re-opened from pins.
func (f *FilterMaps) markSessions() error {
	unlock, err := f.lock()
	if err != nil {
		return err
	}
	defer unlock()
	var w uint32
	if err := f.Gen.Lookup(uint32(0), &w); err != nil {
		return fmt.Errorf("read filter_gen: %w", err)
	}
	if w&uint32(VxtapFilterConstFILTER_GEN_SESSIONS) != 0 {
		return nil
	}
	var k VxtapFilterSessionKey
	iter := f.Sessions.Iterate()
	var v VxtapFilterSession
	for iter.Next(&k, &v) {
		if k.Gen == w&1 {
			// Not genWord: tables that old left filter_vni unwritten.
			return f.Gen.Put(uint32(0), w|uint32(VxtapFilterConstFILTER_GEN_SESSIONS))
		}
	}
	return iter.Err()
}
