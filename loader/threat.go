package loader

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
)

// Threats is the narrow handle on the threats trie (bpf/include/detect.h):
// the threat-listed prefixes every accounted copy is checked against when
// the program was loaded with Config.ThreatEnabled.
type Threats struct {
	m *ebpf.Map
}

// Threats returns the handle on the threats trie.
func (o *Objects) Threats() *Threats { return &Threats{m: o.VxtapMaps.Threats} }

// ThreatEnabled says whether the loaded program checks the trie.
func (o *Objects) ThreatEnabled() bool { return o.Config.ThreatEnabled }

func threatKey(p netip.Prefix) VxtapThreatLpmKey {
	var k VxtapThreatLpmKey
	p = p.Masked()
	k.Family = uint32(addrTo(p.Addr(), &k.Addr))
	k.Prefixlen = 32 + uint32(p.Bits())
	return k
}

// ThreatCapacity implements flow.ThreatTable.
func (t *Threats) ThreatCapacity() int { return int(t.m.MaxEntries()) }

// SetThreats implements flow.ThreatTable: the new entries are written
// first (an entry whose list changed is overwritten in place), then the
// stale ones deleted, so a prefix on both the old and the new lists is
// never missing meanwhile. Nothing changes when the entries are invalid
// or do not fit.
func (t *Threats) SetThreats(entries []flow.ThreatEntry) error {
	want := make(map[VxtapThreatLpmKey]uint32, len(entries))
	for i, e := range entries {
		p := e.Prefix
		if !p.IsValid() {
			return fmt.Errorf("threat entry %d: %v is not a CIDR", i, p)
		}
		if e.List == 0 {
			return fmt.Errorf("threat entry %d (%s): list id 0 means not listed", i, p)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		k := threatKey(p)
		if _, dup := want[k]; !dup { // the first list naming a prefix keeps it
			want[k] = uint32(e.List)
		}
	}
	if len(want) > t.ThreatCapacity() {
		return fmt.Errorf("%d threat-listed prefixes, the kernel table holds %d", len(want), t.ThreatCapacity())
	}
	have, err := t.keys()
	if err != nil {
		return err
	}
	stale := 0
	for _, k := range have {
		if _, ok := want[k]; !ok {
			stale++
		}
	}
	// An LPM trie refuses inserts past max_entries even when deletes
	// would follow: with too little room for the stale and the wanted
	// entries at once, the stale ones go first (the lists briefly shrink
	// instead of failing).
	if stale+len(want) > t.ThreatCapacity() {
		if err := t.deleteStale(have, want); err != nil {
			return err
		}
		have = nil
	}
	for k, list := range want {
		if err := t.m.Update(&k, list, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("add threat prefix: %w", err)
		}
	}
	return t.deleteStale(have, want)
}

func (t *Threats) deleteStale(have []VxtapThreatLpmKey, want map[VxtapThreatLpmKey]uint32) error {
	var errs error
	for _, k := range have {
		if _, ok := want[k]; !ok {
			if err := t.m.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				errs = errors.Join(errs, fmt.Errorf("remove threat prefix: %w", err))
			}
		}
	}
	return errs
}

func (t *Threats) keys() ([]VxtapThreatLpmKey, error) {
	var have []VxtapThreatLpmKey
	var k VxtapThreatLpmKey
	var v uint32
	it := t.m.Iterate()
	for it.Next(&k, &v) {
		have = append(have, k)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read threats: %w", err)
	}
	return have, nil
}

// List returns the listed prefixes and their list ids.
func (t *Threats) List() ([]flow.ThreatEntry, error) {
	var out []flow.ThreatEntry
	var k VxtapThreatLpmKey
	var v uint32
	it := t.m.Iterate()
	for it.Next(&k, &v) {
		out = append(out, flow.ThreatEntry{Prefix: netip.PrefixFrom(addrFrom(k.Addr, uint8(k.Family)), int(k.Prefixlen)-32), List: uint16(v)})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read threats: %w", err)
	}
	return out, nil
}
