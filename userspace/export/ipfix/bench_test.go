package ipfix

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// discardConn is a UDP socket that drops what it is given.
type discardConn struct{ datagramConn }

func (c *discardConn) Write(b []byte) (int, error) { return io.Discard.Write(b) }

// BenchmarkWriteBatch: encoding and sending a sweep of 10,000 records
// (both families, every layout) at the default MTU; reports records/s.
func BenchmarkWriteBatch(b *testing.B) {
	conn := &discardConn{datagramConn{remote: &net.UDPAddr{IP: net.IPv4(198, 18, 0, 1)}}}
	e, err := New(Config{Network: "udp", Addr: "198.18.0.1:4739", TemplateRefresh: time.Hour,
		Dial: func(context.Context, string, string) (net.Conn, error) { return conn, nil }})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	rs := testRecords(10_000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.WriteBatch(ctx, batch(uint64(i), rs)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rs))/b.Elapsed().Seconds(), "records/s")
}
