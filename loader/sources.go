package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
)

// Sources is the narrow handle on the trusted outer sources
// (allowed_sources) and on the refused ones (offenders).
type Sources struct {
	allowed, offenders *ebpf.Map
	names              []string
}

// Sources returns the handle on the source tables.
func (o *Objects) Sources() *Sources {
	return &Sources{allowed: o.AllowedSources, offenders: o.Offenders, names: o.names.reasons}
}

func sourceKey(p netip.Prefix) VxtapSourceLpmKey {
	var k VxtapSourceLpmKey
	p = p.Masked()
	k.Family = uint32(addrTo(p.Addr(), &k.Addr))
	k.Prefixlen = 32 + uint32(p.Bits())
	return k
}

// Set makes prefixes the trusted outer sources. New ones go in before old
// ones leave, so a source in both sets is never refused meanwhile.
func (s *Sources) Set(prefixes []netip.Prefix) error {
	want := map[VxtapSourceLpmKey]bool{}
	for _, p := range prefixes {
		if !p.IsValid() {
			return fmt.Errorf("allowed source %v is not a CIDR", p)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		want[sourceKey(p)] = true
	}
	if len(want) > int(s.allowed.MaxEntries()) {
		return fmt.Errorf("%d allowed sources, the table holds %d", len(want), s.allowed.MaxEntries())
	}
	var have []VxtapSourceLpmKey
	var k VxtapSourceLpmKey
	it := s.allowed.Iterate()
	var v uint8
	for it.Next(&k, &v) {
		have = append(have, k)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read allowed_sources: %w", err)
	}
	for k := range want {
		if err := s.allowed.Update(&k, uint8(1), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("add allowed source: %w", err)
		}
	}
	var errs error
	for _, k := range have {
		if !want[k] {
			if err := s.allowed.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				errs = errors.Join(errs, fmt.Errorf("remove allowed source: %w", err))
			}
		}
	}
	return errs
}

// List returns the trusted prefixes, sorted.
func (s *Sources) List() ([]netip.Prefix, error) {
	var out []netip.Prefix
	var k VxtapSourceLpmKey
	var v uint8
	it := s.allowed.Iterate()
	for it.Next(&k, &v) {
		a := addrFrom(k.Addr, uint8(k.Family))
		out = append(out, netip.PrefixFrom(a, int(k.Prefixlen)-32))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read allowed_sources: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// Offenders implements flow.OffenderSource: the n busiest refused sources
// by packets (all when n <= 0). The table keeps the most recently seen
// 1,024 (LRU), so a flood of spoofed sources cannot grow it.
func (s *Sources) Offenders(n int) ([]flow.Offender, error) {
	var out []flow.Offender
	var k VxtapOffenderKey
	var per []VxtapCounter
	it := s.offenders.Iterate()
	for it.Next(&k, &per) {
		o := flow.Offender{Source: addrFrom(k.Addr, k.Family)}
		if int(k.Reason) < len(s.names) {
			o.Reason = s.names[k.Reason]
		}
		for _, c := range per {
			o.Packets += c.Packets
			o.Bytes += c.Bytes
		}
		out = append(out, o)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read offenders: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Packets != out[j].Packets {
			return out[i].Packets > out[j].Packets
		}
		return out[i].Source.Less(out[j].Source)
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out, nil
}
