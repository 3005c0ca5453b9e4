package clickhouse

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/topview"
)

// FleetFlow is one one-way flow as one appliance saw it within a time
// window: its records summed.
type FleetFlow struct {
	Instance     string
	Key          flow.Key
	MirrorSource netip.Addr
	Direction    flow.Direction
	Packets      uint64
	Bytes        uint64
	First, Last  time.Time
	Records      uint64
}

// Window is a time range: a record counts when the last packet it
// accounts for falls in it (Since <= last <= Until), as a record holds
// the packets up to its last since the flow's previous record.
type Window struct{ Since, Until time.Time }

// QueryFlows sums the records of each (appliance, flow) in the window
// that pass the filter. ClickHouse evaluates the filter (see FilterSQL)
// and sums; what is left is one row per flow and appliance, which the
// caller groups and ranks with the same code as the one-appliance view.
//
// ts (the sweep time) is at or after a record's last packet, so
// ts >= Since prunes old partitions and granules without losing a row.
func QueryFlows(ctx context.Context, conn driver.Conn, n Names, w Window, f topview.Filter) ([]FleetFlow, error) {
	if err := n.Check(); err != nil {
		return nil, err
	}
	where := []string{
		// day is the UTC day of ts (the sink writes it): compare with the
		// UTC day here, not toDate() in the server's time zone.
		fmt.Sprintf("day >= toDate('%s')", w.Since.UTC().Format("2006-01-02")),
		fmt.Sprintf("ts >= toDateTime(%d)", w.Since.Unix()),
		fmt.Sprintf("last >= toDateTime(%d)", w.Since.Unix()),
		fmt.Sprintf("last <= toDateTime(%d)", w.Until.Unix()),
	}
	if s := FilterSQL(f); s != "" {
		where = append(where, s)
	}
	q := "SELECT instance, vni, mirror_source, toUInt8(direction), src, dst, proto, sport, dport, " +
		"sum(packets), sum(bytes), min(first), max(last), count() FROM " + n.FlowsTable() +
		" WHERE " + strings.Join(where, " AND ") +
		" GROUP BY instance, vni, mirror_source, direction, src, dst, proto, sport, dport"
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	defer rows.Close()
	var out []FleetFlow
	for rows.Next() {
		var ff FleetFlow
		var mirror, src, dst string
		var dir uint8
		if err := rows.Scan(&ff.Instance, &ff.Key.VNI, &mirror, &dir, &src, &dst, &ff.Key.Proto, &ff.Key.SPort, &ff.Key.DPort,
			&ff.Packets, &ff.Bytes, &ff.First, &ff.Last, &ff.Records); err != nil {
			return nil, fmt.Errorf("clickhouse: %w", err)
		}
		ff.MirrorSource, ff.Key.Src, ff.Key.Dst, ff.Direction = Addr(mirror), Addr(src), Addr(dst), flow.Direction(dir)
		// The SQL filter narrows; Match, the one-appliance view's own
		// test, decides (an IPv6 prefix never holds IPv4 addresses there).
		if f.Match(&ff.Key, ff.MirrorSource) {
			out = append(out, ff)
		}
	}
	return out, rows.Err()
}

// FilterSQL turns a top filter into a WHERE condition on the flows
// table ("" for the empty filter). Addresses are FixedString(16) with
// IPv4 mapped, so a prefix is a byte range; IPv4 prefixes are mapped the
// same way.
func FilterSQL(f topview.Filter) string {
	var conds []string
	for _, t := range f.Terms() {
		switch t.Field {
		case "vni":
			conds = append(conds, fmt.Sprintf("vni = %d", t.Num))
		case "addr":
			conds = append(conds, "("+prefixSQL("src", t.Prefix)+" OR "+prefixSQL("dst", t.Prefix)+")")
		case "src", "dst":
			conds = append(conds, prefixSQL(t.Field, t.Prefix))
		case "mirror":
			conds = append(conds, prefixSQL("mirror_source", t.Prefix))
		case "port":
			conds = append(conds, fmt.Sprintf("(proto IN (6, 17) AND (sport = %d OR dport = %d))", t.Num, t.Num))
		case "sport", "dport":
			conds = append(conds, fmt.Sprintf("(proto IN (6, 17) AND %s = %d)", t.Field, t.Num))
		case "proto":
			ps := make([]string, len(t.Protos))
			for i, p := range t.Protos {
				ps[i] = fmt.Sprint(p)
			}
			conds = append(conds, "proto IN ("+strings.Join(ps, ", ")+")")
		}
	}
	return strings.Join(conds, " AND ")
}

// prefixSQL is col within p, as a range of 16-byte strings.
func prefixSQL(col string, p netip.Prefix) string {
	bits := p.Bits()
	a := p.Addr()
	if a.Is4() {
		bits += 96
	}
	lo := a.As16()
	hi := lo
	for i := bits; i < 128; i++ {
		lo[i/8] &^= 1 << (7 - i%8)
		hi[i/8] |= 1 << (7 - i%8)
	}
	return fmt.Sprintf("(%s >= toFixedString(unhex('%s'), 16) AND %s <= toFixedString(unhex('%s'), 16))",
		col, strings.ToUpper(hex.EncodeToString(lo[:])), col, strings.ToUpper(hex.EncodeToString(hi[:])))
}
