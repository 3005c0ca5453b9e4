package shortkey

import (
	"math/rand/v2"
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
	fam := Family
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
		t.Errorf("%d keys with numbered addresses, want 4", n)
	}
	for i := range keys {
		s.Drop(&keys[i])
	}
	if n := s.Long(); n != 0 {
		t.Errorf("%d keys with numbered addresses after dropping all", n)
	}
	if n := s.Addrs(); n != 0 {
		t.Errorf("%d addresses in the table after dropping all", n)
	}
	p := pack(v6a, v6a, 9) // a freed number is reused
	k := s.Put(&p)
	if s.Long() != 1 || s.Addrs() != 1 || s.Packed(&k) != p {
		t.Errorf("reuse: %d long, %d addresses", s.Long(), s.Addrs())
	}
}

// TestAddressesShared checks that keys sharing an address keep it once,
// and that it stays until the last of them is dropped.
func TestAddressesShared(t *testing.T) {
	s := NewStore()
	eni := netip.MustParseAddr("2001:db8::a")
	var keys []Key
	var packed []Packed
	for i := range 1000 {
		peer := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 15: byte(i % 10)})
		p := pack(eni, peer, byte(i))
		keys, packed = append(keys, s.Put(&p)), append(packed, p)
	}
	if s.Addrs() != 11 || s.Long() != 1000 {
		t.Fatalf("%d addresses for %d keys, want 11 for 1000", s.Addrs(), s.Long())
	}
	for i := range keys[:990] { // the last ten keep every address
		s.Drop(&keys[i])
	}
	for i := 990; i < 1000; i++ {
		if got := s.Packed(&keys[i]); got != packed[i] || !s.Equal(&keys[i], &packed[i]) {
			t.Fatalf("key %d after the others went: %x, want %x", i, got, packed[i])
		}
	}
	if s.Addrs() != 11 {
		t.Fatalf("%d addresses with ten keys left, want 11", s.Addrs())
	}
	for i := 990; i < 1000; i++ {
		s.Drop(&keys[i])
	}
	if s.Addrs() != 0 || s.Long() != 0 {
		t.Fatalf("%d addresses, %d keys after dropping all", s.Addrs(), s.Long())
	}
}

// TestChurn puts and drops keys at random, over few addresses so they
// are shared and reused, and checks every live key against what it
// was made from and the table against the live keys' addresses.
func TestChurn(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	addrOf := func() netip.Addr {
		switch rnd.IntN(4) {
		case 0:
			return netip.AddrFrom4([4]byte{198, 18, 0, byte(rnd.IntN(8))})
		case 1:
			return netip.Addr{}
		}
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(rnd.IntN(40))})
	}
	s := NewStore()
	type live struct {
		k Key
		p Packed
	}
	var keys []live
	for step := range 20000 {
		if len(keys) > 0 && rnd.IntN(2) == 0 {
			j := rnd.IntN(len(keys))
			s.Drop(&keys[j].k)
			keys[j] = keys[len(keys)-1]
			keys = keys[:len(keys)-1]
		} else {
			p := pack(addrOf(), addrOf(), byte(step))
			keys = append(keys, live{s.Put(&p), p})
		}
		if step%997 != 0 {
			continue
		}
		distinct := map[[16]byte]bool{}
		for _, l := range keys {
			if got := s.Packed(&l.k); got != l.p || !s.Equal(&l.k, &l.p) {
				t.Fatalf("step %d: %x unpacked %x", step, l.p, got)
			}
			if !l.k.Short() {
				distinct[[16]byte(l.p[0:16])], distinct[[16]byte(l.p[16:32])] = true, true
			}
		}
		if s.Addrs() != len(distinct) {
			t.Fatalf("step %d: %d addresses in the table, live keys have %d", step, s.Addrs(), len(distinct))
		}
	}
}

// TestPut16 checks Put16 against As16 and Family.
func TestPut16(t *testing.T) {
	for _, a := range []netip.Addr{{}, netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("0.0.0.0"),
		netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:198.18.0.1"),
		netip.MustParseAddr("::"), netip.MustParseAddr("fe80::1%eth0")} {
		dst := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16} // overwritten whole
		if fam := Put16(&dst, a); dst != a.As16() || fam != Family(a) {
			t.Errorf("%v: Put16 %x family %d, want %x %d", a, dst, fam, a.As16(), Family(a))
		}
	}
}
