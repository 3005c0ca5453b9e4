package clickhouse_test

import (
	"context"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/export/clickhouse"
)

// BenchmarkWriteBatch10k: what the pipeline waits for per sweep: a batch
// of 10,000 records encoded and fsynced into the spool (nothing shipped:
// no batch is committed).
func BenchmarkWriteBatch10k(b *testing.B) {
	s, err := clickhouse.New(clickhouse.Config{URL: "clickhouse://127.0.0.1:9", SpoolDir: b.TempDir(), SpoolBytes: 1 << 40,
		Committed: func() uint64 { return 0 }})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	bt := batch("bench", 1, time.Now(), 10000, 3)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bt.Seq = uint64(i + 1)
		if err := s.WriteBatch(context.Background(), bt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/record")
}
