package daemon

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/export/jsonl"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
	"github.com/vxtap/vxtap/userspace/pipeline"
	"github.com/vxtap/vxtap/userspace/pipeline/pipelinetest"
	"github.com/vxtap/vxtap/userspace/report"
)

// memTable is an in-memory pinned ledger map: totals by key; failSave
// makes the next save fail (a kill before the ledger write looks the same
// to the next daemon).
type memTable[K comparable] struct {
	mu         sync.Mutex
	m          map[K][2]uint64
	failSave   int
	failForget int // the next forgets fail (a kill before them looks the same)
	name       string
}

func newMemTable[K comparable](name string) memTable[K] {
	return memTable[K]{m: map[K][2]uint64{}, name: name}
}

func (l *memTable[K]) load(fn func(k K, p, b uint64)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, v := range l.m {
		fn(k, v[0], v[1])
	}
	return nil
}

func (l *memTable[K]) save(e map[K][2]uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failSave > 0 {
		l.failSave--
		return errors.New(l.name + ": injected failure")
	}
	maps.Copy(l.m, e)
	return nil
}

func (l *memTable[K]) forget(keys []K) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failForget > 0 {
		l.failForget--
		return errors.New(l.name + ": injected failure")
	}
	for _, k := range keys {
		delete(l.m, k)
	}
	return nil
}

func (l *memTable[K]) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// memLedger is the pinned flow ledger (aggregate.Ledger).
type memLedger struct{ memTable[flow.Key] }

func newLedger() *memLedger { return &memLedger{newMemTable[flow.Key]("ledger")} }

func (l *memLedger) Load(fn func(k flow.Key, p, b uint64)) error { return l.load(fn) }
func (l *memLedger) Save(e map[flow.Key][2]uint64) error         { return l.save(e) }
func (l *memLedger) Forget(keys []flow.Key) error                { return l.forget(keys) }

// sumFile is the packets the flow log's records carry per flow.
func sumFile(t *testing.T, path string) map[flow.Key]uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := report.ReadRecords(f, path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[flow.Key]uint64{}
	for _, r := range rep {
		out[r.Key()] += r.Packets
	}
	return out
}

// TestDurableSinkFailureHoldsRecords reproduces issue 10 item 3 on the
// daemon: a durable sink that cannot store (ENOSPC) must not let records
// count as written, the ledger advance or flows leave the table; once it
// can store again, every record lands, exactly once.
func TestDurableSinkFailureHoldsRecords(t *testing.T) {
	tab := flowtest.NewTable()
	led := newLedger()
	disk := &pipelinetest.Memory{ID: "disk", IsDur: true}
	other := &pipelinetest.Memory{ID: "other"}
	disk.SetFail(syscall.ENOSPC)
	cfg := fastConfig()
	d, err := New(cfg, Sources{Flows: tab, Events: tab, Ledger: led}, pipeline.Outputs{Records: []pipeline.RecordSink{disk, other}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	const n = 20
	for i := 0; i < n; i++ {
		tab.Packet(key(i), 100, time.Now(), 0)
	}
	eventually(t, "the disk sink to fail and retry", func() bool {
		for _, s := range d.State().Sinks {
			if s.Name == "disk" && s.Retries >= 2 {
				return true
			}
		}
		return false
	})
	time.Sleep(5 * cfg.Aggregate.IdleTimeout) // long past the idle timeout
	st := d.State()
	if len(st.Records) != 0 {
		t.Errorf("records counted as written while the durable sink fails: %v", st.Records)
	}
	if tab.Len() != n {
		t.Errorf("%d flows left the table while their records were not stored", n-tab.Len())
	}
	if led.len() != 0 {
		t.Errorf("the ledger advanced while the records were not stored")
	}
	if ok, why := d.Health(); !ok || !strings.Contains(why, "degraded") || !strings.Contains(why, "no space") {
		t.Errorf("health %v %q, want 200 and degraded naming the error", ok, why)
	}
	if len(other.Batches()) != 1 {
		t.Errorf("the other sink got %d batches, want the one held batch (no new ones while held)", len(other.Batches()))
	}
	for i := 0; i < n; i++ {
		tab.Packet(key(i), 100, time.Now(), 0) // the kernel keeps counting
	}
	disk.SetFail(nil)
	eventually(t, "the held records to land and the flows to go", func() bool { return tab.Len() == 0 && led.len() == 0 })
	cancel()
	<-done
	d.Shutdown(true)
	got := map[flow.Key]uint64{}
	for _, r := range disk.Records() {
		got[r.Key()] += r.Packets
	}
	for i := 0; i < n; i++ {
		if got[key(i)] != 2 {
			t.Errorf("%v: %d packets in records, want 2", key(i), got[key(i)])
		}
	}
	if st := d.State(); st.Records[flow.EndIdle] == 0 {
		t.Errorf("records not counted once stored: %v", st.Records)
	}
}

// stallAfterWrite stores a batch in the flow log and then never returns,
// as a daemon killed right after the write would behave.
type stallAfterWrite struct {
	*jsonl.Sink
	stall chan struct{}
}

func (s stallAfterWrite) WriteBatch(ctx context.Context, b pipeline.Batch) error {
	if err := s.Sink.WriteBatch(ctx, b); err != nil {
		return err
	}
	<-s.stall
	return errors.New("killed")
}

// TestKillBetweenWriteAndCommit: a daemon stops (as if killed) after the
// flow log stored a batch but before the ledger took it, or after the
// batch was committed but before the ledger took it. The next daemon,
// with the same table, ledger, state directory and flow log, writes every
// packet exactly once.
func TestKillBetweenWriteAndCommit(t *testing.T) {
	for _, tc := range []string{"stored-not-committed", "committed-ledger-failed"} {
		t.Run(tc, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "flows.json")
			tab := flowtest.NewTable()
			led := newLedger()
			const n = 10
			sent := map[flow.Key]uint64{}
			send := func() {
				for i := 0; i < n; i++ {
					tab.Packet(key(i), 100, time.Now(), 0)
					sent[key(i)]++
				}
			}
			newDaemon := func(sink pipeline.RecordSink) *Daemon {
				return newLife(t, dir, Sources{Flows: tab, Events: tab, Ledger: led}, sink, func(cfg *Config) {
					cfg.Aggregate.ActiveTimeout = time.Millisecond // a record every sweep: flows stay in the table
					cfg.ShutdownWait = 50 * time.Millisecond
				})
			}
			open := func() *jsonl.Sink { return openLog(t, path) }
			// A first daemon writes and commits one batch.
			send()
			d := newDaemon(open())
			time.Sleep(2 * time.Millisecond)
			d.sweep(time.Now())
			if !d.settle(time.Now().Add(time.Second)) {
				t.Fatal("first batch not committed")
			}
			d.Close()
			send()
			// The second daemon dies half-way through its batch.
			switch tc {
			case "stored-not-committed":
				stall := make(chan struct{})
				d = newDaemon(stallAfterWrite{open(), stall})
				time.Sleep(2 * time.Millisecond)
				d.sweep(time.Now())
				if d.settle(time.Now().Add(100 * time.Millisecond)) {
					t.Fatal("the stalled batch was committed")
				}
				d.Close() // gives up on the stalled sink: nothing is committed
				close(stall)
			case "committed-ledger-failed":
				d = newDaemon(open())
				led.failSave = 1
				time.Sleep(2 * time.Millisecond)
				d.sweep(time.Now())
				d.settle(time.Now().Add(time.Second))
				d.Close()
			}
			// The flow log now holds more than the ledger knows.
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

// failingSeq is a batch sequence whose state file cannot be written for a
// while (the state directory's disk is full).
type failingSeq struct {
	pipeline.MemSeq
	mu   sync.Mutex
	fail bool
}

func (f *failingSeq) set(fail bool) { f.mu.Lock(); f.fail = fail; f.mu.Unlock() }

func (f *failingSeq) Commit(seq uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return syscall.ENOSPC
	}
	return f.MemSeq.Commit(seq)
}

// TestSeqCommitFailureHolds: a batch every sink stored whose committed
// number cannot be recorded is held like one a sink could not store: the
// ledger and the table wait, /healthz says degraded, then it goes through.
func TestSeqCommitFailureHolds(t *testing.T) {
	tab := flowtest.NewTable()
	led := newLedger()
	disk := &pipelinetest.Memory{ID: "disk", IsDur: true}
	seq := &failingSeq{fail: true}
	cfg := fastConfig()
	cfg.Seq = seq
	d, err := New(cfg, Sources{Flows: tab, Events: tab, Ledger: led}, pipeline.Outputs{Records: []pipeline.RecordSink{disk}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	tab.Packet(key(1), 100, time.Now(), 0)
	eventually(t, "the batch to be stored", func() bool { return len(disk.Batches()) == 1 })
	time.Sleep(5 * cfg.SweepInterval)
	if tab.Len() != 1 || led.len() != 0 || len(disk.Batches()) != 1 {
		t.Errorf("uncommitted batch: %d flows, %d ledger entries, %d batches", tab.Len(), led.len(), len(disk.Batches()))
	}
	if ok, why := d.Health(); !ok || !strings.Contains(why, "commit") {
		t.Errorf("health %v %q", ok, why)
	}
	seq.set(false)
	eventually(t, "the commit", func() bool { return tab.Len() == 0 })
	cancel()
	<-done
	d.Shutdown(true)
	if n := len(disk.Records()); n != 1 {
		t.Errorf("%d records, want 1", n)
	}
}

// TestHungDurableSink: a durable sink whose write never returns (a hung
// disk) holds the records; the ring buffer keeps draining, the other
// sinks and the event sinks keep receiving, nothing leaves the table, and
// after a while /healthz says degraded; a shutdown gives up in bounded
// time and reports the records unsettled.
func TestHungDurableSink(t *testing.T) {
	tab := flowtest.NewTable()
	led := newLedger()
	hung := pipelinetest.NewBlocking("hung")
	hung.IsDur = true
	other := &pipelinetest.Memory{ID: "other"}
	cfg := fastConfig()
	cfg.ShutdownWait = 100 * time.Millisecond
	d, err := New(cfg, Sources{Flows: tab, Events: tab, Ledger: led}, pipeline.Outputs{
		Records: []pipeline.RecordSink{hung, other}, Events: []pipeline.EventSink{other}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	tab.Packet(key(1), 100, time.Now(), 0)
	<-hung.Entered()
	for i := 2; i < 50; i++ {
		tab.Packet(key(i), 100, time.Now(), 0)
	}
	eventually(t, "the events", func() bool { return len(other.Events()) == 49 })
	if tab.Pending() != 0 || tab.Len() != 49 || led.len() != 0 {
		t.Errorf("pending %d, flows %d, ledger %d", tab.Pending(), tab.Len(), led.len())
	}
	d.heldSince.Store(time.Now().Add(-time.Hour).UnixNano()) // as if it hung for an hour
	if ok, why := d.Health(); !ok || !strings.Contains(why, "waiting") {
		t.Errorf("health %v %q, want degraded: records waiting", ok, why)
	}
	cancel()
	<-done
	start := time.Now()
	if _, err := d.Shutdown(true); err == nil || !d.Unsettled() {
		t.Errorf("shutdown with a hung durable sink: %v, unsettled %v", err, d.Unsettled())
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("shutdown took %s", el)
	}
	if tab.Len() != 49 {
		t.Errorf("%d flows left the table without their records stored", 49-tab.Len())
	}
}

// lateTable lands one more packet on every finished (FIN) flow right
// after each walk: between the walk the records come from and the
// removal at commit, as the data path can.
type lateTable struct {
	*flowtest.Table
	sent map[flow.Key]uint64
}

func (t *lateTable) Walk(fn func(flow.Key, flow.Counters)) error {
	var ended []flow.Key
	err := t.Table.Walk(func(k flow.Key, c flow.Counters) {
		fn(k, c)
		if c.EndSeen {
			ended = append(ended, k)
		}
	})
	for _, k := range ended {
		t.Packet(k, 100, time.Now(), 0)
		t.sent[k]++
	}
	return err
}

// stallOn writes every batch to the flow log, and then never returns
// for the n-th one (a daemon killed right after that write); with before,
// it stalls before writing the n-th one (killed before it was stored).
type stallOn struct {
	*jsonl.Sink
	n, calls int
	before   bool
	stall    chan struct{}
	reached  chan struct{} // closed when the n-th write starts (optional)
}

func (s *stallOn) WriteBatch(ctx context.Context, b pipeline.Batch) error {
	s.calls++
	if s.before && s.calls == s.n {
		s.halt()
		return errors.New("killed")
	}
	if err := s.Sink.WriteBatch(ctx, b); err != nil {
		return err
	}
	if s.calls == s.n {
		s.halt()
		return errors.New("killed")
	}
	return nil
}

func (s *stallOn) halt() {
	if s.reached != nil {
		close(s.reached)
	}
	<-s.stall
}

// TestKillAfterLatePacketsWritten: packets that land between the walk and
// the removal make a follow-up batch; a daemon killed after writing it
// but before committing it must not lose it at the next start (its flows
// are gone from the table: nothing could make the records again).
func TestKillAfterLatePacketsWritten(t *testing.T) { killWithLatePackets(t, false) }

// TestKillBeforeLatePacketsStored: the same, killed after the commit took
// the finished flows out of the table but before the follow-up batch with
// their last packets was stored. Those packets were then only in the
// killed daemon's memory (the soak's lost tails, docs/RELIABILITY.md); the
// table must keep them until the follow-up is stored, and the next start
// (which recovers the table first, as vxtap run does) record them.
func TestKillBeforeLatePacketsStored(t *testing.T) { killWithLatePackets(t, true) }

func killWithLatePackets(t *testing.T, before bool) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flows.json")
	tab := &lateTable{Table: flowtest.NewTable(), sent: map[flow.Key]uint64{}}
	led := newLedger()
	newDaemon := func(sink pipeline.RecordSink) *Daemon {
		return newLife(t, dir, Sources{Flows: tab, Events: tab, Ledger: led}, sink, func(cfg *Config) {
			cfg.ShutdownWait = 50 * time.Millisecond
		})
	}
	open := func() *jsonl.Sink { return openLog(t, path) }
	for i := 0; i < 5; i++ {
		tab.Packet(key(i), 100, time.Now(), 0x01) // FIN
		tab.sent[key(i)]++
	}
	stall := make(chan struct{})
	reached := make(chan struct{})
	d := newDaemon(&stallOn{Sink: open(), n: 2, before: before, stall: stall, reached: reached})
	time.Sleep(5 * time.Millisecond) // past EndGrace
	d.sweep(time.Now())
	// Take acknowledgements until the follow-up batch is being written
	// (the first one committed), however slow the machine.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if d.settle(time.Now().Add(20 * time.Millisecond)) {
			t.Fatal("the follow-up batch was committed")
		}
		select {
		case <-reached:
		default:
			if time.Now().After(deadline) {
				t.Fatal("the follow-up batch never reached the sink")
			}
			continue
		}
		break
	}
	if tab.Len() != 0 {
		t.Fatalf("%d flows still in the table after the commit", tab.Len())
	}
	d.Close()
	close(stall)
	tab.Recover(led) // vxtap run: RecoverSlots before the daemon starts
	d = newDaemon(open())
	d.cfg.ShutdownWait = 10 * time.Second // it has records to make and store now
	if _, err := d.Shutdown(true); err != nil {
		t.Fatal(err)
	}
	got := sumFile(t, path)
	for k, want := range tab.sent {
		if got[k] != want {
			t.Errorf("%v: the flow log carries %d packets, %d were sent", k, got[k], want)
		}
	}
	if led.len() != 0 || tab.Len() != 0 || tab.Detached() != 0 {
		t.Errorf("left %d ledger entries, %d flows, %d detached", led.len(), tab.Len(), tab.Detached())
	}
}

// TestKillBetweenReleaseAndForget: a daemon killed after a finished flow
// left the table for good but before its ledger entry was forgotten left
// an entry with no flow. When a new flow of the same key had at least the
// entry's packets by the next start, the entry was taken for it (the
// ledger holds no first-packet time) and the new flow's first packets were
// never recorded. The table now keeps the flow, marked as wholly recorded,
// until the entry is gone; the next start forgets such entries first.
func TestKillBetweenReleaseAndForget(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flows.json")
	tab := flowtest.NewTable()
	led := newLedger()
	newDaemon := func(active time.Duration) *Daemon {
		seq, err := pipeline.OpenSeq(dir)
		if err != nil {
			t.Fatal(err)
		}
		sink, err := jsonl.Open(jsonl.Config{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		cfg := fastConfig()
		cfg.Seq, cfg.ShutdownWait = seq, 10*time.Second
		if active > 0 {
			cfg.Aggregate.ActiveTimeout = active
		}
		d, err := New(cfg, Sources{Flows: tab, Events: tab, Ledger: led}, pipeline.Outputs{Records: []pipeline.RecordSink{sink}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	k, other := key(1), key(2)
	for range 3 {
		tab.Packet(k, 100, time.Now(), 0)
	}
	// A first batch records the flow while it runs (active timeout).
	d := newDaemon(time.Millisecond)
	time.Sleep(2 * time.Millisecond)
	d.sweep(time.Now())
	if !d.settle(time.Now().Add(10 * time.Second)) {
		t.Fatal("the first batch was not committed")
	}
	// The next batch (another flow's record) finds it finished with nothing
	// new: its commit removes it, and the daemon is killed right before the
	// ledger entry is forgotten. That batch has no record of the flow, so
	// the restart's reconcile does not look at it.
	time.Sleep(2 * fastConfig().Aggregate.IdleTimeout)
	tab.Packet(other, 100, time.Now(), 0)
	time.Sleep(2 * time.Millisecond) // past its active timeout: a record
	led.failForget = 1
	d.sweep(time.Now())
	if !d.settle(time.Now().Add(10 * time.Second)) {
		t.Fatal("the second batch was not committed")
	}
	if tab.Len() != 1 || led.len() != 2 {
		t.Fatalf("after the commit: %d flows in the table, %d ledger entries; want 1 and 2", tab.Len(), led.len())
	}
	d.Close()
	for range 5 { // a new flow of the same key, with more packets than the entry
		tab.Packet(k, 100, time.Now(), 0)
	}
	tab.Recover(led) // vxtap run: RecoverSlots before the daemon starts
	d = newDaemon(0)
	if _, err := d.Shutdown(true); err != nil {
		t.Fatal(err)
	}
	got := sumFile(t, path)
	if got[k] != 8 || got[other] != 1 {
		t.Errorf("the flow log carries %d packets of %v (8 sent), %d of %v (1 sent)", got[k], k, got[other], other)
	}
	if led.len() != 0 || tab.Len() != 0 || tab.Detached() != 0 {
		t.Errorf("left %d ledger entries, %d flows, %d detached", led.len(), tab.Len(), tab.Detached())
	}
}
