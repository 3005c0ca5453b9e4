package daemon

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
)

// shiftedTable is the flow table as a restarted daemon reads it: the
// loader converts the data path's monotonic stamps to wall time with a
// base taken anew (time.Now() minus CLOCK_MONOTONIC), so the same packet
// reads a few microseconds off from what the killed daemon recorded.
type shiftedTable struct {
	*flowtest.Table
	by time.Duration
}

func (s shiftedTable) Walk(fn func(flow.Key, flow.Counters)) error {
	return s.Table.Walk(func(k flow.Key, c flow.Counters) {
		c.First, c.Last = c.First.Add(s.by), c.Last.Add(s.by)
		fn(k, c)
	})
}

// TestReconcileToleratesClockBase: a daemon killed after committing a
// batch of one-packet flows (first == last) but before the ledger took
// it; the next daemon's clock base reads the flows' first packet 3 µs
// later than the record's last. They are the same flows: the ledger is
// raised and nothing is written twice (found by the lab fleet test:
// short UDP flows stored twice after a SIGKILL).
func TestReconcileToleratesClockBase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flows.json")
	tab := flowtest.NewTable()
	led := newLedger()
	sent := map[flow.Key]uint64{}
	at := time.Now()
	for i := 0; i < 10; i++ {
		tab.Packet(key(i), 100, at, 0)
		sent[key(i)]++
	}
	newDaemon := func(src flow.FlowSource) *Daemon {
		return newLife(t, dir, Sources{Flows: src, Events: tab, Ledger: led}, openLog(t, path), func(cfg *Config) {
			cfg.Aggregate.ActiveTimeout = time.Millisecond // a record every sweep: flows stay in the table
			cfg.ShutdownWait = 50 * time.Millisecond
		})
	}
	d := newDaemon(tab)
	led.failSave = 1 // committed, then killed before the ledger took it
	time.Sleep(2 * time.Millisecond)
	d.sweep(time.Now())
	if !d.settle(time.Now().Add(time.Second)) {
		t.Fatal("batch not committed")
	}
	d.Close()
	d = newDaemon(shiftedTable{tab, 3 * time.Microsecond})
	time.Sleep(2 * time.Millisecond)
	if _, err := d.Shutdown(true); err != nil {
		t.Fatal(err)
	}
	got := sumFile(t, path)
	for k, want := range sent {
		if got[k] != want {
			t.Errorf("%v: the flow log carries %d packets, %d were sent", k, got[k], want)
		}
	}
}
