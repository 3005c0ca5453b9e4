package aggregate

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// TestOnEventsMatchesOnEvent: a batch handed to OnEvents leaves the
// aggregator as the same events handed one by one to OnEvent do, whatever
// the batch boundaries, with repeated keys inside one lookup group, flow
// ends and other events mixed in, and enough flows that the index grows
// while a group is being applied.
func TestOnEventsMatchesOnEvent(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 7))
			cfg := Config{IdleTimeout: time.Minute, ActiveTimeout: time.Minute, EndGrace: time.Second, TableSize: 64}
			one := New(cfg, nil, func(flow.Record) {})
			batched := New(cfg, nil, func(flow.Record) {})
			keys := make([]flow.Key, 3000)
			for i := range keys {
				src := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
				if i%4 == 1 {
					src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
				}
				dst := netip.MustParseAddr("198.19.0.1")
				if src.Is6() {
					dst = netip.MustParseAddr("2001:db8::1")
				}
				keys[i] = flow.Key{VNI: uint32(i % 5), Src: src, Dst: dst, Proto: 6, SPort: uint16(i), DPort: 443}
			}
			base := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
			var evs []flow.Event
			types := []flow.EventType{flow.FlowStart, flow.FlowStart, flow.FlowStart, flow.FlowEnd, flow.ThreatHit}
			for i := 0; i < 20000; i++ {
				k := keys[rnd.IntN(len(keys))]
				if rnd.IntN(8) == 0 && len(evs) > 0 {
					k = evs[len(evs)-1-rnd.IntN(min(len(evs), 40))].Key // a repeat close by: often in the same group
				}
				evs = append(evs, flow.Event{Type: types[rnd.IntN(len(types))], Time: base.Add(time.Duration(i) * time.Millisecond), Key: k})
			}
			for _, ev := range evs {
				one.OnEvent(ev)
			}
			for rest := evs; len(rest) > 0; {
				n := min(len(rest), 1+rnd.IntN(100))
				batched.OnEvents(rest[:n])
				rest = rest[n:]
			}
			if one.Len() != batched.Len() {
				t.Fatalf("OnEvent knows %d flows, OnEvents %d", one.Len(), batched.Len())
			}
			for _, k := range keys {
				fk := pack(&k)
				i, ok1 := one.state.get(&fk)
				j, ok2 := batched.state.get(&fk)
				if ok1 != ok2 {
					t.Fatalf("%v: known to OnEvent %v, to OnEvents %v", k, ok1, ok2)
				}
				if ok1 && one.state.slots[i] != batched.state.slots[j] {
					t.Fatalf("%v: OnEvent's state %+v, OnEvents' %+v", k, one.state.slots[i], batched.state.slots[j])
				}
			}
		})
	}
}
