package clickhouse_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/export/clickhouse"
	"github.com/vxtap/vxtap/userspace/export/clickhouse/chtest"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/pipeline"
	"github.com/vxtap/vxtap/userspace/topview"
)

// TestQueryFlowsFilterMatchesTop: every filter term evaluated by
// ClickHouse keeps exactly the flows the one-appliance view's Match
// keeps (IPv4 and IPv6, prefixes, ports only for TCP/UDP, protocols),
// and the window counts a record by its last packet.
func TestQueryFlowsFilterMatchesTop(t *testing.T) {
	srv := chtest.Start(t)
	s := newSink(t, srv, t.TempDir(), nil)
	now := time.Now().UTC().Truncate(time.Second)
	addrs := []string{"198.18.0.1", "198.18.1.200", "198.19.7.7", "2001:db8::1", "2001:db8:1::5", "2001:db8:ffff::9"}
	var recs []flow.Record
	for i, src := range addrs {
		for j, dst := range addrs {
			if i == j || netip.MustParseAddr(src).Is4() != netip.MustParseAddr(dst).Is4() {
				continue
			}
			for _, proto := range []uint8{6, 17, 1, 58} {
				r := flow.Record{VNI: uint32(100 + i%2), MirrorSource: netip.MustParseAddr(addrs[j%2]), Src: netip.MustParseAddr(src),
					Dst: netip.MustParseAddr(dst), Proto: proto, Packets: uint64(1 + i + j), Bytes: 100, First: now.Add(-time.Second), Last: now}
				if proto == 6 || proto == 17 {
					r.SPort, r.DPort = uint16(1000+i), uint16(443+j%2)
				}
				recs = append(recs, r)
			}
		}
	}
	if err := s.WriteBatch(context.Background(), pipeline.Batch{Instance: "app-a", Seq: 1, Time: now, Records: recs}); err != nil {
		t.Fatal(err)
	}
	drained(t, s, 30*time.Second)
	s.Close()
	conn, err := clickhouse.Open(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := clickhouse.Window{Since: now.Add(-time.Minute), Until: now.Add(time.Minute)}
	for _, expr := range []string{"", "vni 101", "198.18.0.0/23", "src 198.19.7.7", "dst 2001:db8::/47", "mirror 198.18.0.1",
		"port 443", "sport 1002", "dport 444 udp", "icmp", "proto 58", "tcp 2001:db8:ffff::9", "dst 2001:db8::/32 port 443",
		"src ::ffff:0:0/96", "net 198.18.1.200/32 tcp"} {
		f, err := topview.ParseFilter(expr)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for i := range recs {
			k := recs[i].Key()
			if f.Match(&k, recs[i].MirrorSource) {
				want++
			}
		}
		// The SQL alone (without QueryFlows' final Match) must keep no fewer.
		flows, err := clickhouse.QueryFlows(context.Background(), conn, clickhouse.DefaultNames(), w, f)
		if err != nil {
			t.Fatalf("filter %q: %v", expr, err)
		}
		if len(flows) != want {
			t.Errorf("filter %q: %d flows from ClickHouse, Match keeps %d (SQL: %s)", expr, len(flows), want, clickhouse.FilterSQL(f))
		}
		// The SQL is exact but for an IPv6 prefix over the IPv4-mapped
		// range, where it keeps more and Match decides.
		if n := countSQL(t, srv, clickhouse.FilterSQL(f)); n < want || (n != want && expr != "src ::ffff:0:0/96") {
			t.Errorf("filter %q: the SQL keeps %d rows, Match %d", expr, n, want)
		}
	}
	// The window: records whose last packet is outside it do not count.
	if flows, err := clickhouse.QueryFlows(context.Background(), conn, clickhouse.DefaultNames(),
		clickhouse.Window{Since: now.Add(time.Second), Until: now.Add(time.Hour)}, topview.Filter{}); err != nil || len(flows) != 0 {
		t.Errorf("a window after the records' last packet: %d flows, %v", len(flows), err)
	}
}

func countSQL(t *testing.T, srv *chtest.Server, cond string) int {
	t.Helper()
	q := "SELECT count() FROM vxtap.flows"
	if cond != "" {
		q += " WHERE " + cond
	}
	var n int
	if _, err := fmt.Sscan(srv.MustQuery(q), &n); err != nil {
		t.Fatal(err)
	}
	return n
}
