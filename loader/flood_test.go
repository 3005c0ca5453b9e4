package loader

import (
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/aggregate"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestFloodDegradesNeverBlinds: a flood of one-packet flows (a SYN flood on
// the mirrored instance) into a small table, through BPF_PROG_TEST_RUN and
// the aggregator as the daemon runs them. Established flows stay
// individually accounted (never evicted, never folded), the flood's copies
// that find no slot are accounted in the overflow aggregates down to the
// catch-all, and the records sum to every packet sent.
func TestFloodDegradesNeverBlinds(t *testing.T) {
	testutil.RequirePrivileged(t)
	cfg := DefaultConfig()
	cfg.OfflineClock = true
	cfg.FlowTableSize = 256
	cfg.OverflowSize = 32                                // 32 destinations per half
	cfg.MapSizes = map[string]uint32{"overflow_vnis": 2} // then 2 VNIs, then the catch-all
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ev, err := o.OpenEvents()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	var records []flow.Record
	acfg := aggregate.DefaultConfig()
	acfg.TableSize = int(cfg.FlowTableSize)
	agg := aggregate.New(acfg, o, func(r flow.Record) { records = append(records, r) })

	tmpl := mirrored(t, 42, innerTCP4(1, 443, 0)...)
	send := func(vni uint32, sport, dport uint16, syn bool, at time.Time) {
		f := append([]byte(nil), tmpl...)
		f[offVXLAN+4], f[offVXLAN+5], f[offVXLAN+6] = byte(vni>>16), byte(vni>>8), byte(vni)
		f[offL4], f[offL4+1], f[offL4+2], f[offL4+3] = byte(sport>>8), byte(sport), byte(dport>>8), byte(dport)
		if syn {
			f[offL4+13] = 0x02
		}
		if _, err := o.RunPacket(f, at); err != nil {
			t.Fatal(err)
		}
	}
	sweep := func(now time.Time) {
		if _, err := ev.Read(time.Unix(1, 0), agg.OnEvent, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := agg.Sweep(now); err != nil {
			t.Fatal(err)
		}
	}

	const established, flood = 20, 30000
	est := map[flow.Key]uint64{}
	total := uint64(0)
	now := time.Unix(1_700_000_000, 0)
	for i := range established { // a handshake's worth each: established
		for range 3 {
			send(42, uint16(100+i), 443, false, now)
			est[flowKey(42, in4a, in4b, 6, uint16(100+i), 443)]++
			total++
		}
	}
	// 10 flood packets per ms of capture time; the established flows send
	// every 500 ms, so they are idler than most of the flood (relief must
	// still take the flood's flows first); sweeps every 200 ms, as the
	// daemon's interval.
	for i := range flood {
		at := now.Add(time.Duration(i) * 100 * time.Microsecond)
		send(42+uint32(i%3), uint16(10000+i), uint16(i%200+1), true, at)
		total++
		if i%5000 == 4999 {
			for j := range established {
				send(42, uint16(100+j), 443, false, at)
				est[flowKey(42, in4a, in4b, 6, uint16(100+j), 443)]++
				total++
			}
		}
		if i%2000 == 1999 {
			sweep(at)
		}
	}
	end := now.Add(flood * 100 * time.Microsecond)
	sweep(end)
	if _, err := agg.Shutdown(end, true); err != nil {
		t.Fatal(err)
	}

	var sum, overflow uint64
	perEst := map[flow.Key]uint64{}
	levels := map[string]int{}
	for _, r := range records {
		sum += r.Packets
		if _, ok := est[r.Key()]; ok {
			perEst[r.Key()] += r.Packets
			if r.EndReason == flow.EndEvicted || r.EndReason == flow.EndOverflow {
				t.Errorf("established flow %s: a record %s", r.Key(), r.EndReason)
			}
		}
		if r.EndReason == flow.EndOverflow {
			overflow += r.Packets
			switch {
			case !r.Dst.IsValid() && r.VNI == 0:
				levels["all"]++
			case !r.Dst.IsValid():
				levels["vni"]++
			default:
				levels["dest"]++
			}
		}
	}
	if sum != total {
		t.Errorf("records sum to %d packets, %d were sent", sum, total)
	}
	for k, n := range est {
		if perEst[k] != n {
			t.Errorf("established flow %s: %d packets in records, %d sent", k, perEst[k], n)
		}
	}
	if overflow == 0 || levels["dest"] == 0 || levels["vni"] == 0 || levels["all"] == 0 {
		t.Errorf("overflow records: %d packets, by level %v; want every level used", overflow, levels)
	}
	if n := reasonPackets(t, o, "flow_insert_failed"); n != 0 {
		t.Errorf("flow_insert_failed %d, want 0", n)
	}
	if got := reasonPackets(t, o, "flow") + reasonPackets(t, o, "overflow"); got != total {
		t.Errorf("flow + overflow reasons %d, want %d", got, total)
	}
	t.Logf("%d packets: %d in overflow records %v, %d evicted flows", total, overflow, levels, agg.TotalEvicted)
}
