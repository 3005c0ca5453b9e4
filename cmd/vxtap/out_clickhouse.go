package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog/log"
	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/export/clickhouse"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// clickhouseHooks is what the ClickHouse output lends the daemon: its
// Prometheus collector (nil while the output is off).
var clickhouseHooks struct{ collector prometheus.Collector }

// withClickhouse adds the ClickHouse sink's collector to the metrics.
func withClickhouse(cs ...prometheus.Collector) []prometheus.Collector {
	if clickhouseHooks.collector != nil {
		cs = append(cs, clickhouseHooks.collector)
	}
	return cs
}

// clickhouseStoreFlags name the store: shared by vxtap run, top, report
// and db init.
func clickhouseStoreFlags() []cli.Flag {
	d := clickhouse.DefaultNames()
	return []cli.Flag{
		&cli.StringFlag{Name: "clickhouse-database", Value: d.Database, Usage: "ClickHouse database of the flow store"},
		&cli.StringFlag{Name: "clickhouse-table", Value: d.Flows, Usage: "ClickHouse table of flow records"},
	}
}

func clickhouseNames(c *cli.Context) (clickhouse.Names, error) {
	n := clickhouse.DefaultNames()
	n.Database, n.Flows = c.String("clickhouse-database"), c.String("clickhouse-table")
	if err := n.Check(); err != nil {
		return n, fmt.Errorf("flag --clickhouse-database/--clickhouse-table: %w", err)
	}
	return n, nil
}

func init() {
	registerOutput(output{
		name: "clickhouse",
		flags: append([]cli.Flag{
			&cli.StringFlag{Name: "clickhouse", Usage: "store flow records in ClickHouse, clickhouse://host:9000 (native protocol); batches wait in an on-disk spool while it is away"},
			&cli.IntFlag{Name: "clickhouse-batch-rows", Value: clickhouse.DefaultBatchRows, Usage: "flow records per INSERT at most"},
			&cli.DurationFlag{Name: "clickhouse-flush-interval", Value: clickhouse.DefaultFlushInterval, Usage: "longest a spooled batch waits for others to share its INSERT"},
			&cli.StringFlag{Name: "clickhouse-spool-size", Value: "256M", Usage: "bound of the on-disk spool (e.g. 256M, 2G); when full the pipeline holds batches"},
			&cli.IntFlag{Name: "clickhouse-retention", Usage: "drop day partitions older than this many days, 0 = keep everything"},
		}, clickhouseStoreFlags()...),
		build: buildClickhouse,
	})
}

func buildClickhouse(c *cli.Context, env outputEnv) (pipeline.Outputs, error) {
	url := c.String("clickhouse")
	if url == "" {
		for _, f := range []string{"clickhouse-batch-rows", "clickhouse-flush-interval", "clickhouse-spool-size", "clickhouse-retention"} {
			if c.IsSet(f) {
				return pipeline.Outputs{}, fmt.Errorf("flag --%s: needs --clickhouse", f)
			}
		}
		return pipeline.Outputs{}, nil
	}
	names, err := clickhouseNames(c)
	if err != nil {
		return pipeline.Outputs{}, err
	}
	size, err := parseSize(c.String("clickhouse-spool-size"))
	if err != nil || size <= 0 {
		return pipeline.Outputs{}, fmt.Errorf("flag --clickhouse-spool-size: %q: want a size above 0 (e.g. 256M)", c.String("clickhouse-spool-size"))
	}
	if n := c.Int("clickhouse-batch-rows"); n < 1 || n > 1_000_000 {
		return pipeline.Outputs{}, fmt.Errorf("flag --clickhouse-batch-rows: %d: want 1 to 1000000", n)
	}
	if d := c.Duration("clickhouse-flush-interval"); d <= 0 || d > time.Hour {
		return pipeline.Outputs{}, fmt.Errorf("flag --clickhouse-flush-interval: %s: want above 0 and at most 1h", d)
	}
	if r := c.Int("clickhouse-retention"); r < 0 {
		return pipeline.Outputs{}, fmt.Errorf("flag --clickhouse-retention: %d days: want 0 (keep all) or more", r)
	}
	s, err := clickhouse.New(clickhouse.Config{
		URL: url, Names: names, SpoolDir: filepath.Join(env.StateDir, "clickhouse-spool"), SpoolBytes: size,
		BatchRows: c.Int("clickhouse-batch-rows"), FlushInterval: c.Duration("clickhouse-flush-interval"),
		RetentionDays: c.Int("clickhouse-retention"),
		// Only batches the daemon committed leave the machine: one it
		// did not is cut at the next start, which only works while local.
		Committed: func() uint64 {
			n, err := pipeline.ReadCommitted(env.StateDir)
			if err != nil {
				log.Warn().Err(err).Msg("clickhouse: read the committed batch")
			}
			return n
		},
		Logf: func(f string, a ...any) { log.Warn().Msgf(f, a...) },
	})
	if err != nil {
		return pipeline.Outputs{}, fmt.Errorf("flag --clickhouse: %w", err)
	}
	clickhouseHooks.collector = s.Collector()
	return pipeline.Outputs{Records: []pipeline.RecordSink{s}}, nil
}

func init() { commands = append(commands, dbCommand()) }

// dbCommand is `vxtap db init`: create or upgrade the store's schema
// ahead of the appliances (they also do it on first use).
func dbCommand() *cli.Command {
	return &cli.Command{
		Name:  "db",
		Usage: "the ClickHouse flow store",
		Subcommands: []*cli.Command{{
			Name:  "init",
			Usage: "create or upgrade the schema (database, flows and findings tables, schema version)",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "clickhouse", Required: true, Usage: "clickhouse://host:9000"},
			}, clickhouseStoreFlags()...),
			Action: func(c *cli.Context) error {
				names, err := clickhouseNames(c)
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				before, err := clickhouse.Init(ctx, c.String("clickhouse"), names)
				if err != nil {
					return err
				}
				if before == clickhouse.SchemaVersion {
					fmt.Printf("schema of %s is current (version %d)\n", names.Database, before)
				} else {
					fmt.Printf("schema of %s upgraded from version %d to %d\n", names.Database, before, clickhouse.SchemaVersion)
				}
				return nil
			},
		}},
	}
}
