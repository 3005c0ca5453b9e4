package detect

import (
	"math"
	"net/netip"
	"testing"
)

// The distinct counter is near exact where thresholds sit and within a
// few standard errors (13% for 64 registers) above.
func TestDistinctAccuracy(t *testing.T) {
	for _, n := range []int{1, 10, 50, 100, 150, 1000, 10000, 100000} {
		var d distinct
		for i := 0; i < n; i++ {
			d.add(hashPort(uint16(i)) ^ mix64(uint64(i)))
			d.add(hashPort(uint16(i)) ^ mix64(uint64(i))) // duplicates change nothing
		}
		got := d.count()
		tol := 0.4 // three standard errors
		if n <= 150 {
			tol = 0.15
		}
		if math.Abs(got-float64(n)) > tol*float64(n)+1 {
			t.Errorf("%d distinct values: estimate %.1f", n, got)
		}
	}
	var d distinct
	if d.count() != 0 {
		t.Fatal("an empty counter counts something")
	}
}

// A full table keeps a host that stays active through a flood of new
// keys, never grows past its limit, and counts what it evicted.
func TestTableEviction(t *testing.T) {
	tb := newTable[hostKey, scanState](1000)
	busy := hostKey{1, netip.MustParseAddr("198.18.0.1")}
	for i := 0; i < 100000; i++ {
		now := int64(i)
		tb.get(busy, now).attempts++
		tb.get(hostKey{1, netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})}, now)
		if tb.len() > 1000 {
			t.Fatalf("table grew to %d", tb.len())
		}
	}
	if s := tb.get(busy, 1e6); s.attempts != 100000 {
		t.Fatalf("the busy host lost its state: %d attempts", s.attempts)
	}
	if tb.evicted < 90000 {
		t.Fatalf("evicted %d", tb.evicted)
	}
	tb.setLimit(10)
	if tb.len() != 10 {
		t.Fatalf("shrunk to %d", tb.len())
	}
	for k, i := range tb.idx {
		if tb.keys[i] != k {
			t.Fatalf("index of %v points at %v", k, tb.keys[i])
		}
	}
}

func TestMajority(t *testing.T) {
	a, b := netip.MustParseAddr("198.19.0.1"), netip.MustParseAddr("198.19.0.2")
	var m majority
	m.add(b)
	for range 10 {
		m.add(a)
	}
	if got, ok := m.get(); !ok || got != a {
		t.Fatalf("majority %v %v", got, ok)
	}
	var spread majority
	for i := 0; i < 1000; i++ {
		spread.add(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}))
	}
	if got, ok := spread.get(); ok {
		t.Fatalf("1000 different sources elected %v", got)
	}
}

// FuzzParseSample: no frame crashes the DNS parser, and every frame ends
// under one of the named outcomes.
func FuzzParseSample(f *testing.F) {
	f.Add(udpFrame(inst, resolver, 33000, 53, dnsMsg(1, "pool.minexmr.com", false), 0))
	f.Add(udpFrame(inst6, resolver, 33000, 53, dnsMsg(1, "a.b", false), 2)[:60])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		qs, why := ParseSample(flowSample(data))
		known := false
		for _, r := range DNSReasons {
			known = known || r == why
		}
		if !known || (why == DNSOK) != (len(qs) > 0) {
			t.Fatalf("outcome %q with %d queries", why, len(qs))
		}
	})
}
