package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/export/clickhouse"
	"github.com/vxtap/vxtap/userspace/report"
	"github.com/vxtap/vxtap/userspace/topview"
)

// reportClickhouseFlags turn `vxtap report` into questions to the store.
func reportClickhouseFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "clickhouse", Usage: "answer from the fleet's ClickHouse store (clickhouse://host:9000) instead of a flow log"},
		&cli.StringFlag{Name: "since", Usage: "with --clickhouse: start of the window: RFC 3339 time, YYYY-MM-DD[ HH:MM:SS] (UTC), or a duration back from now (e.g. 24h)"},
		&cli.StringFlag{Name: "until", Usage: "with --clickhouse: end of the window, same forms (default: now)"},
		&cli.StringFlag{Name: "filter", Usage: "with --clickhouse: the top filter language, e.g. 'dst 10.0.1.10 dport 443'"},
		&cli.StringFlag{Name: "group", Value: string(topview.GroupFlow), Usage: "with --clickhouse: 5tuple, src, dst, pair, dport, vni, mirror or appliance"},
	}, clickhouseStoreFlags()...)
}

// runReportClickhouse answers a compliance or troubleshooting question
// ("who talked to 10.0.1.10 on 443 between these dates, and how much?")
// from every appliance's records.
func runReportClickhouse(c *cli.Context) error {
	if c.NArg() != 0 {
		return cli.Exit("vxtap report --clickhouse takes no FLOWLOG argument", 2)
	}
	now := time.Now()
	if c.String("since") == "" {
		return cli.Exit("flag --since: required with --clickhouse", 2)
	}
	since, err := parseWhen(c.String("since"), now)
	if err != nil {
		return fmt.Errorf("flag --since: %w", err)
	}
	until := now
	if c.String("until") != "" {
		if until, err = parseWhen(c.String("until"), now); err != nil {
			return fmt.Errorf("flag --until: %w", err)
		}
	}
	if !until.After(since) {
		return fmt.Errorf("flag --until: %s is not after --since %s", until.UTC().Format(time.RFC3339), since.UTC().Format(time.RFC3339))
	}
	format := c.String("format")
	if format != "table" && format != "csv" && format != "json" {
		return cli.Exit(fmt.Sprintf("flag --format: %q: with --clickhouse want table, csv or json", format), 2)
	}
	q := topview.Query{Sort: topview.SortBytes, N: c.Int("top")}
	if q.N < 0 {
		return fmt.Errorf("flag --top: %d is negative", q.N)
	}
	if g := strings.ToLower(strings.TrimSpace(c.String("group"))); g == "appliance" || g == "instance" {
		q.Group = topview.GroupAppliance
	} else if q.Group, err = topview.ParseGroup(g); err != nil {
		return fmt.Errorf("flag --group: %w", err)
	}
	if q.Filter, err = topview.ParseFilter(c.String("filter")); err != nil {
		return fmt.Errorf("flag --%w", err)
	}
	names, err := clickhouseNames(c)
	if err != nil {
		return err
	}
	conn, err := clickhouse.Open(c.String("clickhouse"))
	if err != nil {
		return cli.Exit("vxtap report: "+err.Error(), 1)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	flows, err := clickhouse.QueryFlows(ctx, conn, names, clickhouse.Window{Since: since, Until: until}, q.Filter)
	if err != nil {
		return cli.Exit("vxtap report: "+err.Error(), 1)
	}
	res, extra := fleetResult(flows, q, until.Sub(since), now)
	rows := reportRows(res, extra)
	switch format {
	case "json":
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(reportDoc{Since: since.UTC(), Until: until.UTC(), Group: string(q.Group), Filter: q.Filter.String(), Rows: rows})
	case "csv":
		return writeReportCSV(os.Stdout, rows)
	}
	return writeReportTable(os.Stdout, rows)
}

// parseWhen reads a point in time: RFC 3339, a UTC date or date and
// time, or a duration back from now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: a duration back from now must not be negative", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-01-02T15:04:05Z), YYYY-MM-DD[ HH:MM[:SS]] (UTC) or a duration (24h)", s)
}

// reportRow is one answer row; a key field is empty when the group's
// flows differ in it.
type reportRow struct {
	Appliances   []string   `json:"appliances"`
	VNI          *uint32    `json:"vni,omitempty"`
	MirrorSource netip.Addr `json:"mirror_source,omitzero"`
	Src          netip.Addr `json:"src,omitzero"`
	Dst          netip.Addr `json:"dst,omitzero"`
	Proto        *uint8     `json:"proto,omitempty"`
	SPort        *uint16    `json:"sport,omitempty"`
	DPort        *uint16    `json:"dport,omitempty"`
	Flows        int        `json:"flows"`
	Records      uint64     `json:"records"`
	Packets      uint64     `json:"packets"`
	Bytes        uint64     `json:"bytes"`
	First        time.Time  `json:"first"`
	Last         time.Time  `json:"last"`
}

type reportDoc struct {
	Since  time.Time   `json:"since"`
	Until  time.Time   `json:"until"`
	Group  string      `json:"group"`
	Filter string      `json:"filter,omitempty"`
	Rows   []reportRow `json:"rows"`
}

func reportRows(res *topview.Result, extra []rowExtra) []reportRow {
	rows := make([]reportRow, len(res.Rows))
	for i := range res.Rows {
		r := &res.Rows[i]
		rows[i] = reportRow{Appliances: r.Appliances, VNI: r.VNI, MirrorSource: r.MirrorSource, Src: r.Src, Dst: r.Dst,
			Proto: r.Proto, SPort: r.SPort, DPort: r.DPort, Flows: r.Flows, Records: extra[i].Records,
			Packets: r.Packets, Bytes: r.Bytes, First: extra[i].First.UTC(), Last: extra[i].Last.UTC()}
		if res.Group != topview.GroupMirror && res.Group != topview.GroupFlow {
			rows[i].MirrorSource = netip.Addr{}
		}
	}
	return rows
}

var reportHeader = []string{"APPLIANCES", "VNI", "MIRROR", "SOURCE", "DESTINATION", "PROTO", "SPORT", "DPORT", "FLOWS", "RECORDS", "PACKETS", "BYTES", "FIRST", "LAST"}

// cells are a row's fields as text; "*" where the group's flows differ.
func (r *reportRow) cells(raw bool) []string {
	proto := "*"
	if r.Proto != nil {
		proto = strconv.Itoa(int(*r.Proto))
		if !raw {
			proto = report.ProtoName(*r.Proto)
		}
	}
	bytes := strconv.FormatUint(r.Bytes, 10)
	if !raw {
		bytes = topview.ByteSize(r.Bytes)
	}
	return []string{strings.Join(r.Appliances, ","), optCell(r.VNI), addrCell(r.MirrorSource), addrCell(r.Src), addrCell(r.Dst), proto,
		optCell(r.SPort), optCell(r.DPort), strconv.Itoa(r.Flows), strconv.FormatUint(r.Records, 10),
		strconv.FormatUint(r.Packets, 10), bytes, r.First.Format(time.RFC3339), r.Last.Format(time.RFC3339)}
}

func optCell[T uint8 | uint16 | uint32](v *T) string {
	if v == nil {
		return "*"
	}
	return strconv.FormatUint(uint64(*v), 10)
}

func addrCell(a netip.Addr) string {
	if !a.IsValid() {
		return "*"
	}
	return a.String()
}

func writeReportCSV(w io.Writer, rows []reportRow) error {
	cw := csv.NewWriter(w)
	head := make([]string, len(reportHeader))
	for i, h := range reportHeader {
		head[i] = strings.ToLower(h)
	}
	cw.Write(head)
	for i := range rows {
		cw.Write(rows[i].cells(true))
	}
	cw.Flush()
	return cw.Error()
}

func writeReportTable(w io.Writer, rows []reportRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(reportHeader, "\t"))
	for i := range rows {
		fmt.Fprintln(tw, strings.Join(rows[i].cells(false), "\t"))
	}
	return tw.Flush()
}
