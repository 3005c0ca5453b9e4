package clickhouse_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/export/clickhouse"
	"github.com/vxtap/vxtap/userspace/export/clickhouse/chtest"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// batch makes a batch of n records of flow i -> 198.19.0.1:443, each
// with packets p and bytes 100*p.
func batch(inst string, seq uint64, at time.Time, n int, p uint64) pipeline.Batch {
	b := pipeline.Batch{Instance: inst, Seq: seq, Time: at}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, flow.Record{VNI: 7, MirrorSource: netip.MustParseAddr("198.18.9.1"), Direction: flow.DirEgress,
			Src: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), Dst: netip.MustParseAddr("198.19.0.1"), Proto: 6,
			SPort: uint16(1024 + i), DPort: 443, Packets: p, Bytes: 100 * p, First: at.Add(-time.Second), Last: at, EndReason: flow.EndActive})
	}
	return b
}

func newSink(t *testing.T, srv *chtest.Server, dir string, mod func(*clickhouse.Config)) *clickhouse.Sink {
	t.Helper()
	cfg := clickhouse.Config{URL: srv.URL(), SpoolDir: dir, FlushInterval: 50 * time.Millisecond,
		RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond, Logf: t.Logf}
	if mod != nil {
		mod(&cfg)
	}
	s, err := clickhouse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// drained waits until the spool is empty.
func drained(t *testing.T, s *clickhouse.Sink, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if st := s.Stats(); st.SpoolBatches == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("spool not drained within %s: %+v", within, s.Stats())
}

func sums(t *testing.T, srv *chtest.Server) string {
	t.Helper()
	return strings.TrimSpace(srv.MustQuery("SELECT count(), sum(packets), sum(bytes), uniqExact(instance, seq, chunk) FROM vxtap.flows"))
}

func TestSchemaOnServer(t *testing.T) {
	srv := chtest.Start(t)
	before, err := clickhouse.Init(context.Background(), srv.URL(), clickhouse.DefaultNames())
	if err != nil || before != 0 {
		t.Fatalf("first init: version before %d, %v", before, err)
	}
	before, err = clickhouse.Init(context.Background(), srv.URL(), clickhouse.DefaultNames())
	if err != nil || before != clickhouse.SchemaVersion {
		t.Fatalf("second init: version before %d, %v", before, err)
	}
	got := srv.MustQuery("SELECT name, type FROM system.columns WHERE database = 'vxtap' AND table = 'flows' AND name IN ('src', 'ts', 'day', 'direction') ORDER BY name")
	want := "day\tDate\ndirection\tEnum8(\\'unknown\\' = 0, \\'ingress\\' = 1, \\'egress\\' = 2)\nsrc\tFixedString(16)\nts\tDateTime\n"
	if got != want {
		t.Fatalf("columns:\n%s\nwant:\n%s", got, want)
	}
	// The keys as created (system.tables has partition_key on current
	// releases only; 18.16 shows them in engine_full).
	if k := srv.MustQuery("SELECT engine_full FROM system.tables WHERE database = 'vxtap' AND name = 'flows'"); !strings.Contains(k, "PARTITION BY day ORDER BY (ts, src, dst, dport, sport, instance)") {
		t.Fatalf("engine: %q", k)
	}
	if v := strings.TrimSpace(srv.MustQuery("SELECT count() FROM system.tables WHERE database = 'vxtap' AND name = 'findings'")); v != "1" {
		t.Fatalf("findings table: %s", v)
	}
	if _, err := clickhouse.Init(context.Background(), srv.URL(), clickhouse.Names{Database: "x;drop", Flows: "f", Findings: "g"}); err == nil {
		t.Fatal("a database name needing quotes was accepted")
	}
}

func TestSinkStoresOnceThroughResends(t *testing.T) {
	srv := chtest.Start(t)
	dir := t.TempDir()
	now := time.Now().UTC()
	s := newSink(t, srv, dir, func(c *clickhouse.Config) { c.BatchRows = 40 })
	for seq := uint64(1); seq <= 5; seq++ {
		if err := s.WriteBatch(context.Background(), batch("app-a", seq, now, 100, seq)); err != nil {
			t.Fatal(err)
		}
	}
	drained(t, s, 30*time.Second)
	// 5 batches of 100 records, chunks of 40: 3 chunks each.
	want := fmt.Sprintf("500\t%d\t%d\t15", 100*(1+2+3+4+5), 100*100*(1+2+3+4+5))
	if got := sums(t, srv); got != want {
		t.Fatalf("stored %s, want %s", got, want)
	}
	// The pipeline hands batches 4 and 5 again (a restart before its
	// ledger advanced): nothing is stored twice.
	for seq := uint64(4); seq <= 5; seq++ {
		if err := s.WriteBatch(context.Background(), batch("app-a", seq, now, 100, seq)); err != nil {
			t.Fatal(err)
		}
	}
	drained(t, s, 30*time.Second)
	if got := sums(t, srv); got != want {
		t.Fatalf("after resend stored %s, want %s", got, want)
	}
	if st := s.Stats(); st.DuplicateChunks != 6 {
		t.Fatalf("duplicate chunks %d, want 6: %+v", st.DuplicateChunks, st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The same batch identity from another appliance is another batch.
	s2 := newSink(t, srv, t.TempDir(), nil)
	defer s2.Close()
	if err := s2.WriteBatch(context.Background(), batch("app-b", 4, now, 10, 1)); err != nil {
		t.Fatal(err)
	}
	drained(t, s2, 30*time.Second)
	if got := strings.TrimSpace(srv.MustQuery("SELECT instance, count() FROM vxtap.flows GROUP BY instance ORDER BY instance")); got != "app-a\t500\napp-b\t10" {
		t.Fatalf("per instance: %q", got)
	}
}

func TestSinkSpoolsWhileServerDownAndAcrossRestart(t *testing.T) {
	srv := chtest.Start(t)
	dir := t.TempDir()
	now := time.Now().UTC()
	s := newSink(t, srv, dir, nil)
	if err := s.WriteBatch(context.Background(), batch("app-a", 1, now, 10, 1)); err != nil {
		t.Fatal(err)
	}
	drained(t, s, 30*time.Second)
	srv.Stop()
	for seq := uint64(2); seq <= 4; seq++ {
		if err := s.WriteBatch(context.Background(), batch("app-a", seq, now, 10, 1)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	st := s.Stats()
	if st.SpoolBatches != 3 || st.SpoolBytes == 0 || st.Failures == 0 || st.LastError == "" {
		t.Fatalf("with the server down: %+v", st)
	}
	// The daemon stops while ClickHouse is down: the spool stays on disk.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.chb")); len(files) != 3 {
		t.Fatalf("spool files after close: %v", files)
	}
	srv.Restart()
	s = newSink(t, srv, dir, nil)
	defer s.Close()
	drained(t, s, 30*time.Second)
	if got := sums(t, srv); got != "40\t40\t4000\t4" {
		t.Fatalf("stored %s", got)
	}
	// Restarted under a running sink: it retries and ships.
	srv.Stop()
	if err := s.WriteBatch(context.Background(), batch("app-a", 5, now, 10, 1)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	drained(t, s, 30*time.Second)
	if got := sums(t, srv); got != "50\t50\t5000\t5" {
		t.Fatalf("stored %s", got)
	}
}

func TestSinkSpoolFullRefusesAndKeepsNothingHalf(t *testing.T) {
	srv := chtest.Start(t)
	srv.Stop()
	dir := t.TempDir()
	now := time.Now().UTC()
	s := newSink(t, srv, dir, func(c *clickhouse.Config) { c.SpoolBytes = 8 << 10 })
	accepted := 0
	var err error
	for seq := uint64(1); seq <= 50; seq++ {
		if err = s.WriteBatch(context.Background(), batch("app-a", seq, now, 10, 1)); err != nil {
			break
		}
		accepted++
	}
	if !errors.Is(err, clickhouse.ErrSpoolFull) || accepted == 0 || accepted == 50 {
		t.Fatalf("accepted %d, then %v", accepted, err)
	}
	if st := s.Stats(); st.SpoolFull != 1 || st.SpoolBytes > 8<<10 {
		t.Fatalf("%+v", st)
	}
	srv.Restart()
	drained(t, s, 30*time.Second)
	// Room again: the refused batch is taken now.
	if err := s.WriteBatch(context.Background(), batch("app-a", uint64(accepted+1), now, 10, 1)); err != nil {
		t.Fatal(err)
	}
	drained(t, s, 30*time.Second)
	s.Close()
	if got, want := sums(t, srv), fmt.Sprintf("%d\t%d\t%d\t%d", 10*(accepted+1), 10*(accepted+1), 1000*(accepted+1), accepted+1); got != want {
		t.Fatalf("stored %s, want %s", got, want)
	}
}

func TestSinkBatchesAroundMidnightAndRetention(t *testing.T) {
	srv := chtest.Start(t)
	s := newSink(t, srv, t.TempDir(), func(c *clickhouse.Config) { c.FlushInterval = time.Second })
	midnight := time.Now().UTC().Truncate(24 * time.Hour)
	old := midnight.AddDate(0, 0, -10)
	for i, at := range []time.Time{old.Add(time.Hour), midnight.Add(-time.Second), midnight.Add(time.Second), midnight.Add(2 * time.Second)} {
		// The second's records began before midnight and ended after.
		b := batch("app-a", uint64(i+1), at, 5, 1)
		if err := s.WriteBatch(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	drained(t, s, 30*time.Second)
	s.Close()
	if got := sums(t, srv); got != "20\t20\t2000\t4" {
		t.Fatalf("stored %s", got)
	}
	parts := srv.MustQuery("SELECT partition_id, sum(rows) FROM system.parts WHERE database = 'vxtap' AND table = 'flows' AND active GROUP BY partition_id ORDER BY partition_id")
	want := fmt.Sprintf("%s\t5\n%s\t5\n%s\t10\n", old.Format("20060102"), midnight.AddDate(0, 0, -1).Format("20060102"), midnight.Format("20060102"))
	if parts != want {
		t.Fatalf("partitions:\n%swant:\n%s", parts, want)
	}
	conn, err := clickhouse.Open(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A sink with --clickhouse-retention 3 drops the 10-day-old partition
	// when it starts (and hourly after).
	r := newSink(t, srv, t.TempDir(), func(c *clickhouse.Config) { c.RetentionDays = 3 })
	deadline := time.Now().Add(30 * time.Second)
	for r.Stats().PartitionsDrop == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	r.Close()
	if st := r.Stats(); st.PartitionsDrop != 1 {
		t.Fatalf("retention dropped %d partitions: %+v", st.PartitionsDrop, st)
	}
	if got := sums(t, srv); got != "15\t15\t1500\t3" {
		t.Fatalf("after retention %s", got)
	}
	if n, err := clickhouse.DropOldPartitions(context.Background(), conn, clickhouse.DefaultNames(), 3, time.Now()); err != nil || n != 0 {
		t.Fatalf("second run dropped %d, %v", n, err)
	}
}

func TestSpoolSetsAsideUnreadableFiles(t *testing.T) {
	srv := chtest.Start(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000001-000000.chb"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "00000000000000000002-000000.chb.tmp"), []byte("half"), 0o644)
	s := newSink(t, srv, dir, nil)
	defer s.Close()
	if err := s.WriteBatch(context.Background(), batch("app-a", 3, time.Now(), 2, 1)); err != nil {
		t.Fatal(err)
	}
	drained(t, s, 30*time.Second)
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000001-000000.chb.bad")); err != nil {
		t.Fatal("unreadable spool file not set aside:", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000002-000000.chb.tmp")); !os.IsNotExist(err) {
		t.Fatal("temporary file of a cut write left behind")
	}
	if got := sums(t, srv); got != "2\t2\t200\t1" {
		t.Fatalf("stored %s", got)
	}
}

// TestSinkShipsOnlyCommittedAndRecovers: batches above the daemon's
// committed one stay local; after a kill, Tail returns the committed
// batch's records (from the spool or the copy of the last shipped batch)
// and the later ones, and DropAfter cuts the records the data path makes
// again, keeping the others for shipping.
func TestSinkShipsOnlyCommittedAndRecovers(t *testing.T) {
	srv := chtest.Start(t)
	dir := t.TempDir()
	var committed atomic.Uint64
	committed.Store(2)
	now := time.Now().UTC()
	s := newSink(t, srv, dir, func(c *clickhouse.Config) { c.Committed = committed.Load })
	for seq := uint64(1); seq <= 3; seq++ {
		if err := s.WriteBatch(context.Background(), batch("app-a", seq, now, 3, seq)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.Stats().SpoolBatches != 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a few more shipper rounds: batch 3 must stay
	if got := sums(t, srv); got != "6\t9\t900\t2" {
		t.Fatalf("stored %s: only batches 1 and 2 are committed", got)
	}
	s.Close()
	// The daemon was killed before committing batch 3: it starts again.
	s = newSink(t, srv, dir, func(c *clickhouse.Config) { c.Committed = committed.Load })
	defer s.Close()
	last, after, err := s.Tail("app-a", 2)
	if err != nil || len(last) != 3 || last[0].Packets != 2 || len(after) != 3 || after[0].Packets != 3 {
		t.Fatalf("tail: %d last (%v), %d after, %v; want batch 2's 3 and batch 3's 3", len(last), last, len(after), err)
	}
	// The data path makes two of batch 3's records again; the third's flow is gone.
	if err := s.DropAfter("app-a", 2, func(r flow.Record) bool { return r.SPort != 1024 }); err != nil {
		t.Fatal(err)
	}
	if _, after, _ := s.Tail("app-a", 2); len(after) != 1 || after[0].SPort != 1024 {
		t.Fatalf("after DropAfter: %v", after)
	}
	committed.Store(4)
	if err := s.WriteBatch(context.Background(), batch("app-a", 4, now, 3, 4)); err != nil {
		t.Fatal(err)
	}
	drained(t, s, 30*time.Second)
	if got := sums(t, srv); got != "10\t24\t2400\t4" {
		t.Fatalf("stored %s: batches 1, 2, what is left of 3, and 4", got)
	}
	// Batch 5 still in the spool when the daemon restarts: Tail finds it there.
	committed.Store(5)
	if err := s.WriteBatch(context.Background(), batch("app-a", 5, now, 2, 5)); err != nil {
		t.Fatal(err)
	}
	drained(t, s, 30*time.Second)
	if last, after, err := s.Tail("app-a", 5); err != nil || len(last) != 2 || last[0].Packets != 5 || len(after) != 0 {
		t.Fatalf("tail of the last shipped batch: %d last, %d after, %v", len(last), len(after), err)
	}
}
