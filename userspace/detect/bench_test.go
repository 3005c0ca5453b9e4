package detect

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/vxtap/vxtap/userspace/flow"
)

// BenchmarkDetectMemory feeds 1,000,000 distinct remote sources, each a
// SYN flow start and a short SSH connection record towards the instance
// (so each lands in the scan and brute-force tables; 2001:db8::/32
// addresses), and reports the
// heap the engine holds afterwards: in total, and per source it tracks.
// "bounded" is the default table size (65,536 sources: the rest replace
// idle ones); "unbounded" keeps all 1M, which gives the true per-source
// cost.
func BenchmarkDetectMemory(b *testing.B) {
	zerolog.SetGlobalLevel(zerolog.WarnLevel)
	defer zerolog.SetGlobalLevel(zerolog.InfoLevel)
	for _, tc := range []struct {
		name  string
		limit int
	}{{"bounded", Default().MaxSources}, {"unbounded", 1 << 20}} {
		b.Run(tc.name, func(b *testing.B) {
			const sources = 1_000_000
			for range b.N {
				cfg := Default()
				cfg.MaxSources = tc.limit
				before := heap()
				e, _ := newTestEngine(b, cfg)
				evs := make([]flow.Event, 0, 1024)
				rs := make([]flow.Record, 0, 1024)
				for i := 0; i < sources; i++ {
					// 1M distinct sources in 2001:db8::/32.
					src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
					at := t0.Add(time.Duration(i) * time.Microsecond)
					evs = append(evs, start(at, src, inst, 6, 40000, 22, tcpSYN))
					rs = append(rs, record(at, time.Second, src, inst, 6, 40000, 22, 5, 400, tcpSYN|tcpACK|tcpFIN, flow.EndTCP))
					if len(evs) == cap(evs) {
						e.WriteEvents(evs)
						e.WriteRecords(rs)
						evs, rs = evs[:0], rs[:0]
					}
				}
				e.WriteEvents(evs)
				e.WriteRecords(rs)
				after := heap()
				tracked := e.scans.len()
				total := float64(after - before)
				b.ReportMetric(total, "heap-bytes")
				b.ReportMetric(total/float64(tracked), "B/tracked-source")
				b.ReportMetric(float64(tracked), "tracked-sources")
				runtime.KeepAlive(e)
			}
		})
	}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkEngineFlowStarts: ns per flow-start event through every
// detector (threat list of 10,000 entries included), batches of 256 from
// 4,096 sources, as the pipeline hands them over.
func BenchmarkEngineFlowStarts(b *testing.B) {
	zerolog.SetGlobalLevel(zerolog.WarnLevel)
	defer zerolog.SetGlobalLevel(zerolog.InfoLevel)
	dir := b.TempDir()
	var list []byte
	for i := 0; i < 10000; i++ {
		list = fmt.Appendf(list, "2001:db8:ee::%x\n", i)
	}
	path := dir + "/threats.txt"
	if err := os.WriteFile(path, list, 0o644); err != nil {
		b.Fatal(err)
	}
	cfg := Default()
	cfg.ThreatLists = []string{path}
	e, _ := newTestEngine(b, cfg)
	batch := make([]flow.Event, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		for j := range batch {
			n := i + j
			src := netip.AddrFrom4([4]byte{198, 19, byte(n >> 8 & 0x0f), byte(n)})
			batch[j] = start(t0.Add(time.Duration(n)*time.Microsecond), src, inst, 6, uint16(n), 443, tcpSYN)
		}
		e.WriteEvents(batch)
	}
}
