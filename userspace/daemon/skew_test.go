package daemon

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/export/jsonl"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// skewedTable converts times as the loader does: each walk takes its own
// clock base (wall minus monotonic, read anew), so the same kernel
// timestamp comes out a little different from one walk to the next, and
// from one daemon to the next. Here every walk's base is step later than
// the previous one, and jump is a step of the wall clock (NTP) on top.
type skewedTable struct {
	*flowtest.Table
	step time.Duration
	mu   sync.Mutex
	n    int
	jump time.Duration
}

// next is the base of a new walk or removal.
func (t *skewedTable) next() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	return time.Duration(t.n)*t.step + t.jump
}

// ClockBase implements flow.ClockBaser: the base a walk would take now.
func (t *skewedTable) ClockBase() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return int64(time.Duration(t.n+1)*t.step + t.jump)
}

func (t *skewedTable) stepClock(d time.Duration) {
	t.mu.Lock()
	t.jump += d
	t.mu.Unlock()
}

func (t *skewedTable) Walk(fn func(flow.Key, flow.Counters)) error {
	skew := t.next()
	return t.Table.Walk(func(k flow.Key, c flow.Counters) {
		c.First, c.Last = c.First.Add(skew), c.Last.Add(skew)
		fn(k, c)
	})
}

func (t *skewedTable) Remove(keys []flow.Key) (map[flow.Key]flow.Counters, error) {
	return t.skewed(t.Table.Remove(keys))
}

func (t *skewedTable) Detach(keys []flow.Key) (map[flow.Key]flow.Counters, error) {
	return t.skewed(t.Table.Detach(keys))
}

func (t *skewedTable) skewed(out map[flow.Key]flow.Counters, err error) (map[flow.Key]flow.Counters, error) {
	skew := t.next()
	for k, c := range out {
		c.First, c.Last = c.First.Add(skew), c.Last.Add(skew)
		out[k] = c
	}
	return out, err
}

// TestKillWithClockSkew reproduces the soak's doubled flows: a flow whose
// packets all share one timestamp (first == last) has a record in the
// last batch a daemon committed (or stored without committing); the
// daemon is killed; the next one reads the table with a clock base a
// microsecond later, so the flow's first packet seems to come after the
// record's last one. Reconcile must still know it as the same flow: keep
// its ledger totals (and cut its uncommitted records), so every packet is
// counted exactly once.
//
// The -stepped cases also step the wall clock by a second between the kill
// and the restart (a clock base that much later): the restart must read
// the table's times with the base the committed batch was made with (kept
// with the committed number), or every flow of that batch counts twice.
func TestKillWithClockSkew(t *testing.T) {
	for _, tc := range []string{"committed", "committed-ledger-failed", "stored-not-committed",
		"committed-stepped", "committed-ledger-failed-stepped", "stored-not-committed-stepped"} {
		t.Run(tc, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "flows.json")
			tab := &skewedTable{Table: flowtest.NewTable(), step: time.Microsecond}
			led := newLedger()
			const n = 10
			sent := map[flow.Key]uint64{}
			at := time.Now()
			send := func() {
				for i := 0; i < n; i++ {
					tab.Packet(key(i), 100, at, 0) // one timestamp for every packet
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
			send()
			d := newDaemon(open())
			time.Sleep(2 * time.Millisecond)
			switch strings.TrimSuffix(tc, "-stepped") {
			case "committed":
				d.sweep(time.Now())
				if !d.settle(time.Now().Add(time.Second)) {
					t.Fatal("batch not committed")
				}
			case "committed-ledger-failed":
				led.failSave = 1
				d.sweep(time.Now())
				d.settle(time.Now().Add(time.Second))
			case "stored-not-committed":
				// A first batch committed, then one stored but not committed.
				d.sweep(time.Now())
				if !d.settle(time.Now().Add(time.Second)) {
					t.Fatal("batch not committed")
				}
				d.Close()
				send()
				stall := make(chan struct{})
				defer close(stall)
				d = newDaemon(stallAfterWrite{open(), stall})
				time.Sleep(2 * time.Millisecond)
				d.sweep(time.Now())
				if d.settle(time.Now().Add(100 * time.Millisecond)) {
					t.Fatal("the stalled batch was committed")
				}
			}
			d.Close() // killed: no shutdown records
			if strings.HasSuffix(tc, "-stepped") {
				tab.stepClock(time.Second)
			}
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
		})
	}
}

// TestIsSameFlow: a flow that began within the clocks' slack of a
// record's last packet, with at least its totals, is the record's flow; a
// flow with fewer packets than the record's totals, or begun later, is a
// newer one with the same key.
func TestIsSameFlow(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	r := flow.Record{First: t0, Last: t0, Packets: 5, TotalPackets: 5}
	for _, tc := range []struct {
		name string
		c    flow.Counters
		same bool
	}{
		{"same stamps", flow.Counters{First: t0, Last: t0, Packets: 5}, true},
		{"read a microsecond later", flow.Counters{First: t0.Add(time.Microsecond), Packets: 7}, true},
		{"read a microsecond earlier", flow.Counters{First: t0.Add(-time.Microsecond), Packets: 5}, true},
		{"fewer packets than the record's totals", flow.Counters{First: t0, Packets: 4}, false},
		{"begun after the slack", flow.Counters{First: t0.Add(clockSlack + time.Nanosecond), Packets: 9}, false},
	} {
		if got := isSameFlow(tc.c, r); got != tc.same {
			t.Errorf("%s: same flow %v, want %v", tc.name, got, tc.same)
		}
	}
}
