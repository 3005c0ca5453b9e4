package loader

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// spilledTable is a table whose bucket b is full with keys homed there,
// two more of them spilled into bucket b+1, and two keys homed at b+1 in
// b+1 itself, each with one packet: the home keys in order, spilled last.
func spilledTable(t *testing.T) (o *Objects, b uint32, home, own []uint16) {
	t.Helper()
	o = loadTable(t, 256)
	b = 5
	own = homedAt(o, b+1, 1, 2)
	home = homedAt(o, b, 1, bucketEntries+2)
	for _, sp := range append(append([]uint16(nil), own...), home...) {
		sendUDP(t, o, sp, 1)
	}
	if w := atomic.LoadUint32(&o.index.buckets[b].Lock); w&bucketAlone != 0 {
		t.Fatalf("keys of bucket %d in the next one, its word %#x says none", b, w)
	}
	return o, b, home, own
}

// udpKeys are the flow keys of sendUDP's packets from these ports.
func udpKeys(ports ...uint16) []flow.Key {
	var ks []flow.Key
	for _, sp := range ports {
		ks = append(ks, flowKey(7, in4a, in4b, 17, sp, 53))
	}
	return ks
}

// TestFlowIndexRegainAlone: a bucket whose keys spilled into the next one
// gets bucketAlone back when the last of them is removed, not before,
// whatever the next bucket's own keys; removing a key from the home bucket
// leaves the word as it is. Every copy after finds its flow: one flow per
// key, exact counts, no overflow.
func TestFlowIndexRegainAlone(t *testing.T) {
	testutil.RequirePrivileged(t)
	o, b, home, own := spilledTable(t)
	word := func() uint32 { return atomic.LoadUint32(&o.index.buckets[b].Lock) }
	steps := []struct {
		port  uint16
		alone bool
	}{
		{home[0], false},              // in the home bucket
		{home[bucketEntries], false},  // spilled, one more left in the next bucket
		{home[bucketEntries+1], true}, // the last spilled one
	}
	for _, s := range steps {
		if _, err := o.Remove(udpKeys(s.port)); err != nil {
			t.Fatal(err)
		}
		if w := word(); w&bucketAlone != 0 != s.alone || w&lockHeld != 0 {
			t.Fatalf("port %d removed: word %#x, want bucketAlone %v and free", s.port, w, s.alone)
		}
	}
	all := append(append([]uint16(nil), own...), home...)
	for _, sp := range all {
		sendUDP(t, o, sp, 2)
	}
	got := map[flow.Key]uint64{}
	seen := map[flow.Key]int{}
	if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] += c.Packets; seen[k]++ }); err != nil {
		t.Fatal(err)
	}
	removed := map[uint16]bool{}
	for _, s := range steps {
		removed[s.port] = true
	}
	for _, sp := range all {
		k := flowKey(7, in4a, in4b, 17, sp, 53)
		want := uint64(3)
		if removed[sp] {
			want = 2 // a new flow after its removal
		}
		if got[k] != want || seen[k] != 1 {
			t.Errorf("flow of port %d: %d packets in %d flows, want %d in 1", sp, got[k], seen[k], want)
		}
	}
	if s, over := flagPackets(t, o, "flow_start"), reasonPackets(t, o, "overflow"); s != uint64(len(all)+len(steps)) || over != 0 {
		t.Errorf("flow_start %d, overflow %d, want %d and 0", s, over, len(all)+len(steps))
	}
}

// TestRecoverRegainsAlone: RecoverSlots gives bucketAlone to every bucket
// none of whose keys is in the next one (an index pinned by a version
// before the flag has every word 0), and not to a bucket with a key
// spilled there; the traffic after is exact.
func TestRecoverRegainsAlone(t *testing.T) {
	testutil.RequirePrivileged(t)
	o, b, home, own := spilledTable(t)
	for i := range o.index.buckets {
		atomic.AndUint32(&o.index.buckets[i].Lock, ^bucketAlone)
	}
	rec, err := o.RecoverSlots()
	if err != nil {
		t.Fatal(err)
	}
	if rec.Alone != len(o.index.buckets)-1 {
		t.Errorf("RecoverSlots: %d buckets given bucketAlone, want %d (all but bucket %d)", rec.Alone, len(o.index.buckets)-1, b)
	}
	for i := range o.index.buckets {
		w := atomic.LoadUint32(&o.index.buckets[i].Lock)
		if w&bucketAlone != 0 == (uint32(i) == b) || w&lockHeld != 0 {
			t.Errorf("bucket %d: word %#x after RecoverSlots", i, w)
		}
	}
	all := append(append([]uint16(nil), own...), home...)
	for _, sp := range all {
		sendUDP(t, o, sp, 2)
	}
	got := map[flow.Key]uint64{}
	if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] += c.Packets }); err != nil {
		t.Fatal(err)
	}
	for _, sp := range all {
		if n := got[flowKey(7, in4a, in4b, 17, sp, 53)]; n != 3 {
			t.Errorf("flow of port %d: %d packets, want 3", sp, n)
		}
	}
	if s := flagPackets(t, o, "flow_start"); s != uint64(len(all)) {
		t.Errorf("flow_start %d, want %d", s, len(all))
	}
}

// TestRegainAloneUnderTraffic: the data path inserts and counts keys of
// one bucket (spilling into the next, in a new order each round) on one
// CPU while Go removes random ones on another, each removal of a spilled
// key letting the home bucket regain bucketAlone when it can. A flag set
// while a key of the bucket is still in the next one would make that
// key's next copy miss its entry and open a second flow for it. So: every
// key in one flow at most, and the packets sent per key equal what the
// removals returned plus what the walk shows, but for the copies of a
// new flow whose home bucket Go held too long (the overflow, index_busy;
// about one run in eight sent one there).
func TestRegainAloneUnderTraffic(t *testing.T) {
	testutil.RequirePrivileged(t)
	if runtime.NumCPU() < 2 {
		t.Fatalf("needs at least 2 CPUs, have %d", runtime.NumCPU())
	}
	o := loadTable(t, 256)
	const b, rounds = 9, 200
	ports := append(homedAt(o, b, 1, bucketEntries+2), homedAt(o, b+1, 1, 3)...)
	frames := map[uint16][]byte{}
	for _, sp := range ports {
		frames[sp] = mirrored(t, 7, innerUDP4(sp, 53, 20)...)
	}
	// The flow cache would hide a wrong flag: a key's later copies find
	// their slot there, not in the index. Every CPU's cache is emptied
	// after each removal, so copies look the index up.
	cache := o.VxtapMaps.FlowCache
	ncpu := ebpf.MustPossibleCPU()
	cacheKeys := make([]uint32, cache.MaxEntries())
	for i := range cacheKeys {
		cacheKeys[i] = uint32(i)
	}
	empty := make([]VxtapFlowCacheEntry, len(cacheKeys)*ncpu) // each key's value on every CPU
	sent := map[uint16]uint64{}
	removed := map[flow.Key]uint64{}
	var done atomic.Bool // set when either side stops: the other stops too
	send := func(rng *rand.Rand) error {
		for !done.Load() {
			for _, i := range rng.Perm(len(ports)) {
				if _, err := o.RunPacket(frames[ports[i]], time.Now()); err != nil {
					return err
				}
				sent[ports[i]]++
			}
		}
		return nil
	}
	remove := func(rng *rand.Rand) error {
		for r := range rounds {
			var ks []flow.Key
			for _, sp := range ports {
				if rng.IntN(3) == 0 {
					ks = append(ks, flowKey(7, in4a, in4b, 17, sp, 53))
				}
			}
			out, err := o.Remove(ks)
			if err != nil {
				return err
			}
			for k, c := range out {
				removed[k] += c.Packets
			}
			if _, err := cache.BatchUpdate(cacheKeys, empty, nil); err != nil {
				return err
			}
			// A key is in one live flow at any moment (each walk, not
			// only the last: a second flow is exact too, and a removal
			// may end it before the test does).
			live := map[flow.Key]int{}
			if err := o.Walk(func(k flow.Key, _ flow.Counters) { live[k]++ }); err != nil {
				return err
			}
			for k, n := range live {
				if n > 1 {
					return fmt.Errorf("round %d: %v in %d live flows", r, k, n)
				}
			}
		}
		return nil
	}
	err := onEachCPU(2, func(cpu int) error {
		defer done.Store(true)
		rng := rand.New(rand.NewPCG(uint64(cpu), 42))
		if cpu == 0 {
			return send(rng)
		}
		return remove(rng)
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[flow.Key]uint64{}
	seen := map[flow.Key]int{}
	if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] += c.Packets; seen[k]++ }); err != nil {
		t.Fatal(err)
	}
	// A new flow whose home bucket stays locked (Go's removal or regain
	// holding it while the scheduler runs something else) goes to the
	// overflow aggregates, counted as index_busy: exact, only not in the
	// flow. Every packet is in its flow or there.
	over, busy := reasonPackets(t, o, "overflow"), flagPackets(t, o, "index_busy")
	if over != busy {
		t.Errorf("overflow %d, index_busy %d: only a busy bucket may send a copy to the overflow", over, busy)
	}
	var inFlows, total uint64
	for _, sp := range ports {
		k := flowKey(7, in4a, in4b, 17, sp, 53)
		inFlows += got[k] + removed[k]
		total += sent[sp]
		if seen[k] > 1 || got[k]+removed[k] > sent[sp] { // and the sum below: at most over short
			t.Errorf("flow of port %d: %d flows, %d packets walked + %d removed, want at most 1 flow and %d packets (%d in the overflow)",
				sp, seen[k], got[k], removed[k], sent[sp], over)
		}
	}
	if inFlows+over != total {
		t.Errorf("%d packets in flows + %d in the overflow, want the %d sent", inFlows, over, total)
	}
	regained := o.index.regains.Load() // bucket b's: no other bucket spills
	if regained == 0 {
		t.Errorf("bucket %d never regained bucketAlone in %d rounds of removals", b, rounds)
	}
	t.Logf("bucket %d regained bucketAlone %d times in %d rounds; %d packets sent", b, regained, rounds, func() (n uint64) {
		for _, c := range sent {
			n += c
		}
		return
	}())
}
