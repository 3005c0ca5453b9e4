package loader

import (
	"sync/atomic"
	"testing"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestFlowIndexAlone: a new table's buckets say that no key of theirs is
// in the next bucket (bucketAlone), so lookups and inserts skip it; the
// first key of a full home bucket to go to the next one clears the flag,
// and every later copy of every key, in the home bucket or the next,
// finds its flow: one flow per key, exact counts. Every insert counts a
// release in its home bucket's lock word (a later insert that took the
// lock with the word its lookup read skips the rescan). A table whose
// words lack the flag (an index from before it) scans both buckets, with
// the same counts.
func TestFlowIndexAlone(t *testing.T) {
	testutil.RequirePrivileged(t)
	for _, alone := range []bool{true, false} {
		name := map[bool]string{true: "new-table", false: "words-without-flag"}[alone]
		t.Run(name, func(t *testing.T) {
			o := loadTable(t, 256)
			const b = 5
			word := func() uint32 { return atomic.LoadUint32(&o.index.buckets[b].Lock) }
			if got := word()&bucketAlone != 0; !got {
				t.Fatalf("new table: bucket %d lock word %#x without bucketAlone", b, word())
			}
			if !alone {
				for i := range o.index.buckets {
					atomic.AndUint32(&o.index.buckets[i].Lock, ^bucketAlone)
				}
			}
			ports := homedAt(o, b, 1, bucketEntries+2)
			w0 := word()
			for _, sp := range ports[:bucketEntries] {
				sendUDP(t, o, sp, 1)
			}
			w1 := word()
			if releases := (w1 - w0) / lockVersionOne; releases != uint32(bucketEntries) || w1&bucketAlone != w0&bucketAlone || w1&lockHeld != 0 {
				t.Fatalf("after %d inserts in its home bucket: word %#x -> %#x (%d releases), want %d, the flag as it was, free",
					bucketEntries, w0, w1, releases, bucketEntries)
			}
			for _, sp := range ports[bucketEntries:] { // the home bucket is full: to the next one
				sendUDP(t, o, sp, 1)
			}
			if w := word(); w&bucketAlone != 0 {
				t.Fatalf("keys of bucket %d in the next one, its word %#x still says none", b, w)
			}
			for _, sp := range ports {
				sendUDP(t, o, sp, 2)
			}
			got := map[flow.Key]uint64{}
			if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k] += c.Packets }); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(ports) {
				t.Errorf("%d flows, want %d (one per key)", len(got), len(ports))
			}
			for _, sp := range ports {
				if n := got[flowKey(7, in4a, in4b, 17, sp, 53)]; n != 3 {
					t.Errorf("flow of port %d: %d packets, want 3", sp, n)
				}
			}
			if s, over := flagPackets(t, o, "flow_start"), reasonPackets(t, o, "overflow"); s != uint64(len(ports)) || over != 0 {
				t.Errorf("flow_start %d, overflow %d, want %d and 0", s, over, len(ports))
			}
		})
	}
}
