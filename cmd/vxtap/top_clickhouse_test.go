package main

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/export/clickhouse"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/topview"
)

// TestFleetResult: the fleet view groups as the one-appliance view does,
// a one-way flow seen by two appliances is one flow, the pair grouping
// joins both directions seen by different appliances, rates are the
// window's averages, and the appliance grouping sums per appliance.
func TestFleetResult(t *testing.T) {
	a, b := netip.MustParseAddr("198.19.1.1"), netip.MustParseAddr("198.19.1.2")
	c := netip.MustParseAddr("2001:db8::1")
	at := time.Unix(1_700_000_000, 0)
	ff := func(inst string, src, dst netip.Addr, sport, dport uint16, pkts uint64) clickhouse.FleetFlow {
		return clickhouse.FleetFlow{Instance: inst, Key: flow.Key{VNI: 101, Src: src, Dst: dst, Proto: 6, SPort: sport, DPort: dport},
			Packets: pkts, Bytes: 100 * pkts, First: at, Last: at.Add(time.Second), Records: 1}
	}
	flows := []clickhouse.FleetFlow{
		ff("app1", a, b, 40000, 443, 10), // the request direction on app1
		ff("app2", b, a, 443, 40000, 30), // the answer on app2
		ff("app2", a, b, 40000, 443, 5),  // the NLB moved the request flow: the same flow
		ff("app1", a, c, 40001, 80, 1),
	}
	q := topview.Query{Sort: topview.SortBytes, Group: topview.GroupPair}
	res, extra := fleetResult(flows, q, 10*time.Second, at)
	if len(res.Rows) != 2 {
		t.Fatalf("pair rows: %+v", res.Rows)
	}
	r := res.Rows[0]
	if r.Src != a || r.Dst != b || r.Bytes != 4500 || r.Flows != 2 || !reflect.DeepEqual(r.Appliances, []string{"app1", "app2"}) {
		t.Errorf("the conversation: %+v", r)
	}
	if r.BitsPerSecond != 8*4500/10.0 || extra[0].Records != 3 {
		t.Errorf("rate %v b/s (want the window's average), %d records", r.BitsPerSecond, extra[0].Records)
	}

	q.Group = topview.GroupFlow
	res, _ = fleetResult(flows, q, 10*time.Second, at)
	if len(res.Rows) != 3 || res.Rows[0].Packets != 30 || res.Rows[1].Packets != 15 ||
		!reflect.DeepEqual(res.Rows[1].Appliances, []string{"app1", "app2"}) {
		t.Errorf("5-tuple rows: %+v", res.Rows)
	}

	q.Group, q.Filter = topview.GroupAppliance, mustFilter(t, "port 443")
	res, _ = fleetResult(flows, q, 10*time.Second, at)
	if len(res.Rows) != 2 || res.Rows[0].Appliances[0] != "app2" || res.Rows[0].Bytes != 3500 || res.Rows[1].Bytes != 1000 ||
		res.Header.Matched != 3 || res.Header.Flows != 4 {
		t.Errorf("per appliance: %+v %+v", res.Header, res.Rows)
	}
}

func mustFilter(t *testing.T, s string) topview.Filter {
	t.Helper()
	f, err := topview.ParseFilter(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
