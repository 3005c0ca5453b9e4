package shortkey

import (
	"net/netip"
	"testing"
)

// pack packs as the aggregator and the tracker do: addresses as 16
// bytes, 9 bytes of the rest, then both families.
func pack(src, dst netip.Addr, rest byte) Packed {
	var p Packed
	s, d := src.As16(), dst.As16()
	copy(p[0:16], s[:])
	copy(p[16:32], d[:])
	for i := 32; i < 41; i++ {
		p[i] = rest + byte(i)
	}
	fam := func(a netip.Addr) byte {
		switch {
		case a.Is4():
			return 1
		case a.Is6():
			return 2
		}
		return 0
	}
	p[41] = fam(src) | fam(dst)<<2
	return p
}

func TestRoundTrip(t *testing.T) {
	v4a, v4b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.19.255.7")
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:1")
	mapped := netip.MustParseAddr("::ffff:198.18.0.1") // IPv6 as the data path keys it: not short
	pairs := [][2]netip.Addr{{v4a, v4b}, {v6a, v6b}, {v4a, v6b}, {v6a, v4b}, {{}, {}}, {v4a, {}}, {mapped, v4b}}
	s := NewStore()
	var keys []Key
	var packed []Packed
	for i, pr := range pairs {
		p := pack(pr[0], pr[1], byte(i))
		k := s.Put(&p)
		keys, packed = append(keys, k), append(packed, p)
	}
	for i := range keys {
		if got := s.Packed(&keys[i]); got != packed[i] {
			t.Errorf("%v: unpacked %x, want %x", pairs[i], got, packed[i])
		}
		for j := range packed {
			if got := s.Equal(&keys[i], &packed[j]); got != (i == j) {
				t.Errorf("key %v equal to %v: %v", pairs[i], pairs[j], got)
			}
		}
	}
	if n := s.Long(); n != 4 {
		t.Errorf("%d keys in the side table, want 4", n)
	}
	for i := range keys {
		s.Drop(&keys[i])
	}
	if n := s.Long(); n != 0 {
		t.Errorf("%d keys in the side table after dropping all", n)
	}
	p := pack(v6a, v6a, 9) // a freed place is reused
	k := s.Put(&p)
	if s.Long() != 1 || len(s.long) != 4 || s.Packed(&k) != p {
		t.Errorf("reuse: %d long, table %d", s.Long(), len(s.long))
	}
}
