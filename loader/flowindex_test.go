package loader

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// flagPackets is the count of a flag by name.
func flagPackets(t testing.TB, o *Objects, name string) uint64 {
	t.Helper()
	_, flags, err := o.Counters()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flags {
		if f.Name == name {
			return f.Packets
		}
	}
	t.Fatalf("no flag %s", name)
	return 0
}

// randomFlow is a mirror copy of a random inner flow (IPv4 or IPv6, TCP
// or UDP, any VNI, addresses and ports) and its key.
func randomFlow(t testing.TB, r *rand.Rand) ([]byte, flow.Key) {
	vni := r.Uint32N(1 << 24)
	proto := layers.IPProtocolUDP
	if r.IntN(2) == 0 {
		proto = layers.IPProtocolTCP
	}
	sport, dport := uint16(r.Uint32()), uint16(r.Uint32())
	var src, dst netip.Addr
	var ip gopacket.SerializableLayer
	et := layers.EthernetTypeIPv4
	if r.IntN(2) == 0 {
		var a, b [4]byte
		binaryRand(r, a[:])
		binaryRand(r, b[:])
		src, dst = netip.AddrFrom4(a), netip.AddrFrom4(b)
		ip = ip4L(proto, src, dst)
	} else {
		var a, b [16]byte
		binaryRand(r, a[:])
		binaryRand(r, b[:])
		a[0], b[0] = 0x20, 0x20 // global unicast
		src, dst = netip.AddrFrom16(a), netip.AddrFrom16(b)
		ip = ip6L(proto, src, dst)
		et = layers.EthernetTypeIPv6
	}
	var l4 gopacket.SerializableLayer = udpL(sport, dport)
	if proto == layers.IPProtocolTCP {
		l4 = tcpL(sport, dport)
	}
	return mirrored(t, vni, ethL(et), ip, l4, payload(8)), flowKey(vni, src, dst, uint8(proto), sport, dport)
}

func binaryRand(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// TestFlowHashMatchesKernel: the Go reference of the hash, home bucket
// and tag (flowindex.go) places every key where the kernel put it. Random
// keys go in through BPF_PROG_TEST_RUN; Go finds each one scanning only
// the key's home and next bucket for entries with its tag, and the index
// holds no other entry.
func TestFlowHashMatchesKernel(t *testing.T) {
	testutil.RequirePrivileged(t)
	const n = 3000
	o := loadTable(t, 1<<16)
	r := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	keys := map[flow.Key]bool{}
	for len(keys) < n {
		f, k := randomFlow(t, r)
		if keys[k] {
			continue
		}
		keys[k] = true
		if _, err := o.RunPacket(f, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if p := reasonPackets(t, o, "flow"); p != n {
		t.Fatalf("%d copies accounted as flows, want %d", p, n)
	}
	for k := range keys {
		bk := keyToBPF(k)
		idx, ok := o.index.Lookup(&bk)
		if !ok {
			t.Fatalf("flow %s: not where the Go hash looks (home %d of %d, tag %#x)", k,
				flowHome(flowHash(&bk, &o.index.key), uint32(len(o.index.buckets))), len(o.index.buckets), flowTag(flowHash(&bk, &o.index.key)))
		}
		if got := keyFromBPF(&o.table.slots[idx].Key); got != k {
			t.Fatalf("flow %s: slot %d holds %s", k, idx, got)
		}
	}
	entries := 0
	o.index.Range(func(uint32) { entries++ })
	if entries != n {
		t.Errorf("%d index entries, want %d", entries, n)
	}
}

// TestFlowSeedPinned: the hash seed is random per pin set, kept in the
// pinned flow_ctl, so a reload over the pins (a restarted daemon) and
// OpenPinned's reader find the flows the first program indexed.
func TestFlowSeedPinned(t *testing.T) {
	testutil.RequirePrivileged(t)
	dir := filepath.Join("/sys/fs/bpf", fmt.Sprintf("vxtap-seed-%d", os.Getpid()))
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := DefaultConfig()
	cfg.PinPath = dir
	cfg.FlowTableSize = 4096
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var seed uint64
	if err := o.FlowCtl.Lookup(uint32(VxtapVxtapConstFLOW_CTL_SEED), &seed); err != nil || seed == 0 {
		t.Fatalf("seed %#x, %v: want a random one stored", seed, err)
	}
	for sp := uint16(1); sp <= 100; sp++ {
		sendUDP(t, o, sp, 1)
	}
	o.Close()
	o, err = Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var again uint64
	if err := o.FlowCtl.Lookup(uint32(VxtapVxtapConstFLOW_CTL_SEED), &again); err != nil || again != seed {
		t.Fatalf("seed %#x after reload, want %#x (%v)", again, seed, err)
	}
	for sp := uint16(1); sp <= 100; sp++ {
		sendUDP(t, o, sp, 1) // found by the new program: no new flow
	}
	if s := flagPackets(t, o, "flow_start"); s != 100 {
		t.Errorf("%d flow starts over both programs, want 100", s)
	}
	got := map[flow.Key]uint64{}
	if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] = c.Packets }); err != nil {
		t.Fatal(err)
	}
	for sp := uint16(1); sp <= 100; sp++ {
		k := flowKey(7, in4a, in4b, 17, sp, 53)
		bk := keyToBPF(k)
		if _, ok := o.index.Lookup(&bk); !ok || got[k] != 2 {
			t.Errorf("flow %d: indexed %v, %d packets, want 2", sp, ok, got[k])
		}
	}
	// A fresh load (no pins) gets another seed.
	p := loadTable(t, 64)
	var other uint64
	if err := p.FlowCtl.Lookup(uint32(VxtapVxtapConstFLOW_CTL_SEED), &other); err != nil || other == seed || other == 0 {
		t.Errorf("seed %#x of a fresh load, pinned one %#x (%v)", other, seed, err)
	}
}

// TestFlowTableTooLarge: a table past what an entry's 24 bits of slot
// hold is refused, saying why.
func TestFlowTableTooLarge(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FlowTableSize = MaxFlowTableSize + 1
	_, err := Load(cfg)
	if err == nil || !strings.Contains(err.Error(), "flow index") {
		t.Fatalf("Load with %d slots: %v, want the flow index's limit", cfg.FlowTableSize, err)
	}
}

// TestOtherLayoutRefused: pins of a version whose flow_index is the
// kernel hash (or whose flow_ctl has no seed) are refused with a message
// that says so, never mapped.
func TestOtherLayoutRefused(t *testing.T) {
	testutil.RequirePrivileged(t)
	old, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 44, ValueSize: 4, MaxEntries: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	ctl, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	o := loadTable(t, 64)
	for _, c := range []struct {
		index, ctl *ebpf.Map
	}{{old, o.FlowCtl}, {o.FlowIndex, ctl}} {
		_, err := mapIndex(c.index, c.ctl, nil)
		if !errors.Is(err, errOtherLayout) {
			t.Errorf("mapIndex(%s, flow_ctl of %d): %v, want the other-version error", c.index.Type(), c.ctl.MaxEntries(), err)
		}
	}
}

// homedAt is count UDP source ports whose flow (VNI 7, in4a -> in4b, to
// port 53) has home bucket b, from sport up.
func homedAt(o *Objects, b uint32, from uint16, count int) []uint16 {
	var out []uint16
	n := uint32(len(o.index.buckets))
	for sp := from; len(out) < count; sp++ {
		bk := keyToBPF(flowKey(7, in4a, in4b, 17, sp, 53))
		if flowHome(flowHash(&bk, &o.index.key), n) == b {
			out = append(out, sp)
		}
	}
	return out
}

// TestFlowIndexFullBuckets: keys crafted with the Go hash to share one
// home bucket fill it and the next (30 entries); the 31st key's copies go
// to the overflow aggregates, counted (index_full), while a key homed at
// the next bucket still finds room in the one after. Once a flow is
// removed, its hole takes the waiting key.
func TestFlowIndexFullBuckets(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadTable(t, 256)
	nb := uint32(len(o.index.buckets))
	const b = 3
	ports := homedAt(o, b, 1, 2*bucketEntries+1)
	for _, sp := range ports[:2*bucketEntries] {
		sendUDP(t, o, sp, 1)
	}
	if p := reasonPackets(t, o, "overflow"); p != 0 {
		t.Fatalf("overflow %d while the two buckets had room", p)
	}
	last := ports[2*bucketEntries]
	sendUDP(t, o, last, 3)
	if p, f := reasonPackets(t, o, "overflow"), flagPackets(t, o, "index_full"); p != 3 || f != 3 {
		t.Fatalf("overflow %d, index_full %d, want 3 and 3: the home and next bucket are full", p, f)
	}
	// A key homed at the full next bucket goes to the one after it.
	nextHomed := homedAt(o, (b+1)%nb, 1, 1)[0]
	sendUDP(t, o, nextHomed, 1)
	if p := reasonPackets(t, o, "overflow"); p != 3 {
		t.Fatalf("overflow %d after a key homed at bucket %d, want still 3", p, b+1)
	}
	bk := keyToBPF(flowKey(7, in4a, in4b, 17, nextHomed, 53))
	if idx, ok := o.index.Lookup(&bk); !ok || o.slotCounters(idx, 0).Packets != 1 {
		t.Fatalf("flow homed at the next bucket: indexed %v", ok)
	}
	// One flow out: its hole takes the waiting key.
	gone := flowKey(7, in4a, in4b, 17, ports[0], 53)
	if _, err := o.Remove([]flow.Key{gone}); err != nil {
		t.Fatal(err)
	}
	sendUDP(t, o, last, 2)
	got := map[flow.Key]uint64{}
	if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] = c.Packets }); err != nil {
		t.Fatal(err)
	}
	if p, w := reasonPackets(t, o, "overflow"), got[flowKey(7, in4a, in4b, 17, last, 53)]; p != 3 || w != 2 {
		t.Errorf("overflow %d, the waiting flow %d packets, want 3 and 2", p, w)
	}
	if len(got) != 2*bucketEntries+1 {
		t.Errorf("%d flows, want %d", len(got), 2*bucketEntries+1)
	}
}

// TestFlowIndexLockHeld: while Go holds a bucket's lock (set in the
// mapped bucket), a new flow homed there goes to the overflow, counted
// (index_busy); a known flow homed there is still found (lookups take no
// lock); once the lock is free the new flow is made. Nothing is lost.
func TestFlowIndexLockHeld(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadTable(t, 256)
	const b = 5
	ports := homedAt(o, b, 1, 2)
	known, fresh := ports[0], ports[1]
	sendUDP(t, o, known, 1)
	lock := &o.index.buckets[b].Lock
	atomic.StoreUint32(lock, 1)
	sendUDP(t, o, fresh, 4)
	sendUDP(t, o, known, 2)
	if p, f := reasonPackets(t, o, "overflow"), flagPackets(t, o, "index_busy"); p != 4 || f != 4 {
		t.Fatalf("overflow %d, index_busy %d with the lock held, want 4 and 4", p, f)
	}
	if atomic.LoadUint32(lock) != 1 {
		t.Fatal("the data path released a lock it did not hold")
	}
	atomic.StoreUint32(lock, 0)
	sendUDP(t, o, fresh, 1)
	got := map[flow.Key]uint64{}
	if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] = c.Packets }); err != nil {
		t.Fatal(err)
	}
	kk, kf := flowKey(7, in4a, in4b, 17, known, 53), flowKey(7, in4a, in4b, 17, fresh, 53)
	if got[kk] != 3 || got[kf] != 1 || reasonPackets(t, o, "overflow") != 4 {
		t.Errorf("known %d, fresh %d, overflow %d packets, want 3, 1, 4", got[kk], got[kf], reasonPackets(t, o, "overflow"))
	}
	// Go's insert waits for the lock too: a republish under a held lock
	// finishes only once it is free.
	atomic.StoreUint32(lock, 1)
	done := make(chan error, 1)
	go func() {
		_, err := o.index.InsertNoExist(&[]VxtapFlowKey{keyToBPF(kf)}[0], 99)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("insert under a held lock returned %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	atomic.StoreUint32(lock, 0)
	if err := <-done; err != ebpf.ErrKeyExist {
		t.Errorf("insert of a present key: %v, want ErrKeyExist", err)
	}
}

// TestFlowIndexConcurrentInsert: every CPU sends the same new flows in the
// same order, meeting at each key first, so their first copies race to
// insert the same keys.
// Each key gets exactly one slot (one entry, one flow start, no slot
// claimed twice), and every copy is in that slot or, if a lock stayed
// busy, in the overflow.
func TestFlowIndexConcurrentInsert(t *testing.T) {
	testutil.RequirePrivileged(t)
	ncpu := runtime.NumCPU()
	if ncpu < 2 {
		t.Fatalf("needs at least 2 CPUs, have %d", ncpu)
	}
	const nflows, rounds = 4000, 3
	o := loadTable(t, 1<<14)
	ev, err := o.OpenEvents()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	frames := make([][]byte, nflows)
	for i := range frames {
		frames[i] = mirrored(t, 9, innerUDP4(uint16(1000+i), 53, 20)...)
	}
	// arrived counts the CPUs at each key of the first round: each waits
	// for all before sending its first copy, so they race on every key.
	arrived := make([]atomic.Int32, nflows)
	err = onEachCPU(ncpu, func(int) error {
		for r := 0; r < rounds; r++ {
			for i, f := range frames {
				if r == 0 {
					arrived[i].Add(1)
					for deadline := time.Now().Add(time.Second); arrived[i].Load() < int32(ncpu) && time.Now().Before(deadline); {
					}
				}
				if _, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: f}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[flow.Key]uint64{}
	var sum uint64
	if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] = c.Packets; sum += c.Packets }); err != nil {
		t.Fatal(err)
	}
	entries := map[uint32]int{}
	o.index.Range(func(s uint32) { entries[s]++ })
	n, err := o.used()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != nflows || len(entries) != nflows || n != nflows {
		t.Fatalf("%d flows, %d index entries, %d slots handed out; want %d each", len(got), len(entries), n, nflows)
	}
	for s, c := range entries {
		if c != 1 {
			t.Errorf("slot %d in the index %d times", s, c)
		}
	}
	over := reasonPackets(t, o, "overflow")
	if total := uint64(ncpu * rounds * nflows); sum+over != total {
		t.Errorf("%d packets in flows + %d in the overflow, want %d", sum, over, total)
	}
	if over != flagPackets(t, o, "index_busy") {
		t.Errorf("overflow %d, index_busy %d: only a busy lock sends a copy there", over, flagPackets(t, o, "index_busy"))
	}
	t.Logf("copies to the overflow on a busy lock: %d of %d", over, ncpu*rounds*nflows)
	starts := flowStarts(t, ev)
	for k := range got {
		if starts[k] != 1 {
			t.Errorf("flow %s: %d flow starts, want 1", k, starts[k])
		}
	}
}

// TestFlowIndexRemoveReinsert: while every CPU sends copies of a set of
// flows, Go removes some (Remove: read, freed), detaches others and puts
// them back as a restart does (Detach then RecoverSlots: Go's locked
// insert, or a merge into the slot a CPU made meanwhile), over and over.
// Every copy ends up exactly once: in a removed flow's counters, a flow
// still in the table, or the overflow.
func TestFlowIndexRemoveReinsert(t *testing.T) {
	testutil.RequirePrivileged(t)
	ncpu := runtime.NumCPU()
	const nflows, rounds = 64, 400
	o := loadTable(t, 1024)
	keys := make([]flow.Key, nflows)
	frames := make([][]byte, nflows)
	for i := range frames {
		frames[i] = mirrored(t, 11, innerUDP4(uint16(2000+i), 53, 20)...)
		keys[i] = flowKey(11, in4a, in4b, 17, uint16(2000+i), 53)
	}
	var stop atomic.Bool
	sent := make(chan error, 1)
	go func() {
		sent <- onEachCPU(ncpu, func(int) error {
			for r := 0; r < rounds; r++ {
				for _, f := range frames {
					if _, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: f}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		stop.Store(true)
	}()
	// Go removes, detaches and recovers while the CPUs send.
	removed := map[flow.Key]uint64{}
	var recovered Recovered
	var goErr error
	r := rand.New(rand.NewPCG(2, 3))
	for !stop.Load() && goErr == nil {
		var rm, det []flow.Key
		for _, k := range keys {
			switch r.IntN(4) {
			case 0:
				rm = append(rm, k)
			case 1:
				det = append(det, k)
			}
		}
		out, err := o.Remove(rm)
		if err != nil {
			goErr = err
			break
		}
		for k, c := range out {
			removed[k] += c.Packets
		}
		if _, err := o.Detach(det); err != nil {
			goErr = err
			break
		}
		rec, err := o.RecoverSlots()
		if err != nil {
			goErr = err
			break
		}
		recovered.Republished += rec.Republished
		recovered.Merged += rec.Merged
	}
	if err := errors.Join(<-sent, goErr); err != nil {
		t.Fatal(err)
	}
	got := map[flow.Key]uint64{}
	if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] += c.Packets }); err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, k := range keys {
		sum += got[k] + removed[k]
		bk := keyToBPF(k)
		if _, ok := o.index.Lookup(&bk); got[k] != 0 && !ok {
			t.Errorf("flow %s in the walk but not in the index", k)
		}
	}
	entries := 0
	o.index.Range(func(uint32) { entries++ })
	if entries != len(got) {
		t.Errorf("%d index entries, %d flows in the walk", entries, len(got))
	}
	over := reasonPackets(t, o, "overflow")
	if total := uint64(ncpu * rounds * nflows); sum+over != total {
		t.Errorf("%d packets in flows and removed + %d in the overflow, want %d", sum, over, total)
	}
	t.Logf("republished %d, merged %d, overflow %d", recovered.Republished, recovered.Merged, over)
}

// TestStaleGoLockClearedOnRecover: a daemon killed while its republish
// held a bucket lock leaves the lock taken in the pinned index; the next
// daemon's RecoverSlots (run at every start) releases it, so new flows
// homed there get slots again instead of going to the overflow for good.
// A lock the data path holds (1) is never taken for stale. The killed
// holder may have put a key in the next bucket, so the release clears
// bucketAlone; RecoverSlots then finds none of the bucket's keys there and
// gives it back (regainAllAlone).
func TestStaleGoLockClearedOnRecover(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadTable(t, 256)
	const b = 9
	fresh := homedAt(o, b, 1, 1)[0]
	word := atomic.LoadUint32(&o.index.buckets[b].Lock)
	if word&bucketAlone == 0 {
		t.Fatalf("a new table's bucket %d has lock word %#x, want bucketAlone", b, word)
	}
	atomic.StoreUint32(&o.index.buckets[b].Lock, word|lockGo) // as a SIGKILL inside InsertNoExist leaves it
	dataPath := atomic.LoadUint32(&o.index.buckets[b+1].Lock) | 1
	atomic.StoreUint32(&o.index.buckets[b+1].Lock, dataPath) // a data-path holder, mid-insert
	rec, err := o.RecoverSlots()
	if err != nil {
		t.Fatal(err)
	}
	if got := atomic.LoadUint32(&o.index.buckets[b].Lock); got&lockHeld != 0 || got&bucketAlone == 0 || rec.StaleLocks != 1 {
		t.Fatalf("after RecoverSlots the stale lock word is %#x (released %d), want free and alone again, 1 released", got, rec.StaleLocks)
	}
	if got := atomic.LoadUint32(&o.index.buckets[b+1].Lock); got != dataPath {
		t.Fatalf("RecoverSlots released a data-path lock (%#x)", got)
	}
	atomic.StoreUint32(&o.index.buckets[b+1].Lock, dataPath&^lockHeld)
	sendUDP(t, o, fresh, 3)
	if f := flagPackets(t, o, "index_busy"); f != 0 {
		t.Fatalf("%d copies found the recovered bucket busy", f)
	}
	got := map[flow.Key]uint64{}
	if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] = c.Packets }); err != nil {
		t.Fatal(err)
	}
	if k := flowKey(7, in4a, in4b, 17, fresh, 53); got[k] != 3 {
		t.Fatalf("the new flow has %d packets in its slot, want 3", got[k])
	}
}

// TestRepublishFullBucketsDefers: a slot a killed daemon left out of the
// index (an orphan) whose home and next buckets filled up meanwhile cannot
// go back in. The start must not fail for it (it would fail at every start,
// as nothing empties the buckets while no daemon runs): the slot is kept
// out of walks with its counts (DYING) and the next RecoverSlots, once
// there is room, puts it back with every packet.
func TestRepublishFullBucketsDefers(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadTable(t, 256)
	const b = 3
	sport := homedAt(o, b, 1, 1)[0]
	sendUDP(t, o, sport, 5)
	bk := keyToBPF(flowKey(7, in4a, in4b, 17, sport, 53))
	idx, ok := o.index.Delete(&bk) // killed inside Remove: out of the index, still LIVE
	if !ok {
		t.Fatal("the flow is not in the index")
	}
	tag := flowTag(flowHash(&bk, &o.index.key))
	filler := ((tag^1)&0xff)<<entrySlotBits | 200 // another tag: never read as this key's
	var filled []*uint32
	for _, bi := range []uint32{b, b + 1} {
		for i := range o.index.buckets[bi].Ent {
			if p := &o.index.buckets[bi].Ent[i]; atomic.CompareAndSwapUint32(p, 0, filler) {
				filled = append(filled, p)
			}
		}
	}
	rec, err := o.RecoverSlots()
	if err != nil {
		t.Fatalf("RecoverSlots with the orphan's buckets full: %v", err)
	}
	if rec.Deferred != 1 || rec.Republished != 0 {
		t.Fatalf("recovered %+v, want 1 deferred", rec)
	}
	if st := atomic.LoadUint32(&o.table.slots[idx].State); st != uint32(VxtapFlowSlotStateFLOW_SLOT_DYING) {
		t.Fatalf("deferred slot in state %d, want DYING (out of walks, counts kept)", st)
	}
	for _, p := range filled {
		atomic.StoreUint32(p, 0)
	}
	if rec, err = o.RecoverSlots(); err != nil || rec.Republished != 1 {
		t.Fatalf("second RecoverSlots: %+v, %v; want it republished", rec, err)
	}
	sendUDP(t, o, sport, 2)
	got := map[flow.Key]uint64{}
	if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] += c.Packets }); err != nil {
		t.Fatal(err)
	}
	if k := flowKey(7, in4a, in4b, 17, sport, 53); got[k] != 7 {
		t.Fatalf("flow has %d packets, want 7", got[k])
	}
}

// TestFlowSeedUnreadable: pins whose flow_ctl exists but cannot be read
// are an error, not a reason for a new seed: a new seed over a filled
// index would hide every indexed flow from the data path (a second slot
// per key) and from Go's removal.
func TestFlowSeedUnreadable(t *testing.T) {
	testutil.RequirePrivileged(t)
	dir := t.TempDir() // not a BPF file system: the pin cannot be opened
	if err := os.WriteFile(filepath.Join(dir, "flow_ctl"), []byte("not a map"), 0o600); err != nil {
		t.Fatal(err)
	}
	if seed, fresh, err := flowSeed(dir); err == nil {
		t.Fatalf("flowSeed over an unreadable flow_ctl: seed %#x fresh %v, want an error", seed, fresh)
	}
	if _, fresh, err := flowSeed(t.TempDir()); err != nil || !fresh {
		t.Fatalf("flowSeed without pins: fresh %v, %v; want a new seed", fresh, err)
	}
}

// TestFlowIndexTagMatch: flow_bucket_match picks a bucket's candidate
// entries by arithmetic, not a test per entry; a key whose tag is 0 (an
// empty entry's top byte too) and keys sharing one tag in one bucket
// are each found and counted exactly, both by the new-flow rescan under
// the lock and by the lockless lookup (the flow cache emptied between
// rounds, so every round goes through flow_index).
func TestFlowIndexTagMatch(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadTable(t, 256)
	n := uint32(len(o.index.buckets))
	const b = 5
	byTag := map[uint32][]uint16{}
	for sp := 1; sp < 65536; sp++ {
		bk := keyToBPF(flowKey(7, in4a, in4b, 17, uint16(sp), 53))
		h := flowHash(&bk, &o.index.key)
		if flowHome(h, n) == b {
			tag := flowTag(h)
			byTag[tag] = append(byTag[tag], uint16(sp))
		}
	}
	var ports []uint16
	if len(byTag[0]) == 0 {
		t.Fatal("no key of tag 0 homed at the bucket")
	}
	ports = append(ports, byTag[0][0])
	for tag, sps := range byTag {
		if tag != 0 && len(sps) >= 4 && len(ports) == 1 {
			ports = append(ports, sps[:4]...) // four keys of one tag
		}
	}
	if len(ports) != 5 {
		t.Fatal("no four keys of one tag homed at the bucket")
	}
	if len(byTag[0]) > 1 {
		ports = append(ports, byTag[0][1]) // a second key of tag 0
	}
	cache := o.VxtapMaps.FlowCache
	zero := make([][]byte, ebpf.MustPossibleCPU())
	for i := range zero {
		zero[i] = make([]byte, cache.ValueSize())
	}
	clearCache := func() {
		for k := uint32(0); k < cache.MaxEntries(); k++ {
			if err := cache.Update(k, zero, ebpf.UpdateAny); err != nil {
				t.Fatal(err)
			}
		}
	}
	const rounds = 3
	for r := 0; r < rounds; r++ {
		for _, sp := range ports {
			sendUDP(t, o, sp, 1)
		}
		clearCache()
	}
	got := map[flow.Key]uint64{}
	flows := 0
	if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] += c.Packets; flows++ }); err != nil {
		t.Fatal(err)
	}
	if flows != len(ports) {
		t.Errorf("%d flows, want %d (one per key)", flows, len(ports))
	}
	for _, sp := range ports {
		k := flowKey(7, in4a, in4b, 17, sp, 53)
		if got[k] != rounds {
			t.Errorf("port %d: %d packets, want %d", sp, got[k], rounds)
		}
		bk := keyToBPF(k)
		if idx, ok := o.index.Lookup(&bk); !ok || o.slotCounters(idx, 0).Packets != rounds {
			t.Errorf("port %d: indexed %v", sp, ok)
		}
	}
	if p := reasonPackets(t, o, "overflow"); p != 0 {
		t.Errorf("overflow %d, want 0", p)
	}
}
