package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/export/jsonl"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// outageSink is the flow log on a disk that is full (every write fails
// with ENOSPC, nothing stored), then freed; with stall, the first write
// after the free stores the batch and never returns, as a daemon killed
// before the acknowledgement.
type outageSink struct {
	*jsonl.Sink
	mu    sync.Mutex
	full  bool
	stall chan struct{} // nil: writes return
}

func (s *outageSink) set(full bool) { s.mu.Lock(); s.full = full; s.mu.Unlock() }

func (s *outageSink) WriteBatch(ctx context.Context, b pipeline.Batch) error {
	s.mu.Lock()
	full, stall := s.full, s.stall
	s.mu.Unlock()
	if full {
		return syscall.ENOSPC
	}
	if err := s.Sink.WriteBatch(ctx, b); err != nil {
		return err
	}
	if stall != nil {
		<-stall
		return errors.New("killed")
	}
	return nil
}

// TestOutageThenKillAtEachStep: the flow log's disk fills while a batch is
// due, is freed, and the daemon is killed at each step of what follows:
// still held, stored but not acknowledged, committed but the ledger not
// written, committed and a further batch published. The clock base of
// every walk is a microsecond later than the one before (as the loader's
// can be). The next daemon, on the same table, ledger, state directory
// and flow log, counts every packet exactly once.
func TestOutageThenKillAtEachStep(t *testing.T) {
	for _, step := range []string{"held", "stored", "committed-ledger-failed", "committed", "next-batch-stored"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "flows.json")
			tab := &skewedTable{Table: flowtest.NewTable(), step: time.Microsecond}
			led := newLedger()
			const n = 10
			sent := map[flow.Key]uint64{}
			send := func() {
				at := time.Now()
				for i := 0; i < n; i++ {
					tab.Packet(key(i), 100, at, 0) // one timestamp for the flows' packets
					sent[key(i)]++
				}
			}
			newDaemon := func(sink pipeline.RecordSink) *Daemon {
				return newLife(t, dir, Sources{Flows: tab, Events: tab, Ledger: led}, sink, func(cfg *Config) {
					cfg.Aggregate.ActiveTimeout = time.Millisecond
					cfg.Aggregate.IdleTimeout = time.Hour // the flows stay in the table
					cfg.ShutdownWait = 50 * time.Millisecond
				})
			}
			open := func() *jsonl.Sink { return openLog(t, path) }
			// A batch lands before the outage.
			send()
			sink := &outageSink{Sink: open()}
			d := newDaemon(sink)
			time.Sleep(2 * time.Millisecond)
			d.sweep(time.Now())
			if !d.settle(time.Now().Add(time.Second)) {
				t.Fatal("first batch not committed")
			}
			// The disk fills; the next batch is held.
			sink.set(true)
			send()
			time.Sleep(2 * time.Millisecond)
			d.sweep(time.Now())
			if d.settle(time.Now().Add(300 * time.Millisecond)) {
				t.Fatal("a batch was committed on a full disk")
			}
			stall := make(chan struct{})
			defer close(stall)
			switch step {
			case "held":
			case "stored":
				sink.mu.Lock()
				sink.stall = stall
				sink.mu.Unlock()
				sink.set(false)
				if d.settle(time.Now().Add(500 * time.Millisecond)) {
					t.Fatal("the stalled batch was committed")
				}
			case "committed-ledger-failed":
				led.failSave = 1
				sink.set(false)
				d.settle(time.Now().Add(time.Second))
			case "committed", "next-batch-stored":
				sink.set(false)
				if !d.settle(time.Now().Add(time.Second)) {
					t.Fatal("the held batch was not committed after the free")
				}
				if step == "next-batch-stored" {
					send()
					sink.mu.Lock()
					sink.stall = stall
					sink.mu.Unlock()
					time.Sleep(2 * time.Millisecond)
					d.sweep(time.Now())
					if d.settle(time.Now().Add(300 * time.Millisecond)) {
						t.Fatal("the stalled batch was committed")
					}
				}
			}
			d.Close() // killed: no shutdown records
			send()
			d = newDaemon(open())
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
			if tab.Len() != 0 || led.len() != 0 {
				t.Errorf("left %d flows, %d ledger entries", tab.Len(), led.len())
			}
		})
	}
}
