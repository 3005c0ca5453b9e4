package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// retentionEvery is how often the sink drops partitions past retention.
const retentionEvery = time.Hour

// retain drops old day partitions at start and then every hour. Several
// appliances doing it at once is harmless: dropping a partition that is
// already gone is not an error on the ones that come second.
func (s *Sink) retain() {
	defer s.done.Done()
	for {
		ctx, cancel := context.WithTimeout(s.ctx, insertTimeout)
		n, err := DropOldPartitions(ctx, s.db(), s.cfg.Names, s.cfg.RetentionDays, time.Now())
		cancel()
		s.dropped.Add(uint64(n))
		if err != nil {
			s.fail(fmt.Errorf("retention: %w", err))
		}
		t := time.NewTimer(retentionEvery)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// DropOldPartitions drops the day partitions of the flows and findings
// tables that lie wholly before now minus days (UTC days), and returns
// how many it dropped. The schema uses no TTL (18.16 has none on
// MergeTree columns of this shape); whole partitions go at once, cheaply.
func DropOldPartitions(ctx context.Context, conn driver.Conn, n Names, days int, now time.Time) (int, error) {
	if days <= 0 {
		return 0, nil
	}
	cutoff := now.UTC().AddDate(0, 0, -days).Format("20060102")
	dropped := 0
	for _, table := range []string{n.Flows, n.Findings} {
		// partition_id of a Date partition key is YYYYMMDD on 18.16 and
		// on current releases alike.
		rows, err := conn.Query(ctx, fmt.Sprintf("SELECT DISTINCT partition_id FROM system.parts WHERE database = %s AND table = %s AND active AND partition_id < '%s'",
			quote(n.Database), quote(table), cutoff))
		if err != nil {
			return dropped, err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return dropped, err
			}
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			if len(id) != 8 {
				continue // not a day partition: not ours to drop
			}
			if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION ID '%s'", n.Database, table, id)); err != nil {
				return dropped, fmt.Errorf("drop partition %s of %s.%s: %w", id, n.Database, table, err)
			}
			dropped++
		}
	}
	return dropped, nil
}
