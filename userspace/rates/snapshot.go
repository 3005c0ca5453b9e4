package rates

import (
	"net/netip"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/internal/shortkey"
)

// Snapshot is one closed sweep. Readers get it through Tracker.View and
// must not keep it (or anything from it) after their function returns:
// it reads the tracker's own arrays, which the sweeps after it rewrite.
type Snapshot struct {
	At       time.Time     // when the sweep walked the table
	Interval time.Duration // since the previous sweep; 0 = first sweep, rates unknown
	Sweeps   uint64        // sweeps so far, this one included
	Totals   Totals

	order   []uint32 // the sweep's flows' slots in walk order
	nums    []nums   // by slot
	ids     []ident  // by slot
	keys    *shortkey.Store
	mirrors []mirrorEntry // mirror sources the identities point at
}

// Len is the number of flows.
func (s *Snapshot) Len() int { return len(s.order) }

// packed is flow i's packed key.
func (s *Snapshot) packed(i int) ckey { return ckey(s.keys.Packed(&s.ids[s.order[i]].key)) }

// Key is flow i's key.
func (s *Snapshot) Key(i int) flow.Key { return keyOf(s.keys, &s.ids[s.order[i]].key) }

// KeyMirror is flow i's key and mirror source, what filters look at.
func (s *Snapshot) KeyMirror(i int) (flow.Key, netip.Addr) {
	id := &s.ids[s.order[i]]
	return keyOf(s.keys, &id.key), s.mirrors[id.mirror].addr()
}

// Flow is flow i.
func (s *Snapshot) Flow(i int) Flow {
	slot := s.order[i]
	r, id := &s.nums[slot], &s.ids[slot]
	return Flow{Key: keyOf(s.keys, &id.key), MirrorSource: s.mirrors[id.mirror].addr(), Direction: id.dir,
		Packets: r.packets, Bytes: r.bytes,
		PPS: float64(r.pps), BPS: float64(r.bps), AvgPPS: float64(r.avgPPS), AvgBPS: float64(r.avgBPS)}
}

// Rates are flow i's numbers without its key, for ranking without
// unpacking keys.
func (s *Snapshot) Rates(i int) (pps, bps float64, bytes uint64) {
	r := &s.nums[s.order[i]]
	return float64(r.pps), float64(r.bps), r.bytes
}

// NewSnapshot makes a snapshot of the given flows (fakes and tests);
// the totals are summed from them. Rates are kept as a tracker keeps
// them (float32).
func NewSnapshot(at time.Time, interval time.Duration, sweeps uint64, flows []Flow) *Snapshot {
	s := &Snapshot{At: at, Interval: interval, Sweeps: sweeps,
		order: make([]uint32, len(flows)), nums: make([]nums, len(flows)), ids: make([]ident, len(flows)), keys: shortkey.NewStore()}
	var mt mirrorTable
	for i, f := range flows {
		s.order[i] = uint32(i)
		ck := compact(f.Key)
		s.ids[i] = ident{key: s.keys.Put(ck.packed()), dir: f.Direction, mirror: mt.acquire(f.MirrorSource)}
		s.nums[i] = nums{packets: f.Packets, bytes: f.Bytes,
			pps: float32(f.PPS), bps: float32(f.BPS), avgPPS: float32(f.AvgPPS), avgBPS: float32(f.AvgBPS)}
		r := &s.nums[i]
		tt := &s.Totals
		tt.Flows++
		tt.Packets += f.Packets
		tt.Bytes += f.Bytes
		tt.PPS += float64(r.pps)
		tt.BPS += float64(r.bps)
		tt.AvgPPS += float64(r.avgPPS)
		tt.AvgBPS += float64(r.avgBPS)
	}
	s.mirrors = mt.entries
	return s
}

// maxSkipRun is how many sweeps in a row readers may make the tracker
// skip before new readers wait for one to be made: one view that
// overlaps a sweep costs the next reader nothing.
const maxSkipRun = 2

// readerWait bounds how long a view waits for the sweep that catches up
// after skipped ones: a daemon that stopped sweeping must not hang its
// readers.
const readerWait = 5 * time.Second

// View calls fn with the last closed sweep. It waits for a sweep in
// progress to close, then runs fn on the tracker's own arrays, copying
// nothing (a million flows' copy was 40 MB). A sweep that begins while
// fn runs is skipped, not held up: the next one measures the rates over
// both intervals. After maxSkipRun skips in a row, new readers wait for
// the next sweep, so readers one after another cannot keep the rates
// stale. fn must not keep the snapshot.
func (t *Tracker) View(fn func(*Snapshot)) {
	t.mu.Lock()
	if ch := t.caughtUp; ch != nil {
		t.mu.Unlock()
		timer := time.NewTimer(readerWait)
		select {
		case <-ch:
		case <-timer.C:
		}
		timer.Stop()
		t.mu.Lock()
	}
	held := time.Now()
	h := t.front
	s := &Snapshot{At: h.at, Interval: h.interval, Sweeps: h.sweeps, Totals: h.totals,
		order: t.order, nums: t.nums, ids: t.ids, keys: t.keys, mirrors: t.mirrors.entries}
	t.readers++
	t.lastHold.Store(int64(time.Since(held)))
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.readers--
		t.mu.Unlock()
		s.order, s.nums, s.ids, s.keys, s.mirrors = nil, nil, nil, nil, nil
	}()
	fn(s)
}

// LastViewHold is how long the last View held the tracker's lock to
// register: the longest a reader can have made a sweep wait.
func (t *Tracker) LastViewHold() time.Duration { return time.Duration(t.lastHold.Load()) }

// Parts of a flow's identity, as Diff reports them.
const (
	DiffVNI = 1 << iota
	DiffMirror
	DiffSrc
	DiffDst
	DiffProto
	DiffSPort
	DiffDPort
)

// Diff says which parts of flows i and j's identities differ (Diff*
// bits), comparing the packed keys: cheaper than unpacking both.
func (s *Snapshot) Diff(i, j int) uint8 {
	a, b := &s.ids[s.order[i]], &s.ids[s.order[j]]
	var d uint8
	sa, sb := &a.key, &b.key
	if sa.Short() && sb.Short() { // compare the short keys themselves: k[8:18] is ckey[32:42]
		if [4]byte(sa[8:12]) != [4]byte(sb[8:12]) {
			d |= DiffVNI
		}
		if a.mirror != b.mirror && s.mirrors[a.mirror].mirrorAddr != s.mirrors[b.mirror].mirrorAddr {
			d |= DiffMirror
		}
		if [4]byte(sa[0:4]) != [4]byte(sb[0:4]) || sa[17]&3 != sb[17]&3 {
			d |= DiffSrc
		}
		if [4]byte(sa[4:8]) != [4]byte(sb[4:8]) || sa[17]>>2&3 != sb[17]>>2&3 {
			d |= DiffDst
		}
		if sa[16] != sb[16] {
			d |= DiffProto
		}
		if [2]byte(sa[12:14]) != [2]byte(sb[12:14]) {
			d |= DiffSPort
		}
		if [2]byte(sa[14:16]) != [2]byte(sb[14:16]) {
			d |= DiffDPort
		}
		return d
	}
	pa, pb := s.packed(i), s.packed(j)
	ka, kb := &pa, &pb
	if [4]byte(ka[32:36]) != [4]byte(kb[32:36]) {
		d |= DiffVNI
	}
	if a.mirror != b.mirror && s.mirrors[a.mirror].mirrorAddr != s.mirrors[b.mirror].mirrorAddr {
		d |= DiffMirror
	}
	if [16]byte(ka[0:16]) != [16]byte(kb[0:16]) || ka[41]&3 != kb[41]&3 {
		d |= DiffSrc
	}
	if [16]byte(ka[16:32]) != [16]byte(kb[16:32]) || ka[41]>>2&3 != kb[41]>>2&3 {
		d |= DiffDst
	}
	if ka[40] != kb[40] {
		d |= DiffProto
	}
	if [2]byte(ka[36:38]) != [2]byte(kb[36:38]) {
		d |= DiffSPort
	}
	if [2]byte(ka[38:40]) != [2]byte(kb[38:40]) {
		d |= DiffDPort
	}
	return d
}

// Addrs are flow i's source and destination as 16 bytes each (IPv4
// mapped) and their families (FamilyNone, Family4, Family6): what
// grouping by address needs, without unpacking the key.
func (s *Snapshot) Addrs(i int) (src, dst [16]byte, srcFam, dstFam uint8) {
	if k := &s.ids[s.order[i]].key; k.Short() {
		return addr16(k[0:4], k[17]&3), addr16(k[4:8], k[17]>>2&3), k[17] & 3, k[17] >> 2 & 3
	}
	k := s.packed(i)
	return [16]byte(k[0:16]), [16]byte(k[16:32]), k[41] & 3, k[41] >> 2 & 3
}

// addr16 is an address of family fam (none or IPv4) whose last 4 bytes
// are b, as 16 bytes (IPv4-mapped, as netip's As16).
func addr16(b []byte, fam uint8) [16]byte {
	var a [16]byte
	if fam == Family4 {
		a[10], a[11] = 0xff, 0xff
		copy(a[12:], b)
	}
	return a
}

// Ports are flow i's VNI, protocol and destination port.
func (s *Snapshot) Ports(i int) (vni uint32, proto uint8, dport uint16) {
	k := &s.ids[s.order[i]].key // k[8:18] is ckey[32:42], in every short key
	return uint32(k[8])<<24 | uint32(k[9])<<16 | uint32(k[10])<<8 | uint32(k[11]), k[16], uint16(k[14])<<8 | uint16(k[15])
}

// MirrorAddr is flow i's mirror source as Addrs gives addresses.
func (s *Snapshot) MirrorAddr(i int) ([16]byte, uint8) {
	m := &s.mirrors[s.ids[s.order[i]].mirror]
	return m.a, m.fam
}

// Address families as Addrs and MirrorAddr give them.
const (
	FamilyNone = 0
	Family4    = 1
	Family6    = 2
)

// Numbers are a flow's numbers and direction, without its key.
type Numbers struct {
	Direction                flow.Direction
	Packets, Bytes           uint64
	PPS, BPS, AvgPPS, AvgBPS float64
}

// Numbers is flow i's numbers.
func (s *Snapshot) Numbers(i int) Numbers {
	slot := s.order[i]
	r := &s.nums[slot]
	return Numbers{Direction: s.ids[slot].dir, Packets: r.packets, Bytes: r.bytes,
		PPS: float64(r.pps), BPS: float64(r.bps), AvgPPS: float64(r.avgPPS), AvgBPS: float64(r.avgBPS)}
}
