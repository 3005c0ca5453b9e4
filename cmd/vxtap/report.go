package main

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/report"
)

func init() { commands = append(commands, reportCommand()) }

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "sum a flow log (JSON lines from vxtap run or analyze --json) per flow: top talkers; with --clickhouse, the fleet's store over a time window",
		Description: "A line that is not a flow record is named (file:line) on stderr and skipped; the report of\n" +
			"every other record is printed, and the exit status is then 1. So is a flow whose sums pass\n" +
			"2^64-1 (named; its sum stops there instead of wrapping).",
		ArgsUsage: "FLOWLOG",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "format", Value: "table", Usage: "table (heaviest first) or tsv (the truth-file layout); with --clickhouse table, csv or json"},
			&cli.IntFlag{Name: "top", Usage: "only the N heaviest flows (table), 0 = all"},
		}, reportClickhouseFlags()...),
		Action: func(c *cli.Context) error {
			if c.String("clickhouse") != "" {
				return runReportClickhouse(c)
			}
			if c.NArg() != 1 {
				return cli.Exit("usage: vxtap report [flags] FLOWLOG", 2)
			}
			path := c.Args().First()
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			format := c.String("format")
			if format != "tsv" && format != "table" {
				return cli.Exit(fmt.Sprintf("flag --format: %q is not table or tsv", format), 2)
			}
			// Bad lines are named and skipped: the report of every good
			// record is printed, then the exit status is 1.
			recs, readErr := report.ReadRecords(f, path)
			var bad *report.BadLines
			if readErr != nil && !errors.As(readErr, &bad) {
				return readErr
			}
			// Bad lines are skipped: the report covers the rest, then
			// names them and exits non-zero.
			totals := report.Sum(recs)
			overflow := report.Overflows(totals)
			switch format {
			case "tsv":
				err = report.WriteTSV(os.Stdout, totals)
			case "table":
				sort.SliceStable(totals, func(i, j int) bool { return totals[i].Bytes > totals[j].Bytes })
				if n := c.Int("top"); n > 0 && n < len(totals) {
					totals = totals[:n]
				}
				err = report.WriteTable(os.Stdout, totals)
			}
			if err != nil {
				return err
			}
			if readErr != nil || overflow != nil {
				return cli.Exit(errors.Join(readErr, overflow).Error(), 1)
			}
			return nil
		},
	}
}
