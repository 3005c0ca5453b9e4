package loader

import (
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/aggregate"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestOverflowSurvivesKill: copies that find no slot are accounted in the
// overflow aggregates; a daemon killed after a sweep made their records
// but before any output stored them (its batch gone with the process)
// must leave them in the kernel, so the next daemon, on the same pinned
// maps and ledger, writes every packet exactly once.
func TestOverflowSurvivesKill(t *testing.T) {
	testutil.RequirePrivileged(t)
	cfg := DefaultConfig()
	cfg.OfflineClock = true
	cfg.FlowTableSize = 8
	cfg.OverflowSize = 16
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	tmpl := mirrored(t, 42, innerTCP4(1, 443, 0)...)
	now := time.Unix(1_700_000_000, 0)
	total := uint64(0)
	send := func(n int) {
		for i := range n {
			f := append([]byte(nil), tmpl...)
			sport, dport := uint16(1000+i%40), uint16(i%20+1)
			f[offL4], f[offL4+1], f[offL4+2], f[offL4+3] = byte(sport>>8), byte(sport), byte(dport>>8), byte(dport)
			if _, err := o.RunPacket(f, now); err != nil {
				t.Fatal(err)
			}
			total++
		}
	}
	var stored, pending []flow.Record
	start := func() *aggregate.Aggregator {
		a := aggregate.New(aggregate.DefaultConfig(), o, func(r flow.Record) { pending = append(pending, r) })
		a.DeferCommits()
		if err := a.UseLedger(o.Ledger(), now); err != nil {
			t.Fatal(err)
		}
		return a
	}
	commit := func(a *aggregate.Aggregator) {
		for {
			stored, pending = append(stored, pending...), nil
			n, err := a.Commit(now)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}
	sweep := func(a *aggregate.Aggregator) {
		now = now.Add(time.Second)
		if _, err := a.Sweep(now); err != nil {
			t.Fatal(err)
		}
	}

	a := start()
	send(200)
	sweep(a)
	if len(pending) == 0 {
		t.Fatal("the sweep made no record")
	}
	pending = nil // SIGKILL: the batch never reached an output
	a = start()
	send(100)
	for range 3 {
		sweep(a)
		commit(a)
	}
	if _, err := a.Shutdown(now, true); err != nil {
		t.Fatal(err)
	}
	commit(a)
	var sum, over uint64
	for _, r := range stored {
		sum += r.Packets
		if r.EndReason == flow.EndOverflow {
			over += r.Packets
		}
	}
	if over == 0 {
		t.Fatal("no overflow record: the table never filled")
	}
	if sum != total {
		t.Errorf("stored records carry %d packets (%d in overflow records), %d were sent", sum, over, total)
	}
}
