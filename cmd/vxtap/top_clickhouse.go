package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/export/clickhouse"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/rates"
	"github.com/vxtap/vxtap/userspace/topview"
)

// topClickhouseFlags turn `vxtap top` into the fleet view.
func topClickhouseFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "clickhouse", Usage: "the fleet view: top talkers of every appliance from ClickHouse (clickhouse://host:9000); --group appliance sums per appliance"},
		&cli.DurationFlag{Name: "since", Value: 60 * time.Second, Usage: "with --clickhouse: the window, this long back from now; rates are its averages"},
	}, clickhouseStoreFlags()...)
}

// runTopClickhouse is `vxtap top --clickhouse`: the same keys, sort,
// grouping and filter as a daemon's view, over the records the whole
// fleet stored in the last --since.
func runTopClickhouse(c *cli.Context) error {
	q, err := fleetQuery(c)
	if err != nil {
		return err
	}
	since := c.Duration("since")
	if since < time.Second {
		return fmt.Errorf("flag --since: %s: want 1s or more", since)
	}
	names, err := clickhouseNames(c)
	if err != nil {
		return err
	}
	conn, err := clickhouse.Open(c.String("clickhouse"))
	if err != nil {
		return cli.Exit("vxtap top: "+err.Error(), 1)
	}
	src := &fleetTopSource{conn: conn, names: names, since: since}
	defer src.Close()
	interval := max(c.Duration("interval"), time.Second)
	if c.Bool("once") || c.Bool("json") || !isTerminal(os.Stdout) {
		if !c.IsSet("n") {
			q.N = 20
		}
		return topOnce(src, q, c.Bool("json"), interval)
	}
	if _, err := tea.NewProgram(newTopModel(src, q, c.IsSet("n"), interval), tea.WithAltScreen()).Run(); err != nil {
		return fmt.Errorf("vxtap top: %w", err)
	}
	return nil
}

// fleetQuery is topQuery with the appliance grouping allowed.
func fleetQuery(c *cli.Context) (topview.Query, error) {
	g := strings.ToLower(strings.TrimSpace(c.String("group")))
	if g == "appliance" || g == "instance" {
		c.Set("group", string(topview.GroupFlow))
		q, err := topQuery(c)
		q.Group = topview.GroupAppliance
		return q, err
	}
	return topQuery(c)
}

// fleetTopSource answers the top view from ClickHouse.
type fleetTopSource struct {
	conn  driver.Conn
	names clickhouse.Names
	since time.Duration
}

func (s *fleetTopSource) Close() error { return s.conn.Close() }

func (s *fleetTopSource) Top(ctx context.Context, q topview.Query) (*topview.Result, error) {
	now := time.Now()
	flows, err := clickhouse.QueryFlows(ctx, s.conn, s.names, clickhouse.Window{Since: now.Add(-s.since), Until: now}, q.Filter)
	if err != nil {
		return nil, err
	}
	res, _ := fleetResult(flows, q, s.since, now)
	res.Iface, res.Source = "fleet", "clickhouse"
	res.Note = fmt.Sprintf("fleet view: %d appliances, records of the last %s; rates are averages over it", len(instancesOf(flows)), s.since)
	return res, nil
}

// rowExtra is what a fleet row knows beyond topview's Row.
type rowExtra struct {
	First, Last time.Time
	Records     uint64
}

// fleetResult groups and ranks the fleet's flows as the one-appliance
// view does (topview.Build over a snapshot whose rates are the window's
// averages), and says which appliances saw each row. A one-way flow seen
// by two appliances (the NLB moved it) is one flow. The pair grouping
// joins both directions of a conversation whichever appliances saw them.
func fleetResult(flows []clickhouse.FleetFlow, q topview.Query, window time.Duration, now time.Time) (*topview.Result, []rowExtra) {
	secs := window.Seconds()
	if q.Group == topview.GroupAppliance {
		return applianceResult(flows, q, secs, now)
	}
	var merged []rates.Flow
	index := map[flow.Key]int{}
	for _, f := range flows {
		i, ok := index[f.Key]
		if !ok {
			i = len(merged)
			index[f.Key] = i
			merged = append(merged, rates.Flow{Key: f.Key, MirrorSource: f.MirrorSource, Direction: f.Direction})
		}
		merged[i].Packets += f.Packets
		merged[i].Bytes += f.Bytes
	}
	for i := range merged {
		rf := &merged[i]
		rf.PPS, rf.BPS = float64(rf.Packets)/secs, float64(rf.Bytes)/secs
		rf.AvgPPS, rf.AvgBPS = rf.PPS, rf.BPS
	}
	snap := rates.NewSnapshot(now, window, 2, merged)
	res := topview.Build(snap, q)
	rowOf := map[string]int{}
	for i := range res.Rows {
		rowOf[rowID(q.Group, &res.Rows[i])] = i
	}
	extra := make([]rowExtra, len(res.Rows))
	apps := make([]map[string]bool, len(res.Rows))
	for _, f := range flows {
		i, ok := rowOf[flowID(q.Group, &f)]
		if !ok {
			continue // filtered out, or past the first N
		}
		if apps[i] == nil {
			apps[i] = map[string]bool{}
		}
		apps[i][f.Instance] = true
		e := &extra[i]
		if e.First.IsZero() || f.First.Before(e.First) {
			e.First = f.First
		}
		if f.Last.After(e.Last) {
			e.Last = f.Last
		}
		e.Records += f.Records
	}
	for i := range res.Rows {
		res.Rows[i].Appliances = sortedKeys(apps[i])
	}
	return &res, extra
}

// applianceResult sums per appliance.
func applianceResult(flows []clickhouse.FleetFlow, q topview.Query, secs float64, now time.Time) (*topview.Result, []rowExtra) {
	res := &topview.Result{At: now, Sort: q.Sort, Group: q.Group, Filter: q.Filter.String(), N: q.N, Rows: []topview.Row{}}
	res.Header.IntervalSeconds = secs
	byApp := map[string]int{}
	var extra []rowExtra
	for _, f := range flows {
		h := &res.Header
		h.Flows++
		h.Packets += f.Packets
		h.Bytes += f.Bytes
		if !q.Filter.Match(&f.Key, f.MirrorSource) {
			continue
		}
		h.Matched++
		i, ok := byApp[f.Instance]
		if !ok {
			i = len(res.Rows)
			byApp[f.Instance] = i
			res.Rows = append(res.Rows, topview.Row{Direction: "*", Appliances: []string{f.Instance}})
			extra = append(extra, rowExtra{First: f.First})
		}
		r, e := &res.Rows[i], &extra[i]
		r.Flows++
		r.Packets += f.Packets
		r.Bytes += f.Bytes
		if f.First.Before(e.First) {
			e.First = f.First
		}
		if f.Last.After(e.Last) {
			e.Last = f.Last
		}
		e.Records += f.Records
	}
	h := &res.Header
	for i := range res.Rows {
		r := &res.Rows[i]
		r.PacketsPerSecond, r.BitsPerSecond = float64(r.Packets)/secs, 8*float64(r.Bytes)/secs
		r.AvgPacketsPerSecond, r.AvgBitsPerSecond = r.PacketsPerSecond, r.BitsPerSecond
		h.MatchedPacketsPerSecond += r.PacketsPerSecond
		h.MatchedBitsPerSecond += r.BitsPerSecond
	}
	h.PacketsPerSecond, h.BitsPerSecond = float64(h.Packets)/secs, 8*float64(h.Bytes)/secs
	h.AvgPacketsPerSecond, h.AvgBitsPerSecond = h.PacketsPerSecond, h.BitsPerSecond
	h.Groups = len(res.Rows)
	order := make([]int, len(res.Rows))
	for i := range order {
		order[i] = i
	}
	measure := func(r *topview.Row) float64 {
		switch q.Sort {
		case topview.SortBytes:
			return float64(r.Bytes)
		case topview.SortPackets:
			return r.PacketsPerSecond
		}
		return r.BitsPerSecond
	}
	sort.SliceStable(order, func(a, b int) bool {
		ra, rb := &res.Rows[order[a]], &res.Rows[order[b]]
		if ma, mb := measure(ra), measure(rb); ma != mb {
			return ma > mb
		}
		return ra.Appliances[0] < rb.Appliances[0]
	})
	rows, ex := make([]topview.Row, 0, len(order)), make([]rowExtra, 0, len(order))
	for _, i := range order {
		rows, ex = append(rows, res.Rows[i]), append(ex, extra[i])
	}
	if q.N > 0 && len(rows) > q.N {
		rows, ex = rows[:q.N], ex[:q.N]
	}
	res.Rows = rows
	return res, ex
}

// flowID and rowID name a flow's group and a row's group alike, so the
// appliances of a row are the appliances of the flows with its name.
func flowID(g topview.Group, f *clickhouse.FleetFlow) string {
	k := &f.Key
	switch g {
	case topview.GroupSrc:
		return k.Src.String()
	case topview.GroupDst:
		return k.Dst.String()
	case topview.GroupPair:
		a, b := k.Src, k.Dst
		if b.Less(a) {
			a, b = b, a
		}
		return a.String() + " " + b.String()
	case topview.GroupDPort:
		return fmt.Sprintf("%d/%d", k.Proto, k.DPort)
	case topview.GroupVNI:
		return fmt.Sprint(k.VNI)
	case topview.GroupMirror:
		return f.MirrorSource.String()
	}
	return k.String()
}

func rowID(g topview.Group, r *topview.Row) string {
	switch g {
	case topview.GroupSrc:
		return r.Src.String()
	case topview.GroupDst:
		return r.Dst.String()
	case topview.GroupPair:
		return r.Src.String() + " " + r.Dst.String()
	case topview.GroupDPort:
		return fmt.Sprintf("%d/%d", deref(r.Proto), deref(r.DPort))
	case topview.GroupVNI:
		return fmt.Sprint(deref(r.VNI))
	case topview.GroupMirror:
		return r.MirrorSource.String()
	}
	return flow.Key{VNI: deref(r.VNI), Src: r.Src, Dst: r.Dst, Proto: deref(r.Proto), SPort: deref(r.SPort), DPort: deref(r.DPort)}.String()
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func instancesOf(flows []clickhouse.FleetFlow) map[string]bool {
	m := map[string]bool{}
	for _, f := range flows {
		m[f.Instance] = true
	}
	return m
}
