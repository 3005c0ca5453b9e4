package daemon

import (
	"context"
	"net/netip"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/export/jsonl"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
	"github.com/vxtap/vxtap/userspace/pipeline"
	"github.com/vxtap/vxtap/userspace/pipeline/pipelinetest"
)

// ovLedger is the pinned flow and overflow ledgers; ov.failSave makes
// the next SaveOverflow fail (a kill between the commit and the overflow
// ledger looks the same to the next daemon).
type ovLedger struct {
	*memLedger
	ov memTable[flow.OverflowID]
}

func newOvLedger() *ovLedger {
	return &ovLedger{memLedger: newLedger(), ov: newMemTable[flow.OverflowID]("overflow ledger")}
}

func (l *ovLedger) LoadOverflow(fn func(id flow.OverflowID, p, b uint64)) error {
	return l.ov.load(fn)
}
func (l *ovLedger) SaveOverflow(e map[flow.OverflowID][2]uint64) error { return l.ov.save(e) }
func (l *ovLedger) ForgetOverflow(ids []flow.OverflowID) error         { return l.ov.forget(ids) }

// ovAggs are an aggregate of each level, with their record keys.
var ovAggs = []flow.OverflowID{
	{Level: flow.OverflowByDest, Key: flow.Key{VNI: 42, Src: netip.IPv4Unspecified(), Dst: netip.MustParseAddr("198.19.0.9"), Proto: 6, DPort: 443}},
	{Level: flow.OverflowByVNI, Key: flow.Key{VNI: 42}},
	{Level: flow.OverflowAll},
}

// TestOverflowKillBetweenWriteAndCommit: the overflow aggregates' records
// survive a daemon killed after the flow log stored them but before they
// were committed, or after the commit but before the overflow ledger took
// them: the next daemon writes every packet exactly once.
func TestOverflowKillBetweenWriteAndCommit(t *testing.T) {
	for _, tc := range []string{"stored-not-committed", "committed-ledger-failed"} {
		t.Run(tc, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "flows.json")
			tab := flowtest.NewTable()
			led := newOvLedger()
			sent := map[flow.Key]uint64{}
			send := func(n int) {
				for range n {
					for _, id := range ovAggs {
						tab.OverflowPacket(id.Level, id.Key, 100, time.Now())
						sent[id.Key]++
					}
				}
			}
			newDaemon := func(sink pipeline.RecordSink) *Daemon {
				return newLife(t, dir, Sources{Flows: tab, Events: tab, Ledger: led}, sink, func(cfg *Config) {
					cfg.ShutdownWait = 2 * time.Second
				})
			}
			open := func() *jsonl.Sink { return openLog(t, path) }
			// A first daemon writes and commits one batch.
			send(3)
			d := newDaemon(open())
			d.sweep(time.Now())
			if !d.settle(time.Now().Add(time.Second)) {
				t.Fatal("first batch not committed")
			}
			d.Close()
			send(4)
			switch tc {
			case "stored-not-committed":
				stall := make(chan struct{})
				d = newDaemon(stallAfterWrite{open(), stall})
				d.sweep(time.Now())
				if d.settle(time.Now().Add(100 * time.Millisecond)) {
					t.Fatal("the stalled batch was committed")
				}
				d.Close()
				close(stall)
			case "committed-ledger-failed":
				d = newDaemon(open())
				led.ov.failSave = 1
				d.sweep(time.Now())
				d.settle(time.Now().Add(time.Second))
				d.Close()
			}
			send(5)
			d = newDaemon(open())
			if _, err := d.Shutdown(true); err != nil {
				t.Fatal(err)
			}
			got := sumFile(t, path)
			for k, want := range sent {
				if got[k] != want {
					t.Errorf("%v: the flow log carries %d packets, %d were sent", k, got[k], want)
				}
			}
			if tab.OverflowLen() != 0 || led.ov.len() != 0 || led.len() != 0 {
				t.Errorf("left %d overflow aggregates, %d overflow ledger entries, %d flow ledger entries", tab.OverflowLen(), led.ov.len(), led.len())
			}
		})
	}
}

// TestOverflowHeldBatch: while the durable sink cannot store, the overflow
// aggregates stay in the table and keep counting; once it stores again,
// every packet lands once.
func TestOverflowHeldBatch(t *testing.T) {
	tab := flowtest.NewTable()
	led := newOvLedger()
	disk := &pipelinetest.Memory{ID: "disk", IsDur: true}
	disk.SetFail(syscall.ENOSPC)
	d, err := New(fastConfig(), Sources{Flows: tab, Events: tab, Ledger: led}, pipeline.Outputs{Records: []pipeline.RecordSink{disk}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	sent := map[flow.Key]uint64{}
	send := func() {
		for _, id := range ovAggs {
			tab.OverflowPacket(id.Level, id.Key, 100, time.Now())
			sent[id.Key]++
		}
	}
	send()
	eventually(t, "the disk sink to fail and retry", func() bool {
		for _, s := range d.State().Sinks {
			if s.Name == "disk" && s.Retries >= 2 {
				return true
			}
		}
		return false
	})
	for range 5 {
		send()
		time.Sleep(20 * time.Millisecond)
	}
	if n := tab.OverflowLen(); n < len(ovAggs) {
		t.Errorf("%d overflow aggregates left while their records wait, want at least %d", n, len(ovAggs))
	}
	if led.ov.len() != 0 {
		t.Errorf("the overflow ledger advanced while the records were not stored")
	}
	disk.SetFail(nil)
	eventually(t, "the held records to land and the aggregates to go", func() bool { return tab.OverflowLen() == 0 && led.ov.len() == 0 })
	cancel()
	<-done
	d.Shutdown(true)
	got := map[flow.Key]uint64{}
	for _, r := range disk.Records() {
		got[r.Key()] += r.Packets
	}
	for k, want := range sent {
		if got[k] != want {
			t.Errorf("%v: %d packets in records, %d were sent", k, got[k], want)
		}
	}
}
