package clickhouse

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// SchemaVersion is the schema this build writes. Each migration below
// brings a database one version up; vxtap_schema records the versions
// applied, so `vxtap db init` and a sink's first use upgrade an older
// database and leave a current one alone.
const SchemaVersion = 1

// Names are the database and table names of one store.
type Names struct {
	Database string // "vxtap" by default
	Flows    string // flow records, "flows" by default
	Findings string // detector findings, "findings" by default
}

// DefaultNames are the names used when no flag says otherwise.
func DefaultNames() Names { return Names{Database: "vxtap", Flows: "flows", Findings: "findings"} }

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Check refuses names that would need quoting: they go into DDL as they are.
func (n Names) Check() error {
	for _, p := range [][2]string{{"database", n.Database}, {"flows table", n.Flows}, {"findings table", n.Findings}} {
		if !identRE.MatchString(p[1]) {
			return fmt.Errorf("clickhouse %s %q: want letters, digits and _ (not starting with a digit), at most 63", p[0], p[1])
		}
	}
	return nil
}

// FlowsTable is "db.flows".
func (n Names) FlowsTable() string { return n.Database + "." + n.Flows }

// FindingsTable is "db.findings".
func (n Names) FindingsTable() string { return n.Database + "." + n.Findings }

// migrations[i] brings the schema from version i to i+1. Only types and
// clauses both ClickHouse 18.16 (Debian's) and current releases accept:
// addresses as FixedString(16) (IPv4 mapped into IPv6, no IPv6 type),
// plain String (LowCardinality is experimental on 18.16), no TTL
// (retention drops whole day partitions), no DateTime64 (sub-second
// parts of first/last in their own UInt16 columns).
//
// flows: one row per flow record. day is the day of ts, the time of the
// sweep that exported the record: one batch lies in one partition, so
// its INSERT writes one part, all or nothing, which the sink's
// deduplication on (instance, seq, chunk) relies on. ORDER BY starts
// with ts (every query has a time window; the dedupe check looks one ts
// up) then the addresses and ports the common questions filter on.
var migrations = []func(n Names) []string{
	func(n Names) []string {
		return []string{
			"CREATE DATABASE IF NOT EXISTS " + n.Database,
			"CREATE TABLE IF NOT EXISTS " + n.FlowsTable() + ` (
	day Date,
	ts DateTime,
	instance String,
	seq UInt64,
	chunk UInt32,
	vni UInt32,
	mirror_source FixedString(16),
	direction Enum8('unknown' = 0, 'ingress' = 1, 'egress' = 2),
	src FixedString(16),
	dst FixedString(16),
	proto UInt8,
	sport UInt16,
	dport UInt16,
	packets UInt64,
	bytes UInt64,
	first DateTime,
	first_ms UInt16,
	last DateTime,
	last_ms UInt16,
	tcp_flags UInt8,
	end_reason String,
	session String,
	eni String,
	rule UInt32,
	truncated UInt8
) ENGINE = MergeTree PARTITION BY day ORDER BY (ts, src, dst, dport, sport, instance)`,
			"CREATE TABLE IF NOT EXISTS " + n.FindingsTable() + ` (
	day Date,
	ts DateTime,
	instance String,
	kind String,
	severity String,
	vni UInt32,
	src FixedString(16),
	dst FixedString(16),
	proto UInt8,
	sport UInt16,
	dport UInt16,
	detail String
) ENGINE = MergeTree PARTITION BY day ORDER BY (ts, kind, src, dst)`,
		}
	},
}

// FlowColumns is the INSERT column list. The list is always spelled out:
// clickhouse-go v2 learns the columns of `INSERT INTO t` from the
// server's answer, which 18.16 sends empty ("expected 0 arguments").
const FlowColumns = "day, ts, instance, seq, chunk, vni, mirror_source, direction, src, dst, proto, sport, dport, " +
	"packets, bytes, first, first_ms, last, last_ms, tcp_flags, end_reason, session, eni, rule, truncated"

// EnsureSchema creates or upgrades the schema and returns the version it
// found before. Safe to run from every appliance at once: each statement
// is idempotent, and a version recorded twice reads the same.
func EnsureSchema(ctx context.Context, conn driver.Conn, n Names) (before int, err error) {
	if err := n.Check(); err != nil {
		return 0, err
	}
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+n.Database); err != nil {
		return 0, fmt.Errorf("clickhouse: create database %s: %w", n.Database, err)
	}
	vt := n.Database + ".vxtap_schema"
	if err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+vt+" (version UInt32, applied DateTime) ENGINE = TinyLog"); err != nil {
		return 0, fmt.Errorf("clickhouse: create %s: %w", vt, err)
	}
	var v uint32
	if err := conn.QueryRow(ctx, "SELECT max(version) FROM "+vt).Scan(&v); err != nil {
		return 0, fmt.Errorf("clickhouse: read schema version from %s: %w", vt, err)
	}
	before = int(v)
	if before > SchemaVersion {
		return before, fmt.Errorf("clickhouse: database %s has schema version %d, newer than this vxtap's %d: upgrade vxtap", n.Database, before, SchemaVersion)
	}
	for i := before; i < SchemaVersion; i++ {
		for _, stmt := range migrations[i](n) {
			if err := conn.Exec(ctx, stmt); err != nil {
				return before, fmt.Errorf("clickhouse: schema version %d: %s: %w", i+1, firstLine(stmt), err)
			}
		}
		if err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s (version, applied) SELECT %d, now()", vt, i+1)); err != nil {
			return before, fmt.Errorf("clickhouse: record schema version %d: %w", i+1, err)
		}
	}
	return before, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
