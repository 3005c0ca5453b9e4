package detect

import (
	"math"
	"math/bits"
	"net/netip"
)

// hllRegisters is the register count of a distinct counter: 64 one-byte
// registers give about 13% standard error in the HyperLogLog range and
// near-exact counts below ~150 (the linear-counting range), which is
// where the thresholds sit, for 64 bytes per counter.
const (
	hllBits      = 6
	hllRegisters = 1 << hllBits
)

// distinct estimates how many different values were added, in fixed
// memory (a HyperLogLog sketch).
type distinct [hllRegisters]uint8

// add records a value's 64-bit hash; it reports whether the estimate
// may have changed (a register grew), so callers re-count only then.
func (d *distinct) add(h uint64) bool {
	idx := h >> (64 - hllBits)
	rest := h<<hllBits | 1<<(hllBits-1) // a set bit bounds the rank
	rank := uint8(bits.LeadingZeros64(rest)) + 1
	if rank > d[idx] {
		d[idx] = rank
		return true
	}
	return false
}

// pow2neg[r] is 2^-r, for the registers' ranks (at most 64-hllBits+1).
var pow2neg = func() (t [66]float64) {
	for r := range t {
		t[r] = math.Ldexp(1, -r)
	}
	return
}()

// count is the estimate: linear counting while registers are still
// empty (small sets), the harmonic-mean estimate above that.
func (d *distinct) count() float64 {
	var sum float64
	zeros := 0
	for _, r := range d {
		sum += pow2neg[r]
		if r == 0 {
			zeros++
		}
	}
	const m = float64(hllRegisters)
	est := 0.709 * m * m / sum // alpha for 64 registers
	if est <= 2.5*m && zeros > 0 {
		return m * math.Log(m/float64(zeros))
	}
	return est
}

func (d *distinct) reset() { *d = distinct{} }

// mix64 scrambles x so every input bit moves every output bit (a
// multiply-xorshift finaliser); the sketches need well-spread hashes.
func mix64(x uint64) uint64 {
	x ^= x >> 31
	x *= 0x7fb5d329728ea185
	x ^= x >> 27
	x *= 0x81dadef4bc2dd44d
	x ^= x >> 33
	return x
}

// hashAddr hashes an address (both families, IPv4 as 4-in-6).
func hashAddr(a netip.Addr) uint64 {
	b := a.As16()
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return mix64(hi ^ mix64(lo))
}

func hashPort(p uint16) uint64 { return mix64(uint64(p) | 0xa5<<56) }
